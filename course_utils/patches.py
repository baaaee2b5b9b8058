"""Images as sequences of patches (notebook 01_patches).

A (B, C, H, W) image is cut into N = (H/P) * (W/P) square patches of side P, read row by row
(left to right, top to bottom). Each patch flattened is one token of length C*P*P, in the same
(C, P, P) order as a Conv2d kernel, so a Linear on flattened patches and a Conv2d with
kernel = stride = P are the same layer (`PatchEmbedding.linear_to_conv` proves it in the tests).
"""
from torch import nn


def _check_divisible(image_size, patch_size):
    H, W = (image_size, image_size) if isinstance(image_size, int) else image_size
    if H % patch_size or W % patch_size:
        fits = [p for p in range(1, min(H, W) + 1) if H % p == 0 and W % p == 0]
        raise ValueError(
            f"Image size {H}x{W} is not divisible by patch size {patch_size}: the patches would not "
            f"tile the image. Choose a patch size that divides it, e.g. one of {fits}."
        )
    return H, W


def img_to_patch(x, patch_size, flatten=True):
    """Cut images into non-overlapping square patches, row by row.

    Args:
        x: (B, C, H, W) images; H and W divisible by patch_size.
        patch_size: P, the side of each patch in pixels.
        flatten: True gives tokens (B, N, C*P*P); False keeps each patch as an image (B, N, C, P, P).
    """
    if x.ndim != 4:
        raise ValueError(f"img_to_patch expects a batch of images (B, C, H, W), got shape {tuple(x.shape)}.")
    B, C, H, W = x.shape
    _check_divisible((H, W), patch_size)
    P = patch_size
    x = x.reshape(B, C, H // P, P, W // P, P)  # (B, C, H', P, W', P)
    x = x.permute(0, 2, 4, 1, 3, 5)            # (B, H', W', C, P, P)
    x = x.flatten(1, 2)                        # (B, N, C, P, P) with N = H' * W'
    if flatten:
        x = x.flatten(2, 4)                    # (B, N, C*P*P)
    return x


def patch_to_img(patches, patch_size, image_size, channels=None):
    """Put patches back together: the inverse of img_to_patch.

    Args:
        patches: (B, N, C*P*P) tokens or (B, N, C, P, P) patches.
        image_size: H (square) or (H, W) of the original image.
        channels: C, needed only for flattened tokens (defaults to C*P*P / (P*P)).
    Returns:
        (B, C, H, W) images.
    """
    H, W = _check_divisible(image_size, patch_size)
    P = patch_size
    B, N = patches.shape[:2]
    if N != (H // P) * (W // P):
        raise ValueError(f"{N} patches cannot tile a {H}x{W} image with patch size {P} "
                         f"(that needs {(H // P) * (W // P)}).")
    if patches.ndim == 3:
        C = channels or patches.shape[2] // (P * P)
        patches = patches.reshape(B, N, C, P, P)           # (B, N, C, P, P)
    C = patches.shape[2]
    x = patches.reshape(B, H // P, W // P, C, P, P)        # (B, H', W', C, P, P)
    x = x.permute(0, 3, 1, 4, 2, 5)                        # (B, C, H', P, W', P)
    return x.reshape(B, C, H, W)


class PatchEmbedding(nn.Module):
    """Patches -> tokens of width D: a Linear on flattened patches, or the equal Conv2d with stride P.

    (B, C, H, W) -> (B, N, D). `method="conv"` is the usual fast form; `method="linear"` is the one
    that reads like the paper ("a trainable linear projection of the flattened patches").
    """

    def __init__(self, *, image_size=28, patch_size=7, in_channels=1, embed_dim=64, method="conv"):
        super().__init__()
        self.image_size = _check_divisible(image_size, patch_size)
        self.patch_size = patch_size
        self.in_channels = in_channels
        self.num_patches = (self.image_size[0] // patch_size) * (self.image_size[1] // patch_size)
        if method == "conv":
            self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)
        elif method == "linear":
            self.proj = nn.Linear(in_channels * patch_size * patch_size, embed_dim)
        else:
            raise ValueError(f"method must be 'conv' or 'linear', got {method!r}.")
        self.method = method

    def forward(self, x):
        check_images(x, self.in_channels, self.image_size)
        if self.method == "conv":
            x = self.proj(x)                      # (B, D, H/P, W/P)
            return x.flatten(2).transpose(1, 2)   # (B, N, D)
        return self.proj(img_to_patch(x, self.patch_size))  # (B, N, C*P*P) -> (B, N, D)

    @staticmethod
    def linear_to_conv(linear_weight, in_channels, patch_size):
        """A Linear's (D, C*P*P) weight reshaped into the equal Conv2d kernel (D, C, P, P)."""
        return linear_weight.reshape(linear_weight.shape[0], in_channels, patch_size, patch_size)


def check_images(x, in_channels, image_size):
    """Raise a clear error when x is not a batch of (B, in_channels, H, W) images of the expected size."""
    if x.ndim != 4:
        raise ValueError(f"Expected a batch of images (B, C, H, W), got shape {tuple(x.shape)}. "
                         f"A single image needs a batch dimension: x.unsqueeze(0).")
    if x.shape[1] != in_channels:
        raise ValueError(f"Expected {in_channels} channel(s), got {x.shape[1]} (input shape {tuple(x.shape)}). "
                         f"Build the model with in_channels={x.shape[1]}, or convert the images.")
    if image_size is not None and tuple(x.shape[2:]) != tuple(image_size):
        raise ValueError(f"Expected {image_size[0]}x{image_size[1]} images, got {x.shape[2]}x{x.shape[3]}. "
                         f"Build the model with image_size={x.shape[2]} (position embeddings are sized "
                         f"for one number of patches), or resize the images.")
