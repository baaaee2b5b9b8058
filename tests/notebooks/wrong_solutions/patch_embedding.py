"""Wrong answers to 01's patch embedding: tokens @ weight.T + bias."""
import torch

from course_utils.patches import img_to_patch

CHECK = "check_patch_embedding"


def no_bias(x, w, b, P):
    return img_to_patch(x, P) @ w.T


def no_transpose(x, w, b, P):
    return img_to_patch(x, P) @ w + b


def fixed_patch_size(x, w, b, P):
    return img_to_patch(x, 7) @ w.T + b


def detached(x, w, b, P):
    return (img_to_patch(x, P) @ w.T + b).detach()


def in_place_transpose(x, w, b, P):
    w.t_()                                    # changes the caller's weight
    return img_to_patch(x, P) @ w + b


def float32(x, w, b, P):
    return img_to_patch(x, P).float() @ w.T.float() + b.float()


def hwc_tokens(x, w, b, P):
    B, C, H, W = x.shape
    t = x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P * C)
    return t @ w.T + b


def random_linear(x, w, b, P):
    return torch.nn.Linear(w.shape[1], w.shape[0], dtype=x.dtype)(img_to_patch(x, P))


WRONG = [("bias is missing", (no_bias,)),
         ("needs a transpose", (no_transpose,)),
         ("patch_size argument", (fixed_patch_size,)),
         ("carries no gradient", (detached,)),
         ("in place", (in_place_transpose,)),
         ("dtype", (float32,)),
         ("(P, P, C)", (hwc_tokens,)),
         ("given weight and bias", (random_linear,))]
