"""Attention written out by hand (notebook 02_attention).

`scaled_dot_product_attention` is the lesson version: three lines, returning the weights so they
can be drawn. `MultiHeadSelfAttention` splits the width D into h heads of width d = D / h, attends
in each head, and merges them back. With `return_attention=False` it calls PyTorch's fused
`F.scaled_dot_product_attention` (same numbers, less memory, faster); the tests prove both paths
equal PyTorch's own `F.scaled_dot_product_attention` and `nn.MultiheadAttention`.
Left out on purpose: masks other than a boolean/additive `mask`, cross-attention, KV caches.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d)) v, returning (values, weights).

    Args:
        q: (..., N, d) queries; k: (..., M, d) keys; v: (..., M, d_v) values.
        mask: optional, broadcastable to (..., N, M): boolean (True = may attend) or additive.
    Returns:
        values (..., N, d_v) and weights (..., N, M), each row of weights summing to 1.
    """
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)   # (..., N, M): similarity of each query to each key
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    weights = scores.softmax(dim=-1)                   # over the keys: each query's weights sum to 1
    return weights @ v, weights                        # (..., N, d_v), (..., N, M)


def split_heads(x, num_heads):
    """(B, N, D) -> (B, h, N, d): give each head its own slice of the width."""
    B, N, D = x.shape
    return x.reshape(B, N, num_heads, D // num_heads).transpose(1, 2)


def merge_heads(x):
    """(B, h, N, d) -> (B, N, D): the inverse of split_heads."""
    B, h, N, d = x.shape
    return x.transpose(1, 2).reshape(B, N, h * d)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over tokens: (B, N, D) -> (B, N, D).

    One Linear makes queries, keys and values for all heads at once (`to_qkv`, laid out like
    nn.MultiheadAttention's in_proj_weight: q rows, then k, then v); `proj` mixes the heads' outputs.
    """

    def __init__(self, *, embed_dim, num_heads, dropout=0.0, bias=True):
        super().__init__()
        if embed_dim % num_heads:
            divisors = [h for h in range(1, embed_dim + 1) if embed_dim % h == 0 and h <= 16]
            raise ValueError(
                f"embed_dim={embed_dim} is not divisible by num_heads={num_heads}: each head gets "
                f"D / h channels. Choose num_heads in {divisors} or change embed_dim."
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.to_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=bias)
        self.proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, x, return_attention=False):
        """x: (B, N, D). Returns (B, N, D), and the weights (B, h, N, N) if return_attention."""
        qkv = self.to_qkv(x)                                    # (B, N, 3D)
        q, k, v = (split_heads(t, self.num_heads) for t in qkv.chunk(3, dim=-1))  # 3 x (B, h, N, d)
        drop = self.dropout if self.training else 0.0
        if return_attention:
            out, weights = scaled_dot_product_attention(q, k, v)   # (B, h, N, d), (B, h, N, N)
            if drop:  # same place as the fused kernel's dropout: on the weights
                out = F.dropout(weights, drop) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # fused kernel
        out = self.proj(merge_heads(out))                       # (B, h, N, d) -> (B, N, D)
        return (out, weights) if return_attention else out

    def load_from_torch(self, mha: nn.MultiheadAttention):
        """Copy the weights of a PyTorch nn.MultiheadAttention of the same size into this module."""
        if mha.embed_dim != self.embed_dim or mha.num_heads != self.num_heads:
            raise ValueError(f"Sizes differ: nn.MultiheadAttention(embed_dim={mha.embed_dim}, "
                             f"num_heads={mha.num_heads}) vs ours ({self.embed_dim}, {self.num_heads}).")
        with torch.no_grad():
            self.to_qkv.weight.copy_(mha.in_proj_weight)
            self.to_qkv.bias.copy_(mha.in_proj_bias)
            self.proj.weight.copy_(mha.out_proj.weight)
            self.proj.bias.copy_(mha.out_proj.bias)
        return self


class LocalitySelfAttention(MultiHeadSelfAttention):
    """Locality self-attention (LSA, Lee et al. 2021, notebook 08): multi-head self-attention that

    1. masks the diagonal: no token attends to itself, so the weights go to the *other* tokens, and
    2. learns its temperature: scores are q k^T * exp(log_scale), log_scale starting at log(1 / sqrt(d)).
    Both sharpen attention on small data sets. With mask_diagonal=False and log_scale untouched it is
    MultiHeadSelfAttention exactly (a test proves it). Same weights and shapes: (B, N, D) -> (B, N, D).
    """

    def __init__(self, *, embed_dim, num_heads, dropout=0.0, bias=True, mask_diagonal=True):
        super().__init__(embed_dim=embed_dim, num_heads=num_heads, dropout=dropout, bias=bias)
        d = embed_dim // num_heads
        self.mask_diagonal = mask_diagonal
        self.log_scale = nn.Parameter(torch.tensor(math.log(d ** -0.5)))   # learned; exp() keeps it positive

    def forward(self, x, return_attention=False):
        """x: (B, N, D). Returns (B, N, D), and the weights (B, h, N, N) if return_attention."""
        N, d = x.shape[1], self.embed_dim // self.num_heads
        qkv = self.to_qkv(x)                                    # (B, N, 3D)
        q, k, v = (split_heads(t, self.num_heads) for t in qkv.chunk(3, dim=-1))  # 3 x (B, h, N, d)
        q = q * (self.log_scale.exp() * math.sqrt(d))           # both paths divide by sqrt(d): net scale exp(log_scale)
        mask = ~torch.eye(N, dtype=torch.bool, device=x.device) if self.mask_diagonal else None  # True = may attend
        drop = self.dropout if self.training else 0.0
        if return_attention:
            out, weights = scaled_dot_product_attention(q, k, v, mask)   # (B, h, N, d), (B, h, N, N)
            if drop:
                out = F.dropout(weights, drop) @ v
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        out = self.proj(merge_heads(out))                       # (B, h, N, d) -> (B, N, D)
        return (out, weights) if return_attention else out
