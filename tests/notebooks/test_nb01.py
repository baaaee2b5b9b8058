"""Notebook 01_patches: its figures, its exercises' checks, and the exercises' student edition."""
import itertools
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest
import torch
import torch.nn.functional as F

from course_admin import edition
from course_utils import checks, plots
from course_utils.patches import img_to_patch

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_patches.ipynb"
SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION\n?", re.S)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --- figures ------------------------------------------------------------------------------------------
def test_plot_patch_sizes():
    image = torch.rand(1, 28, 28)
    fig = plots.plot_patch_sizes(image, (2, 7, 28))
    assert len(fig.axes) == 6                                            # image + tokens per patch size
    assert "196 tokens x 4 values" in fig.axes[0].get_title()
    assert "1 token x 784 values" in fig.axes[2].get_title()
    assert fig.axes[4].images[0].get_array().shape == (16, 49)           # (N, C*P*P) for P = 7
    assert len(plots.plot_patch_sizes(image[0], (7,)).axes) == 2         # one size (the slider), (H, W) input


def test_plot_token_tiles_draws_tokens_back_as_tiles():
    image = torch.rand(1, 1, 28, 28)
    fig = plots.plot_token_tiles({"a": img_to_patch(image, 7)[0], "b": torch.rand(16, 49)}, 7)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (4 * 8 - 1, 4 * 8 - 1)                        # 4x4 tiles, a 1-pixel gap between
    assert torch.allclose(torch.as_tensor(canvas[8:15, 16:23].filled(0)).float(), image[0, 0, 7:14, 14:21])
    fig = plots.plot_token_tiles({"rgb": img_to_patch(torch.rand(1, 3, 8, 12), 4)[0]}, 4, grid=(2, 3), channels=3)
    assert fig.axes[0].images[0].get_array().shape == (9, 14)
    with pytest.raises(ValueError, match="grid"):
        plots.plot_token_tiles({"x": torch.rand(6, 16)}, 4)


# --- the img_to_patch check catches every wrong permute order -----------------------------------------
def permuted(order):
    def cut(x, P):
        B, C, H, W = x.shape
        x = x.reshape(B, C, H // P, P, W // P, P).permute(*order)
        return x.reshape(B, (H // P) * (W // P), C * P * P)
    return cut


def test_check_img_to_patch_catches_every_wrong_permute(capsys):
    right = (0, 2, 4, 1, 3, 5)
    assert checks.check_img_to_patch(permuted(right)).passed
    for rest in itertools.permutations(range(1, 6)):
        order = (0, *rest)
        if order != right:
            assert not checks.check_img_to_patch(permuted(order)).passed, order
    capsys.readouterr()


def test_check_img_to_patch_accepts_the_unfold_ways():
    assert checks.check_img_to_patch(lambda x, P: F.unfold(x, P, stride=P).transpose(1, 2)).passed
    assert checks.check_img_to_patch(
        lambda x, P: x.unfold(2, P, P).unfold(3, P, P).permute(0, 2, 3, 1, 4, 5).flatten(1, 2).flatten(2)).passed


# --- the notebook's exercises ---------------------------------------------------------------------------
def exercise_cells():
    if not NOTEBOOK.exists():
        pytest.skip("notebook not written yet")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    return [(ex.id, nb.cells[ex.cell].source, ex.check_source) for ex in edition.exercises(nb, NOTEBOOK.stem)]


def test_exercises_are_marked_and_followed_by_their_check():
    found = exercise_cells()
    assert [e for e, _, _ in found] == ["img_to_patch_hwc", "patch_embedding"]
    for exercise_id, source, check in found:
        match = SOLUTION.search(source)
        assert match and len(match.group(1)) >= 4, f"{exercise_id}: the solution must sit inside a function body"
        # a bare call (course_utils.edition's nbgrader export wraps it in `assert`); no `;` for now: nbval runs
        # cells with store_history=False, and IPython 8.12 then ignores the `;` (the stored output would differ)
        assert check.splitlines()[0] == "# NBVAL_CHECK_OUTPUT"
        assert re.fullmatch(rf"checks\.check_{exercise_id}\(my_{exercise_id}\);?", check.splitlines()[1])
        assert edition.assert_check(check).endswith(f'assert (checks.check_{exercise_id}(my_{exercise_id})), '
                                                    f'"the self-check above did not pass"')


@pytest.mark.parametrize("student", [False, True])
def test_solutions_pass_and_the_student_edition_stops_at_the_check(capsys, student):
    for exercise_id, source, _ in exercise_cells():
        if student:  # what the student edition generator does
            source = SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()\n", source)
        namespace = {"torch": torch, "F": F, "img_to_patch": img_to_patch}
        exec(source, namespace)
        check = getattr(checks, f"check_{exercise_id}")
        if student:
            with pytest.raises(NotImplementedError):
                check(namespace[f"my_{exercise_id}"])
            assert f"FAIL [{exercise_id}] not implemented yet" in capsys.readouterr().out
        else:
            assert check(namespace[f"my_{exercise_id}"]).passed
