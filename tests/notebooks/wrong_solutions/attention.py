"""Wrong answers to 02's scaled dot-product attention, returning (values, weights)."""
import math

import torch

CHECK = "check_attention"


def variant(scale="sqrt", dim=-1, softmax=True, pair=True, order=False, width="q"):
    def attention(q, k, v):
        d = (q if width == "q" else v).shape[-1]
        s = q @ k.transpose(-2, -1)
        s = s / {"sqrt": math.sqrt(d), "d": d, "none": 1}[scale]
        w = s.softmax(dim) if softmax else s
        out = w @ v
        if not pair:
            return out
        return (w, out) if order else (out, w)
    return attention


def in_place_scale(q, k, v):
    q /= math.sqrt(q.shape[-1])               # changes the caller's q
    w = (q @ k.transpose(-2, -1)).softmax(-1)
    return w @ v, w


def transpose_01(q, k, v):                    # k.T: wrong for batched inputs
    w = (q @ k.transpose(0, 1) / math.sqrt(q.shape[-1])).softmax(-1)
    return w @ v, w


def float32_scale(q, k, v):
    w = (q @ k.transpose(-2, -1) / torch.tensor(q.shape[-1]).float().sqrt()).softmax(-1).float()
    return w @ v.float(), w


def numpy_softmax(q, k, v):
    s = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).detach()
    w = torch.softmax(s, -1)
    return w @ v.detach(), w


def wrong_weights(q, k, v):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return s.softmax(-1) @ v, s


WRONG = [("not scaled", (variant(scale="none"),)),
         ("divided by d", (variant(scale="d"),)),
         ("over the queries", (variant(dim=-2),)),
         ("no softmax", (variant(softmax=False),)),
         ("the pair (values, weights)", (variant(pair=False),)),
         ("wrong order", (variant(order=True),)),
         ("width of v", (variant(width="v"),)),
         ("in place", (in_place_scale,)),
         ("transpose only the last two", (transpose_01,)),
         ("dtype", (float32_scale,)),
         ("no gradient", (numpy_softmax,)),
         ("returned weights", (wrong_weights,))]
