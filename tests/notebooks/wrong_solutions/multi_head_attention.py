"""Wrong answers to 02's multi-head self-attention module (to_qkv, split, attend, merge, proj)."""
import math

from torch import nn

from course_utils.attention import merge_heads, scaled_dot_product_attention, split_heads

CHECK = "check_multi_head_attention"


class Base(nn.Module):
    def __init__(self, *, embed_dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.to_qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)


class NoScale(Base):
    def forward(self, x):
        q, k, v = (split_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
        w = (q @ k.transpose(-2, -1)).softmax(-1)
        return self.proj(merge_heads(w @ v))


class PlainReshape(Base):
    def forward(self, x):
        B, N, D = x.shape
        q, k, v = (t.reshape(B, self.num_heads, N, D // self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
        out, _ = scaled_dot_product_attention(q, k, v)
        return self.proj(out.reshape(B, N, D))


class NoProj(Base):
    def forward(self, x):
        q, k, v = (split_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
        return merge_heads(scaled_dot_product_attention(q, k, v)[0])


class OneHead(Base):
    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, -1)
        return self.proj(scaled_dot_product_attention(q, k, v)[0])


class FourHeads(Base):                        # num_heads typed in
    def forward(self, x):
        q, k, v = (split_heads(t, 4) for t in self.to_qkv(x).chunk(3, -1))
        return self.proj(merge_heads(scaled_dot_product_attention(q, k, v)[0]))


class Detached(Base):
    def forward(self, x):
        q, k, v = (split_heads(t, self.num_heads).detach() for t in self.to_qkv(x).chunk(3, -1))
        return self.proj(merge_heads(scaled_dot_product_attention(q, k, v)[0]))


class ScaleByModelWidth(Base):
    def forward(self, x):
        q, k, v = (split_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
        w = (q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1])).softmax(-1)
        return self.proj(merge_heads(w @ v))


class NoHeadsArgument(Base):                  # a constructor that ignores the sizes asked for
    def __init__(self, *, embed_dim, num_heads):
        super().__init__(embed_dim=32, num_heads=4)

    def forward(self, x):
        q, k, v = (split_heads(t, self.num_heads) for t in self.to_qkv(x).chunk(3, -1))
        return self.proj(merge_heads(scaled_dot_product_attention(q, k, v)[0]))


WRONG = [("not scaled", (NoScale,)),
         ("plain reshape", (PlainReshape,)),
         ("proj is not applied", (NoProj,)),
         ("one head of width D", (OneHead,)),
         ("differs from nn.MultiheadAttention", (FourHeads,)),
         ("gradient of to_qkv", (Detached,)),
         ("differs from nn.MultiheadAttention", (ScaleByModelWidth,)),
         ("use the constructor's arguments", (NoHeadsArgument,))]
