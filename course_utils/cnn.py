"""Convolutional baselines (notebook 04_cnn_baselines).

LeNet-5 (LeCun et al. 1998) keeps its classic shape: conv 5x5 (6) -> pool -> conv 5x5 (16) -> pool
-> 120 -> 84 -> K, with ReLU and max-pooling in place of the original tanh and trainable subsampling
(the modern reading every framework tutorial uses). On 28x28 digits the first conv pads by 2, so
the feature map before flattening is 16 x 5 x 5 = 400, as in the paper's 32x32 input.
SmallCNN is the modern small CNN: 3x3 convs, BatchNorm, three stages, global average pooling.
Both follow the course contract: images (B, C, H, W) -> logits (B, K).
"""
from torch import nn

from .patches import check_images


class LeNet5(nn.Module):
    """LeNet-5: (B, C, 28, 28) -> (B, K); ~61K parameters on MNIST."""

    def __init__(self, *, in_channels=1, num_classes=10, image_size=28):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        pad = 2 if image_size == 28 else 0   # 28 + 2*2 = 32: the size LeNet-5 was designed for
        side = ((image_size + 2 * pad - 4) // 2 - 4) // 2   # conv5 -> pool2 -> conv5 -> pool2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for LeNet-5 (needs at least 28).")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=pad), nn.ReLU(),  # (B, 6, 28, 28)
            nn.MaxPool2d(2),                                                    # (B, 6, 14, 14)
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),                         # (B, 16, 10, 10)
            nn.MaxPool2d(2),                                                    # (B, 16, 5, 5)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),                                                       # (B, 16*5*5 = 400)
            nn.Linear(16 * side * side, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),                                         # (B, K)
        )

    def forward(self, x):
        check_images(x, self.in_channels, (self.image_size, self.image_size))
        return self.classifier(self.features(x))


def conv_bn(c_in, c_out):
    """3x3 conv (no bias: BatchNorm has one) -> BatchNorm -> ReLU; keeps H, W."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SmallCNN(nn.Module):
    """A modern small CNN: 3 stages of two 3x3 conv-BN-ReLU and a max-pool, then global average pool.

    (B, C, H, W) -> (B, K); widths 32-64-128 give ~288K parameters. Works for any H, W >= 8.
    """

    def __init__(self, *, in_channels=1, num_classes=10, width=32, image_size=None):
        super().__init__()
        self.in_channels = in_channels
        w = width
        self.features = nn.Sequential(
            conv_bn(in_channels, w), conv_bn(w, w), nn.MaxPool2d(2),              # (B, w, H/2, W/2)
            conv_bn(w, 2 * w), conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),            # (B, 2w, H/4, W/4)
            conv_bn(2 * w, 4 * w), conv_bn(4 * w, 4 * w),                         # (B, 4w, H/4, W/4)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)                                       # (B, 4w, 1, 1)
        self.head = nn.Linear(4 * w, num_classes)                                 # (B, K)

    def forward(self, x):
        check_images(x, self.in_channels, None)
        return self.head(self.pool(self.features(x)).flatten(1))
