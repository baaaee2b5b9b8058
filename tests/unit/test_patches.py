import pytest
import torch

from course_utils.patches import PatchEmbedding, img_to_patch, patch_to_img


def test_img_to_patch_shapes():
    x = torch.randn(2, 3, 28, 28)
    assert img_to_patch(x, 7).shape == (2, 16, 3 * 7 * 7)                 # (B, N, C*P*P)
    assert img_to_patch(x, 7, flatten=False).shape == (2, 16, 3, 7, 7)    # (B, N, C, P, P)
    assert img_to_patch(torch.randn(1, 1, 8, 12), 4).shape == (1, 6, 16)  # non-square image


def test_patches_are_read_row_by_row_and_hold_the_right_pixels():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    patches = img_to_patch(x, 2)
    # top-left, top-right, bottom-left, bottom-right
    assert patches[0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    # each token equals the slice of the image it comes from
    x = torch.randn(2, 3, 12, 8)
    grid = img_to_patch(x, 4, flatten=False)  # (B, N, C, P, P), 3 rows x 2 columns of patches
    assert torch.equal(grid[:, 3], x[:, :, 4:8, 4:8])


@pytest.mark.parametrize("shape,P", [((2, 1, 28, 28), 7), ((3, 3, 32, 32), 4), ((1, 2, 6, 9), 3)])
def test_round_trip(shape, P):
    x = torch.randn(shape)
    assert torch.equal(patch_to_img(img_to_patch(x, P), P, shape[2:], channels=shape[1]), x)
    assert torch.equal(patch_to_img(img_to_patch(x, P, flatten=False), P, shape[2:]), x)


def test_linear_and_conv_patch_embedding_are_equal():
    torch.manual_seed(0)
    linear = PatchEmbedding(image_size=28, patch_size=7, in_channels=3, embed_dim=32, method="linear")
    conv = PatchEmbedding(image_size=28, patch_size=7, in_channels=3, embed_dim=32, method="conv")
    with torch.no_grad():
        conv.proj.weight.copy_(PatchEmbedding.linear_to_conv(linear.proj.weight, 3, 7))
        conv.proj.bias.copy_(linear.proj.bias)
    x = torch.randn(4, 3, 28, 28)
    a, b = linear(x), conv(x)
    assert a.shape == (4, 16, 32)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # and the reference: a Linear applied to every flattened patch
    torch.testing.assert_close(a, img_to_patch(x, 7) @ linear.proj.weight.T + linear.proj.bias)


def test_patch_size_must_divide_image():
    with pytest.raises(ValueError, match="not divisible by patch size 5.*e.g. one of"):
        img_to_patch(torch.randn(1, 1, 28, 28), 5)
    with pytest.raises(ValueError, match="not divisible"):
        PatchEmbedding(image_size=28, patch_size=6, in_channels=1, embed_dim=8)


def test_wrong_input_is_explained():
    emb = PatchEmbedding(image_size=28, patch_size=7, in_channels=1, embed_dim=8)
    with pytest.raises(ValueError, match="Expected 1 channel"):
        emb(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="Expected 28x28 images, got 32x32"):
        emb(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="unsqueeze"):
        emb(torch.randn(1, 28, 28))
    with pytest.raises(ValueError, match="method"):
        PatchEmbedding(image_size=28, patch_size=7, in_channels=1, embed_dim=8, method="mlp")
