"""ViTConfig's ablation options of notebook 07: pos_embed ("learned", "sincos", "none") and pool ("cls", "mean")."""
import math

import pytest
import torch

from course_utils import VisionTransformer, ViTConfig, build_model
from course_utils.vit import sincos_pos_embed

SMALL = dict(embed_dim=16, depth=2, num_heads=2)


def test_defaults_are_the_plain_vit_bit_for_bit():
    torch.manual_seed(0)
    plain = VisionTransformer(ViTConfig(**SMALL))
    torch.manual_seed(0)
    spelled = VisionTransformer(ViTConfig(**SMALL, pos_embed="learned", pool="cls"))
    for (n1, p1), (n2, p2) in zip(plain.state_dict().items(), spelled.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(plain(x), spelled(x))
    assert isinstance(plain.pos_embed, torch.nn.Parameter)


@pytest.mark.parametrize("pos_embed", ["learned", "sincos", "none"])
@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_every_option_keeps_the_contract_and_the_attention_shapes(pos_embed, pool):
    torch.manual_seed(1)
    model = build_model("vit", patch_size=4, pos_embed=pos_embed, pool=pool, **SMALL).eval()
    x = torch.randn(2, 1, 28, 28)
    logits, maps = model(x, return_attention=True)
    assert logits.shape == (2, 10) and len(maps) == 2 and maps[0].shape == (2, 2, 50, 50)
    torch.testing.assert_close(logits, model(x), atol=1e-5, rtol=1e-5)
    logits.sum().backward()                                          # trains


def test_sincos_values_by_hand():
    # grid 2x2, D = 8: quarter = 2, frequencies w = (1, 1/100); patch 3 sits at row 1, column 1
    table = sincos_pos_embed(2, 8)
    assert table.shape == (1, 5, 8)
    assert torch.equal(table[0, 0], torch.zeros(8))                  # the class token gets no position
    s1, c1, s100, c100 = math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)
    expected = torch.tensor([
        [0, 0, 1, 1, 0, 0, 1, 1],                                    # patch 0: row 0, column 0
        [0, 0, 1, 1, s1, s100, c1, c100],                            # patch 1: row 0, column 1
        [s1, s100, c1, c100, 0, 0, 1, 1],                            # patch 2: row 1, column 0
        [s1, s100, c1, c100, s1, s100, c1, c100],                    # patch 3: row 1, column 1
    ])
    torch.testing.assert_close(table[0, 1:], expected)


def test_sincos_is_a_fixed_buffer_and_none_adds_nothing():
    model = VisionTransformer(ViTConfig(**SMALL, pos_embed="sincos"))
    assert "pos_embed" not in dict(model.named_parameters()) and "pos_embed" not in model.state_dict()
    torch.testing.assert_close(model.pos_embed, sincos_pos_embed(4, 16))
    bag = VisionTransformer(ViTConfig(**SMALL, pos_embed="none")).eval()
    assert bag.pos_embed is None
    x = torch.randn(1, 1, 28, 28)
    # without positions and with mean pooling the output cannot depend on where the patches are
    mean_bag = VisionTransformer(ViTConfig(**SMALL, pos_embed="none", pool="mean")).eval()
    shuffled = x.reshape(1, 1, 4, 7, 4, 7).flip(2).reshape(1, 1, 28, 28)   # the rows of patches upside down
    torch.testing.assert_close(mean_bag(x), mean_bag(shuffled), atol=1e-5, rtol=1e-5)


def test_mean_pooling_averages_the_patch_tokens():
    torch.manual_seed(2)
    model = VisionTransformer(ViTConfig(**SMALL, pool="mean")).eval()
    x = torch.randn(2, 1, 28, 28)
    tokens = model.embed(x)
    for block in model.blocks:
        tokens = block(tokens)
    torch.testing.assert_close(model(x), model.head(model.norm(tokens[:, 1:].mean(1))))


def test_bad_options_are_explained():
    with pytest.raises(ValueError, match="choose 'learned', 'sincos' or 'none'"):
        ViTConfig(pos_embed="rope")
    with pytest.raises(ValueError, match="pool='max'"):
        ViTConfig(pool="max")
    with pytest.raises(ValueError, match="divisible by 4"):
        ViTConfig(embed_dim=18, num_heads=2, pos_embed="sincos")
