import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import MultiHeadSelfAttention, merge_heads, scaled_dot_product_attention, split_heads


def test_sdpa_equals_pytorch_and_weights_are_distributions():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 9, 16), torch.randn(2, 4, 11, 16), torch.randn(2, 4, 11, 8)
    out, w = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 4, 9, 8) and w.shape == (2, 4, 9, 11)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 4, 9))
    torch.testing.assert_close(w, (q @ k.transpose(-2, -1) / math.sqrt(16)).softmax(-1))


def test_sdpa_masks_equal_pytorch():
    torch.manual_seed(1)
    q, k, v = torch.randn(3, 5, 8), torch.randn(3, 5, 8), torch.randn(3, 5, 8)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    out, w = scaled_dot_product_attention(q, k, v, mask=causal)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=causal), atol=1e-5, rtol=1e-5)
    assert torch.all(w.triu(1) == 0)


def test_split_merge_heads():
    x = torch.randn(2, 7, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 7, 4)
    assert torch.equal(heads[:, 1], x[:, :, 4:8])  # head 1 holds channels 4..7 of every token
    assert torch.equal(merge_heads(heads), x)


@pytest.mark.parametrize("return_attention", [False, True])
def test_mhsa_equals_nn_multiheadattention(return_attention):
    torch.manual_seed(2)
    D, h = 32, 4
    ref = nn.MultiheadAttention(D, h, batch_first=True)
    ours = MultiHeadSelfAttention(embed_dim=D, num_heads=h).load_from_torch(ref)
    x = torch.randn(3, 17, D)
    expected, expected_w = ref(x, x, x, need_weights=True, average_attn_weights=False)
    if return_attention:
        out, w = ours(x, return_attention=True)
        assert w.shape == (3, h, 17, 17)
        torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=1e-5)
    else:
        out = ours(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_fused_and_manual_paths_agree_in_gradients():
    torch.manual_seed(3)
    attn = MultiHeadSelfAttention(embed_dim=16, num_heads=2)
    x = torch.randn(2, 5, 16, requires_grad=True)
    attn(x).sum().backward()
    g_fused = x.grad.clone()
    x.grad = None
    attn(x, return_attention=True)[0].sum().backward()
    torch.testing.assert_close(x.grad, g_fused, atol=1e-5, rtol=1e-5)


def test_heads_must_divide_width():
    with pytest.raises(ValueError, match="not divisible by num_heads=5.*Choose num_heads in"):
        MultiHeadSelfAttention(embed_dim=64, num_heads=5)
    with pytest.raises(ValueError, match="Sizes differ"):
        MultiHeadSelfAttention(embed_dim=16, num_heads=2).load_from_torch(nn.MultiheadAttention(16, 4))
