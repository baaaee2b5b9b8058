"""Wrong answers to 01's exercise: patches in reading order, each flattened as (P, P, C)."""
import torch

from course_utils.patches import img_to_patch

CHECK = "check_img_to_patch_hwc"


def channel_first(x, P):                      # the walkthrough's (C, P, P) order
    return img_to_patch(x, P)


def plain_reshape(x, P):
    B, C, H, W = x.shape
    return x.reshape(B, (H // P) * (W // P), P * P * C)


def columns_first(x, P):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 4, 2, 3, 5, 1).reshape(B, -1, P * P * C)


def transposed_patch(x, P):                   # (P_w, P_h, C) inside each token
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 5, 3, 1).reshape(B, -1, P * P * C)


def one_channel_only(x, P):                   # C typed in as 1
    B, _, H, W = x.shape
    return x.reshape(B, 1, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P)


def square_only(x, P):                        # W assumed equal to H
    B, C, H, _ = x.shape
    return x.reshape(B, C, H // P, P, H // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P * C)


def not_flattened(x, P):
    B, C, H, W = x.shape
    return x.reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1)


def to_float32(x, P):
    B, C, H, W = x.shape
    return x.float().reshape(B, C, H // P, P, W // P, P).permute(0, 2, 4, 3, 5, 1).reshape(B, -1, P * P * C)


def lookup_table(x, P):                       # right only for the digit-sized case
    if x.shape[1:] == (1, 28, 28):
        return img_to_patch(x, P)
    return torch.zeros(x.shape[0], (x.shape[2] // P) * (x.shape[3] // P), x.shape[1] * P * P)


def returns_list(x, P):
    return img_to_patch(x, P).tolist()


WRONG = [("(C, P, P) order of img_to_patch", (channel_first,)),
         ("plain reshape", (plain_reshape,)),
         ("wrong order", (columns_first,)),
         ("right pixels in the wrong order", (transposed_patch,)),
         ("read B, C, H, W from x.shape", (one_channel_only,)),
         ("read B, C, H, W from x.shape", (square_only,)),
         ("one flat token", (not_flattened,)),
         ("keep the input's dtype", (to_float32,)),
         ("values differ", (lookup_table,)),
         ("expected a tensor", (returns_list,))]
