"""Wrong answers to 04's LeNet-5 (features, classifier)."""
import torch.nn.functional as F
from torch import nn

CHECK = "check_lenet"


class LeNet(nn.Module):
    def __init__(self, num_classes=10, pad=2, flat=400, act=nn.ReLU, pool=nn.MaxPool2d, final=None, k=None):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding=pad), act(), pool(2),
                                      nn.Conv2d(6, 16, 5), act(), pool(2))
        last = [final()] if final else []
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 120), act(), nn.Linear(120, 84), act(),
                                        nn.Linear(84, k or num_classes), *last)

    def forward(self, x):
        return self.classifier(self.features(x))


def variant(**kw):
    class Variant(LeNet):
        def __init__(self, num_classes=10):
            super().__init__(num_classes, **kw)
    return Variant


class ZeroInit(LeNet):
    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)


class FlattenAll(LeNet):                      # x.flatten() loses the batch axis
    def forward(self, x):
        return self.classifier[1:](self.features(x).flatten())


class Squeeze(LeNet):                         # .squeeze() loses a batch of one
    def forward(self, x):
        return self.classifier(self.features(x)).squeeze()


class SamePadding(LeNet):                     # padding="same" is right: this one forgets the second stage's pool
    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier[1] = nn.Linear(16 * 7 * 7, 120)


class FunctionalSoftmax(LeNet):
    def forward(self, x):
        return F.softmax(self.classifier(self.features(x)), dim=-1)


WRONG = [("pads 0", (variant(pad=0, flat=256),)),
         ("400", (variant(flat=16 * 7 * 7),)),
         ("num_classes is ignored", (variant(k=10),)),
         ("at zero", (ZeroInit,)),
         ("tanh", (variant(act=nn.Tanh),)),
         ("average pooling", (variant(pool=nn.AvgPool2d),)),
         ("ReLU after the last Linear", (variant(final=nn.ReLU),)),
         ("keeping the batch axis", (FlattenAll,)),
         ("never squeeze", (Squeeze,)),
         ("pads", (SamePadding,)),
         ("softmax at the end", (FunctionalSoftmax,)),
         ("expected an nn.Module", (lambda num_classes=10: "LeNet",))]
