"""Wrong answers to 03's ViT forward pass (the constructor is given)."""
import torch
from torch import nn

from course_utils.patches import PatchEmbedding
from course_utils.vit import TransformerBlock, ViTConfig

CHECK = "check_vit"


class Given(nn.Module):                       # the notebook's constructor
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        self.to_patch_embedding = PatchEmbedding(image_size=cfg.image_size, patch_size=cfg.patch_size,
                                                 in_channels=cfg.in_channels, embed_dim=D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + 1, D))
        self.blocks = nn.ModuleList(TransformerBlock(embed_dim=D, num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio)
                                    for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, cfg.num_classes)

    def tokens(self, x):
        x = self.to_patch_embedding(x)
        return torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)

    def run(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class MeanHead(Given):
    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x) + self.pos_embed)).mean(1))


class NoFinalNorm(Given):
    def forward(self, x):
        return self.head(self.run(self.tokens(x) + self.pos_embed)[:, 0])


class NoPositions(Given):
    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x)))[:, 0])


class ClsAtEnd(Given):
    def forward(self, x):
        t = self.to_patch_embedding(x)
        t = torch.cat([t, self.cls_token.expand(t.shape[0], -1, -1)], 1) + self.pos_embed
        return self.head(self.norm(self.run(t))[:, -1])


class HeadBeforeBlocks(Given):
    def forward(self, x):
        t = self.tokens(x) + self.pos_embed
        self.run(t)
        return self.head(self.norm(t)[:, 0])


class SqueezedBatch(Given):                   # fails on a batch of one
    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x) + self.pos_embed))[:, 0]).squeeze()


class TypedPositions(Given):                  # position embedding sized for 16 patches whatever the config
    def __init__(self, cfg):
        super().__init__(cfg)
        self.pos_embed = nn.Parameter(torch.zeros(1, 17, cfg.embed_dim))

    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x) + self.pos_embed))[:, 0])


class DetachedPositions(Given):
    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x) + self.pos_embed.detach()))[:, 0])


class BatchMixing(Given):                     # centres the tokens over the batch: images depend on each other
    def forward(self, x):
        t = self.tokens(x) + self.pos_embed
        t = self.run(t - t.mean(0, keepdim=True))
        return self.head(self.norm(t)[:, 0])


class FirstPatch(Given):
    def forward(self, x):
        return self.head(self.norm(self.run(self.tokens(x) + self.pos_embed))[:, 1])


WRONG = [("class token, x[:, 0]", (MeanHead(ViTConfig()),)),
         ("final LayerNorm is missing", (NoFinalNorm(ViTConfig()),)),
         ("position embedding is not added", (NoPositions(ViTConfig()),)),
         ("class token goes at the end", (ClsAtEnd(ViTConfig()),)),
         ("before the blocks", (HeadBeforeBlocks(ViTConfig()),)),
         ("a batch of 1", (SqueezedBatch(ViTConfig()),)),
         ("never a number typed in", (TypedPositions(ViTConfig()),)),
         ("gradients of cls_token and pos_embed", (DetachedPositions(ViTConfig()),)),
         ("mixes the batch axis", (BatchMixing(ViTConfig()),)),
         ("first patch token", (FirstPatch,))]
