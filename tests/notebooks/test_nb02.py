"""Notebook 02_attention: its exercises, their checks (against the notebook's own solutions and the classic
mistakes made from them), the student edition, and `plots.plot_attention_grid`, which the notebook adds."""
import math
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_admin import edition
from course_utils import checks, plots

matplotlib.use("Agg")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_attention.ipynb"
EXERCISES = {  # exercise id -> the check its check cell calls
    "attention": "check_attention",
    "split_merge_heads": "check_split_heads",
    "multi_head_attention": "check_multi_head_attention",
}
SOLUTION = re.compile(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S)


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def exercise_cells(nb):
    """{exercise id: (exercise cell source, the check cell's source)}."""
    return {ex.id: (nb.cells[ex.cell].source, ex.check_source) for ex in edition.exercises(nb, NOTEBOOK.stem)}


def run_exercises(sources):
    """Execute exercise cells (in notebook order) in a namespace with the notebook's imports."""
    ns = {"math": math, "torch": torch, "F": F, "nn": nn}
    for src in sources:
        exec(compile(src, "<exercise>", "exec"), ns)
    return ns


def student_edition(src):
    return SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()", src)


def test_exercise_cells_are_marked_and_followed_by_their_check(nb):
    cells = exercise_cells(nb)
    assert list(cells) == list(EXERCISES)
    for exercise, (src, check_src) in cells.items():
        assert "### BEGIN SOLUTION" in src and "### END SOLUTION" in src
        assert check_src.startswith("# NBVAL_CHECK_OUTPUT\n") and f"checks.{EXERCISES[exercise]}(" in check_src
        # the solution sits inside a function or method body, so the student edition still defines the names
        for m in SOLUTION.finditer(src):
            assert len(m.group(1)) >= 4


def test_solutions_pass_their_checks(nb, capsys):
    ns = run_exercises(src for src, _ in exercise_cells(nb).values())
    assert checks.check_attention(ns["my_attention"]).passed
    assert checks.check_split_heads(ns["my_split_heads"], ns["my_merge_heads"]).passed
    assert checks.check_multi_head_attention(ns["MyMultiHeadSelfAttention"](embed_dim=32, num_heads=4)).passed
    assert capsys.readouterr().out.count("✅ PASS") == 3


@pytest.mark.parametrize("old,new,hint", [
    (" / math.sqrt(d)", "", "not scaled"),                                   # the missing scale
    ("softmax(dim=-1)", "softmax(dim=-2)", "runs over the queries"),        # softmax over the queries
    ("/ math.sqrt(d)", "/ d", "divided by d"),
])
def test_attention_check_catches_mistakes_made_from_the_notebook_solution(nb, old, new, hint):
    src = exercise_cells(nb)["attention"][0]
    assert old in src
    ns = run_exercises([src.replace(old, new)])
    result = checks.check_attention(ns["my_attention"])
    assert not result.passed and hint in result.message


def test_split_merge_check_catches_a_missing_transpose(nb):
    src = exercise_cells(nb)["split_merge_heads"][0]
    wrong = src.replace("x.reshape(B, N, num_heads, D // num_heads).transpose(1, 2)",
                        "x.reshape(B, num_heads, N, D // num_heads)")
    assert wrong != src
    result = checks.check_split_heads(run_exercises([wrong])["my_split_heads"])
    assert not result.passed and "hands whole token" in result.message


def test_multi_head_check_catches_a_missing_projection(nb):
    cells = exercise_cells(nb)
    src = cells["multi_head_attention"][0]
    wrong = src.replace("return self.proj(my_merge_heads(out))", "return my_merge_heads(out)")
    assert wrong != src
    ns = run_exercises([cells["attention"][0], cells["split_merge_heads"][0], wrong])
    assert not checks.check_multi_head_attention(ns["MyMultiHeadSelfAttention"](embed_dim=32, num_heads=4)).passed


def test_student_edition_runs_up_to_each_check_and_stops_there(nb, capsys):
    cells = exercise_cells(nb)
    ns = run_exercises(student_edition(src) for src, _ in cells.values())
    calls = [lambda: checks.check_attention(ns["my_attention"]),
             lambda: checks.check_split_heads(ns["my_split_heads"], ns["my_merge_heads"]),
             lambda: checks.check_multi_head_attention(ns["MyMultiHeadSelfAttention"](embed_dim=32, num_heads=4))]
    for exercise, call in zip(EXERCISES, calls):
        with pytest.raises(NotImplementedError):
            call()
        assert f"❌ FAIL [{exercise}] not implemented yet" in capsys.readouterr().out


def test_committed_notebook_is_clean(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "execute the notebook top to bottom"
    assert [c.execution_count for c in code] == sorted(c.execution_count for c in code)
    for c in code:
        for out in c.get("outputs", []):
            assert out.output_type != "error", c.source[:80]
            text = str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/(work|root|tmp|home)/", text), c.source[:80]


# --- plots.plot_attention_grid ------------------------------------------------------------------------
def test_plot_attention_grid_layouts():
    image = torch.rand(1, 28, 28)
    with_cls = torch.rand(4, 50, 50).softmax(-1)                   # (h, N+1, N+1), patch size 4
    fig = plots.plot_attention_grid(image, with_cls, 4, queries=[0, 1, 49])
    assert len(fig.axes) == 3 * 4 + 1                              # the panels and one shared colour bar
    assert fig.axes[0].get_ylabel() == "query: class token" and fig.axes[4].get_ylabel() == "query: patch 0"
    no_cls = torch.rand(16, 16).softmax(-1)                        # (N, N), patch size 7
    fig = plots.plot_attention_grid(image[0], no_cls, 7, queries=[3, 5], heads=[0])
    assert len(fig.axes) == 2 + 1 and fig.axes[1].get_title() == "query: patch 5"     # + the colour bar
    matplotlib.pyplot.close("all")


def test_plot_attention_grid_rejects_a_mismatched_patch_size():
    with pytest.raises(ValueError, match="49 patches"):
        plots.plot_attention_grid(torch.rand(28, 28), torch.rand(4, 17, 17), 4, queries=[0])
