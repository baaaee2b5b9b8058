"""One contract for every model: `model(images (B, C, H, W)) -> logits (B, K)`.

`build_model(name, ...)` builds any of them by name, so comparing models is a loop over names.
"""
from dataclasses import fields, replace

from torch import nn

from .cnn import LeNet5, SmallCNN
from .patches import check_images
from .vit import VisionTransformer, ViTConfig

MODEL_NAMES = ("vit", "lenet", "cnn", "mlp")


class PixelMLP(nn.Module):
    """The no-prior baseline: pixels flattened, two hidden ReLU layers. (B, C, H, W) -> (B, K).

    It knows nothing of images: shuffle the pixels of every image the same way and it learns just as well.
    """

    def __init__(self, *, image_size=28, in_channels=1, num_classes=10, hidden=256):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        self.net = nn.Sequential(
            nn.Flatten(),                                                   # (B, C*H*W)
            nn.Linear(in_channels * image_size * image_size, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes),                                 # (B, K)
        )

    def forward(self, x):
        check_images(x, self.in_channels, (self.image_size, self.image_size))
        return self.net(x)


def build_model(name, *, image_size=28, in_channels=1, num_classes=10, **kwargs):
    """Build "vit", "lenet", "cnn" or "mlp" for images of the given size; extra kwargs go to that model.

    For "vit", kwargs are ViTConfig fields (patch_size, embed_dim, depth, num_heads, ...), or cfg=ViTConfig(...).
    """
    name = name.lower()
    common = dict(image_size=image_size, in_channels=in_channels, num_classes=num_classes)
    if name == "vit":
        cfg = kwargs.pop("cfg", None) or ViTConfig()
        known = {f.name for f in fields(ViTConfig)}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"Unknown ViT option(s) {sorted(unknown)}; ViTConfig has {sorted(known)}.")
        return VisionTransformer(replace(cfg, **common, **kwargs))
    if name == "lenet":
        return LeNet5(**common, **kwargs)
    if name == "cnn":
        return SmallCNN(**common, **kwargs)
    if name == "mlp":
        return PixelMLP(**common, **kwargs)
    raise ValueError(f"Unknown model {name!r}. Choose one of {', '.join(MODEL_NAMES)}.")


def count_parameters(model):
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
