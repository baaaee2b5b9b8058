"""Other ways to turn an image into tokens, each giving the ViT some of a CNN's locality (notebook 08).

The plain ViT cuts the image into P x P patches and projects each with one Linear (`PatchEmbedding`):
pixels in neighbouring patches never meet before the first attention layer. Two fixes for small data sets:

- `ConvStem`: a few 3x3 convolutions before the patch projection (Xiao et al. 2021, "Early Convolutions
  Help Transformers See Better"). The tokens now carry local features that overlap patch borders.
- `ShiftedPatchTokenizer` (SPT, Lee et al. 2021, "Vision Transformer for Small-Size Datasets"): the image
  and four copies shifted diagonally by half a patch are stacked as channels, then cut into patches, so
  each token also sees the pixels just across its borders.

Both give the same N = (H/P) * (W/P) tokens of width D as `PatchEmbedding`, so the position embedding,
the class token and the blocks stay as they are. The other half of Lee et al.'s recipe, locality
self-attention, is `attention.LocalitySelfAttention`. `make_tokenizer(cfg)` picks one by `cfg.tokenizer`.
Left out: the paper's learned scaling of SPT's patch merging, and overlapping-patch (strided) stems.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .patches import PatchEmbedding, _check_divisible, check_images, img_to_patch

TOKENIZERS = ("patch", "conv_stem", "spt")


class ConvStem(nn.Module):
    """Two 3x3 conv-BN-ReLU layers (stride 1), then the P x P patch projection: (B, C, H, W) -> (B, N, D)."""

    def __init__(self, *, image_size=28, patch_size=7, in_channels=1, embed_dim=64, channels=32):
        super().__init__()
        self.image_size = _check_divisible(image_size, patch_size)
        self.patch_size, self.in_channels = patch_size, in_channels
        self.num_patches = (self.image_size[0] // patch_size) * (self.image_size[1] // patch_size)
        self.stem = nn.Sequential(
            # no bias before BatchNorm (it has its own); padding 1 keeps H x W
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(),
        )                                                                          # (B, c, H, W)
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        check_images(x, self.in_channels, self.image_size)
        x = self.proj(self.stem(x))               # (B, c, H, W) -> (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)       # (B, N, D)


# (dx, dy) of the four copies, in units of the shift: left-up, right-up, left-down, right-down
SPT_SHIFTS = ((-1, -1), (1, -1), (-1, 1), (1, 1))


def shift_image(x, dx, dy):
    """x (B, C, H, W) moved dx pixels right and dy pixels down (negative: left/up); zeros fill the gap."""
    # F.pad with a negative amount crops: pad (left, right, top, bottom) = (dx, -dx, dy, -dy)
    return F.pad(x, (dx, -dx, dy, -dy))


class ShiftedPatchTokenizer(nn.Module):
    """SPT: image + 4 diagonal shifts (5C channels) -> patches -> LayerNorm -> Linear: (B, C, H, W) -> (B, N, D)."""

    def __init__(self, *, image_size=28, patch_size=7, in_channels=1, embed_dim=64, shift=None):
        super().__init__()
        self.image_size = _check_divisible(image_size, patch_size)
        self.patch_size, self.in_channels = patch_size, in_channels
        self.num_patches = (self.image_size[0] // patch_size) * (self.image_size[1] // patch_size)
        self.shift = max(1, patch_size // 2) if shift is None else shift   # the paper: half a patch
        token_dim = 5 * in_channels * patch_size * patch_size             # 5 copies of a C x P x P patch
        self.norm = nn.LayerNorm(token_dim)
        self.proj = nn.Linear(token_dim, embed_dim)

    def shifted_images(self, x):
        """(B, C, H, W) -> (B, 5C, H, W): the image, then its four diagonal shifts, stacked as channels."""
        s = self.shift
        return torch.cat([x] + [shift_image(x, dx * s, dy * s) for dx, dy in SPT_SHIFTS], dim=1)

    def forward(self, x):
        check_images(x, self.in_channels, self.image_size)
        x = self.shifted_images(x)                          # (B, 5C, H, W)
        tokens = img_to_patch(x, self.patch_size)           # (B, N, 5C*P*P)
        return self.proj(self.norm(tokens))                 # (B, N, D)


def make_tokenizer(cfg):
    """The tokenizer a ViTConfig asks for (cfg.tokenizer): "patch", "conv_stem" or "spt"."""
    common = dict(image_size=cfg.image_size, patch_size=cfg.patch_size, in_channels=cfg.in_channels,
                  embed_dim=cfg.embed_dim)
    if cfg.tokenizer == "patch":
        return PatchEmbedding(**common)
    if cfg.tokenizer == "conv_stem":
        return ConvStem(**common, channels=cfg.stem_channels)
    if cfg.tokenizer == "spt":
        return ShiftedPatchTokenizer(**common)
    raise ValueError(f"Unknown tokenizer {cfg.tokenizer!r}. Choose one of {', '.join(TOKENIZERS)}.")
