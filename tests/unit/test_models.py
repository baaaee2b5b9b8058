from dataclasses import replace

import pytest
import torch
from torch import nn

from course_utils import MODEL_NAMES, VisionTransformer, ViTConfig, build_model, count_parameters
from course_utils.vit import TransformerBlock


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_follows_the_contract(name):
    torch.manual_seed(0)
    model = build_model(name)
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)          # (B, C, H, W) -> (B, K)
    rgb = build_model(name, image_size=32, in_channels=3, num_classes=7, **({"patch_size": 4} if name == "vit" else {}))
    assert rgb(torch.randn(2, 3, 32, 32)).shape == (2, 7)


def test_parameter_counts():
    assert count_parameters(build_model("lenet")) == 61_706            # the classic LeNet-5 on 28x28
    assert count_parameters(build_model("cnn")) == 288_170
    cfg = ViTConfig()
    D, N, L, r = cfg.embed_dim, cfg.num_patches, cfg.depth, cfg.mlp_ratio
    per_block = 2 * 2 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * int(r * D) + int(r * D)) + (int(r * D) * D + D)
    expected = (49 * D + D) + D + (N + 1) * D + L * per_block + 2 * D + (D * 10 + 10)
    assert count_parameters(VisionTransformer(cfg)) == expected


def test_block_has_two_layernorms_and_is_pre_ln():
    torch.manual_seed(1)
    block = TransformerBlock(embed_dim=16, num_heads=2)
    norms = [m for m in block.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 2 and block.norm1 is not block.norm2
    x = torch.randn(2, 5, 16)
    y = x + block.attn(block.norm1(x))
    torch.testing.assert_close(block(x), y + block.mlp(block.norm2(y)))


def test_vit_attention_maps_and_fast_path_agree():
    torch.manual_seed(2)
    model = VisionTransformer(ViTConfig(depth=3)).eval()
    x = torch.randn(4, 1, 28, 28)
    logits, maps = model(x, return_attention=True)
    assert len(maps) == 3 and maps[0].shape == (4, 4, 17, 17)       # (B, h, N+1, N+1)
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(4, 4, 17))
    torch.testing.assert_close(logits, model(x), atol=1e-5, rtol=1e-5)


def test_vit_output_of_one_image_does_not_depend_on_the_batch():
    torch.manual_seed(3)
    model = VisionTransformer().eval()
    x = torch.randn(6, 1, 28, 28)
    torch.testing.assert_close(model(x)[2:3], model(x[2:3]), atol=1e-5, rtol=1e-5)


def test_position_embedding_matches_the_number_of_patches():
    for P in (2, 4, 7, 14):
        model = VisionTransformer(ViTConfig(patch_size=P))
        assert model.pos_embed.shape == (1, (28 // P) ** 2 + 1, 128)


def test_bad_configs_are_explained():
    with pytest.raises(ValueError, match="image_size=28 is not divisible by patch_size=5"):
        ViTConfig(patch_size=5)
    with pytest.raises(ValueError, match="embed_dim=100 is not divisible by num_heads=3"):
        ViTConfig(embed_dim=100, num_heads=3)
    with pytest.raises(ValueError, match="depth must be a positive"):
        replace(ViTConfig(), depth=0)
    with pytest.raises(ValueError, match="Unknown model 'resnet'"):
        build_model("resnet")
    with pytest.raises(TypeError, match="Unknown ViT option"):
        build_model("vit", heads=4)
    with pytest.raises(ValueError, match="Expected 1 channel"):
        build_model("lenet")(torch.randn(1, 3, 28, 28))
    with pytest.raises(ValueError, match="Expected 28x28 images"):
        build_model("vit")(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="Expected 3 channel"):
        build_model("cnn", in_channels=3)(torch.randn(1, 1, 28, 28))
