"""The Vision Transformer, assembled bottom-up (notebook 03_vit).

Order: MLP, TransformerBlock (Pre-LN: two LayerNorms, two residual lines), ViTConfig, VisionTransformer
(patch embedding, class token, learned position embedding, blocks, final norm, head).
Notebook 07's ablation options: `pos_embed` "sincos" (fixed 2-D sine-cosine) or "none", and `pool` "mean"
(average of the patch tokens, as timm's global_pool="avg"; the class token stays in the sequence).
Pre-LN follows Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture": it trains
without a long warm-up, which matters on small data and short schedules.
Left out on purpose: stochastic depth, layer scale, distillation tokens, relative positions.
"""
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .attention import LocalitySelfAttention, MultiHeadSelfAttention
from .patches import check_images
from .tokenizers import TOKENIZERS, make_tokenizer


class MLP(nn.Module):
    """Per-token feed-forward: Linear -> GELU -> Linear, (B, N, D) -> (B, N, D)."""

    def __init__(self, *, embed_dim, hidden_dim, dropout=0.0):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, embed_dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(nn.Module):
    """Pre-LN block: x + attn(norm1(x)), then x + mlp(norm2(x)). Two LayerNorms, never one shared."""

    def __init__(self, *, embed_dim, num_heads, mlp_ratio=2.0, dropout=0.0, lsa=False):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim)
        attention = LocalitySelfAttention if lsa else MultiHeadSelfAttention   # lsa: notebook 08
        self.attn = attention(embed_dim=embed_dim, num_heads=num_heads, dropout=dropout)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = MLP(embed_dim=embed_dim, hidden_dim=int(embed_dim * mlp_ratio), dropout=dropout)

    def forward(self, x, return_attention=False):
        """x: (B, N, D) -> (B, N, D), and the attention weights (B, h, N, N) if asked."""
        if return_attention:
            a, weights = self.attn(self.norm1(x), return_attention=True)
            x = x + a
            x = x + self.mlp(self.norm2(x))
            return x, weights
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


@dataclass(frozen=True)
class ViTConfig:
    """A ViT's size. Defaults suit 28x28 digits and train at ~800 images/s on 2 CPU cores."""
    image_size: int = 28     # MNIST digits are 28x28
    patch_size: int = 7      # 4x4 = 16 patches: short sequences, cheap attention
    in_channels: int = 1     # grey-scale
    num_classes: int = 10    # K
    embed_dim: int = 128     # D: wide enough for 99%+ on MNIST, small enough for a CPU
    depth: int = 4           # transformer blocks
    num_heads: int = 4       # h; head width d = D / h = 32
    mlp_ratio: float = 2.0   # hidden width of the MLP = 2D (4D is the paper's; 2D is plenty for digits)
    dropout: float = 0.0     # augmentation regularises better than dropout at this size
    # notebook 08, locality for small data sets (the defaults are the plain ViT of notebook 03):
    tokenizer: str = "patch"  # "patch" (Linear on patches), "conv_stem" (3x3 convs first), "spt" (shifted patches)
    stem_channels: int = 32  # width of the conv stem's 3x3 convs (tokenizer="conv_stem" only)
    lsa: bool = False        # locality self-attention: no token attends to itself, a learned temperature
    pos_embed: str = "learned"   # "learned" (the paper's), "sincos" (fixed 2-D sine-cosine) or "none" (07's ablation)
    pool: str = "cls"            # "cls": the class token feeds the head; "mean": the average of the patch tokens

    def __post_init__(self):
        if self.image_size % self.patch_size:
            fits = [p for p in range(1, self.image_size + 1) if self.image_size % p == 0]
            raise ValueError(f"image_size={self.image_size} is not divisible by patch_size={self.patch_size}. "
                             f"Choose a patch size in {fits}.")
        if self.embed_dim % self.num_heads:
            fits = [h for h in range(1, 17) if self.embed_dim % h == 0]
            raise ValueError(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}: "
                             f"each head gets D / h channels. Choose num_heads in {fits}.")
        if self.pos_embed not in ("learned", "sincos", "none"):
            raise ValueError(f"pos_embed={self.pos_embed!r}: choose 'learned', 'sincos' or 'none'.")
        if self.pool not in ("cls", "mean"):
            raise ValueError(f"pool={self.pool!r}: choose 'cls' (class token) or 'mean' (average of the patch tokens).")
        if self.pos_embed == "sincos" and self.embed_dim % 4:
            raise ValueError(f"pos_embed='sincos' needs embed_dim divisible by 4 (a sine and a cosine per row "
                             f"and per column), got {self.embed_dim}.")
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {self.tokenizer!r}.")
        for name in ("image_size", "patch_size", "in_channels", "num_classes", "embed_dim", "depth", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}.")

    @property
    def num_patches(self):
        return (self.image_size // self.patch_size) ** 2


class VisionTransformer(nn.Module):
    """ViT: images (B, C, H, W) -> logits (B, K). `return_attention=True` also gives each block's weights."""

    def __init__(self, cfg: ViTConfig = ViTConfig()):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        self.to_patch_embedding = make_tokenizer(cfg)      # (B, C, H, W) -> (B, N, D); PatchEmbedding by default
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))                    # a learned "summary" token
        if cfg.pos_embed == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + 1, D))  # one per patch, + class token
        elif cfg.pos_embed == "sincos":                                        # fixed, not trained
            self.register_buffer("pos_embed", sincos_pos_embed(cfg.image_size // cfg.patch_size, D), persistent=False)
        else:
            self.pos_embed = None                                              # the model sees a bag of patches
        self.blocks = nn.ModuleList(
            TransformerBlock(embed_dim=D, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, dropout=cfg.dropout,
                             lsa=cfg.lsa)
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, cfg.num_classes)
        self.apply(_init_weights)
        if cfg.pos_embed == "learned":
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def embed(self, x):
        """(B, C, H, W) -> (B, N+1, D): patch tokens with the class token in front, plus positions."""
        x = self.to_patch_embedding(x)                       # (B, N, D)
        cls = self.cls_token.expand(x.shape[0], -1, -1)      # (B, 1, D)
        x = torch.cat([cls, x], dim=1)                       # (B, N+1, D)
        return x if self.pos_embed is None else x + self.pos_embed   # (B, N+1, D)

    def forward(self, x, return_attention=False):
        check_images(x, self.cfg.in_channels, (self.cfg.image_size, self.cfg.image_size))
        x = self.embed(x)                                    # (B, N+1, D)
        maps = []
        for block in self.blocks:
            if return_attention:
                x, w = block(x, return_attention=True)       # w: (B, h, N+1, N+1)
                maps.append(w)
            else:
                x = block(x)
        pooled = x[:, 0] if self.cfg.pool == "cls" else x[:, 1:].mean(dim=1)   # (B, N+1, D) -> (B, D)
        logits = self.head(self.norm(pooled))                # (B, D) -> (B, K)
        return (logits, maps) if return_attention else logits

    def config_dict(self):
        return asdict(self.cfg)


def sincos_pos_embed(grid_size, embed_dim):
    """Fixed 2-D sine-cosine position embeddings (MAE, He et al. 2022): (1, N+1, D), the class token's row zero.

    The first D/2 channels encode the patch's row, the last D/2 its column; each half is
    [sin(pos * w_k), cos(pos * w_k)] for k < D/4 with frequencies w_k = 1 / 10000 ** (k / (D/4)).
    """
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)           # (D/4,)
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")

    def encode(pos):                                                  # (N,) -> (N, D/2)
        angles = pos.flatten().double()[:, None] * omega[None, :]      # (N, D/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    table = torch.cat([encode(rows), encode(cols)], dim=1)            # (N, D)
    table = torch.cat([torch.zeros(1, embed_dim, dtype=table.dtype), table])   # (N+1, D): class token first
    return table.float().unsqueeze(0)                                 # (1, N+1, D)


def _init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
