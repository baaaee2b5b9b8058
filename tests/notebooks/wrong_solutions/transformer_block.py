"""Wrong answers to 03's Pre-LN transformer block (norm1, attn, norm2, mlp)."""
from torch import nn

from course_utils.attention import MultiHeadSelfAttention
from course_utils.vit import MLP

CHECK = "check_transformer_block"


class Parts(nn.Module):
    def __init__(self, *, embed_dim, num_heads, mlp_ratio=2.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim)
        self.attn = MultiHeadSelfAttention(embed_dim=embed_dim, num_heads=num_heads)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = MLP(embed_dim=embed_dim, hidden_dim=int(embed_dim * mlp_ratio))


class SharedNorm(Parts):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.norm2 = self.norm1

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Norm1Twice(Parts):
    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm1(x))


class PostLN(Parts):
    def forward(self, x):
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class NoResidual(Parts):
    def forward(self, x):
        x = self.attn(self.norm1(x))
        return self.mlp(self.norm2(x))


class NoSecondResidual(Parts):
    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return self.mlp(self.norm2(x))


class MlpReadsInput(Parts):
    def forward(self, x):
        y = x + self.attn(self.norm1(x))
        return y + self.mlp(self.norm2(x))


class InPlace(Parts):
    def forward(self, x):
        x += self.attn(self.norm1(x))
        x += self.mlp(self.norm2(x))
        return x


class ReluMLP(Parts):
    def __init__(self, *, embed_dim, num_heads, mlp_ratio=2.0):
        super().__init__(embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio)
        hidden = int(embed_dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.ReLU(), nn.Linear(hidden, embed_dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class FourTimesWidth(Parts):                  # mlp_ratio ignored
    def __init__(self, *, embed_dim, num_heads, mlp_ratio=2.0):
        super().__init__(embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=4.0)

    forward = ReluMLP.forward


class TorchMHA(Parts):
    def __init__(self, *, embed_dim, num_heads, mlp_ratio=2.0):
        super().__init__(embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio)
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)

    def forward(self, x):
        y = self.norm1(x)
        x = x + self.attn(y, y, y)[0]
        return x + self.mlp(self.norm2(x))


class NoMlpRatio(nn.Module):                  # a constructor without mlp_ratio
    def __init__(self, *, embed_dim, num_heads):
        super().__init__()


class BatchNorms(Parts):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.norm1, self.norm2 = nn.BatchNorm1d(kw["embed_dim"]), nn.BatchNorm1d(kw["embed_dim"])

    forward = ReluMLP.forward


class Detached(Parts):
    def forward(self, x):
        x = x + self.attn(self.norm1(x)).detach()
        return x + self.mlp(self.norm2(x))


WRONG = [("one LayerNorm is shared", (SharedNorm,)),
         ("norm1 is used for both", (Norm1Twice,)),
         ("Post-LN", (PostLN,)),
         ("residual connections are missing", (NoResidual,)),
         ("second residual connection is missing", (NoSecondResidual,)),
         ("reads the block's input", (MlpReadsInput,)),
         ("in place", (InPlace,)),
         ("GELU", (ReluMLP,)),
         ("int(embed_dim * mlp_ratio)", (FourTimesWidth,)),
         ("nn.MultiheadAttention", (TorchMHA,)),
         ("mlp_ratio", (NoMlpRatio,)),
         ("nn.LayerNorm", (BatchNorms,)),
         ("gradients", (Detached,))]
