"""Student edition: exercises come from the solution notebooks, the student copy is current and stops at its
first exercise with a NotImplementedError naming it, and the nbgrader export is well formed."""
import ast
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook

from course_admin import edition, notebooks
from course_admin.grading import stored_checks

FIX = Path(__file__).parent / "fixtures"
COURSE, SUBS = FIX / "course", FIX / "submissions"
MINI = COURSE / "01_mini.ipynb"
ROOT = Path(__file__).resolve().parents[2]
NB_DIR = ROOT / "notebooks"
IDS = ["img_to_patch", "attention", "transformer_block", "lenet_flatten"]


def read(path):
    return nbformat.read(path, as_version=4)


def python_ok(source):
    ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))


# ------------------------------------------------------------------------------------------ exercises
def test_exercises_come_from_the_solution_notebook():
    exs = edition.exercises(read(MINI), "01_mini")
    assert [e.id for e in exs] == IDS
    assert [e.points for e in exs] == [1, 1, 2, 1]  # "# Exercise transformer_block (2 points): ..."
    assert all(e.check_cell == e.cell + 1 and "checks.check_" in e.check_source for e in exs)
    assert edition.exercise_header("\n# Exercise vit: build it") == ("vit", 1, "build it")
    assert edition.exercise_header("# exercise is fun") is None

    nb = new_notebook(cells=[new_code_cell("# Exercise a: x\nx = 1"), new_code_cell("print(x)")])
    with pytest.raises(ValueError, match="not followed by a check cell"):
        edition.exercises(nb, "bad")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("01_a.ipynb", "02_b.ipynb"):
            shutil.copy(MINI, Path(tmp) / name)
        with pytest.raises(ValueError, match="unique across the course"):
            edition.course_exercises(tmp)
        assert list(edition.course_exercises(tmp, ["02_b"])) == ["02_b"]


# ------------------------------------------------------------------------------------ student edition
def test_student_edition_replaces_solutions_and_clears_outputs():
    nb = read(MINI)
    st = edition.student_edition(nb, "notebooks/student/01_mini.ipynb")
    text = json.dumps(st)
    assert "BEGIN SOLUTION" not in text and "16 * 5 * 5" not in text and "permute" not in text
    assert "BEGIN SOLUTION" in json.dumps(nb)  # the solution notebook is untouched
    assert len(st.cells) == len(nb.cells) - 1  # the cell tagged solution-only is gone
    assert st.cells[0].source == notebooks.badge_markdown("notebooks/student/01_mini.ipynb")
    code = [c for c in st.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None and "execution" not in c.metadata for c in code)
    for c in code:
        python_ok(c.source)
    by_id = {edition.exercise_header(c.source)[0]: c.source for c in code if edition.exercise_header(c.source)}
    stub = '# YOUR CODE HERE\n{0}raise NotImplementedError("Exercise {1}: write your code here (see the instructions above)")'
    assert "    B, C, H, W = x.shape\n    P = patch_size\n    " + stub.format("    ", "img_to_patch") in by_id["img_to_patch"]
    assert by_id["transformer_block"].count(stub.format(" " * 8, "transformer_block")) == 2  # __init__ and forward
    assert by_id["lenet_flatten"].endswith("\n" + stub.format("", "lenet_flatten"))
    md = next(c.source for c in st.cells if "sibling link" in c.source)
    assert "[next](02_next.ipynb)" in md and "(../../img/none.png)" in md  # re-pointed from notebooks/student/


def test_strip_solutions_edge_cases():
    src = "x = 1\n"
    assert edition.strip_solutions(src) == src  # untouched, trailing newline kept
    hidden = "# Exercise e: t\nf = 1\n### BEGIN HIDDEN TESTS\nassert f == 1\n### END HIDDEN TESTS"
    assert edition.strip_solutions(hidden, "e") == "# Exercise e: t\nf = 1"
    answer = "Answer:\n### BEGIN SOLUTION\n42\n### END SOLUTION"
    assert edition.strip_solutions(answer, markdown=True) == "Answer:\nYOUR ANSWER HERE"
    for bad, match in [("### BEGIN SOLUTION\nx", "never closed"), ("x\n### END SOLUTION", "without"),
                       ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another")]:
        with pytest.raises(ValueError, match=match):
            edition.strip_solutions(bad, "e")
    with pytest.raises(ValueError, match="outside an exercise cell"):
        edition.strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")


def test_build_writes_checks_and_removes_orphans(tmp_path, capsys):
    src, out = tmp_path / "nbs", tmp_path / "nbs" / "student"
    src.mkdir()
    shutil.copy(MINI, src / "01_mini.ipynb")
    assert edition.build(src, out, check=True) == ["01_mini.ipynb"] and not out.exists()
    assert edition.build(src, out) == ["01_mini.ipynb"]
    assert edition.build(src, out) == [] and edition.main(["student", "--check", "--src", str(src), "--out", str(out)]) == 0
    nb = read(src / "01_mini.ipynb")
    nb.cells[1].source += "\nA new sentence."
    nbformat.write(nb, src / "01_mini.ipynb")
    (out / "09_deleted.ipynb").write_text("{}")
    assert edition.main(["student", "--check", "--src", str(src), "--out", str(out)]) == 1
    assert "01_mini.ipynb, 09_deleted.ipynb" in capsys.readouterr().out
    assert edition.build(src, out) == ["01_mini.ipynb", "09_deleted.ipynb"] and not (out / "09_deleted.ipynb").exists()
    assert "A new sentence." in (out / "01_mini.ipynb").read_text()


def test_committed_student_edition_is_current():
    if not notebooks.notebook_paths():
        pytest.skip("no notebooks yet")
    stale = edition.build(check=True)
    assert not stale, f"stale student edition {stale}: run `python -m course_admin.edition student`"


def first_stop(path, cwd):
    """Execute a student notebook as a student would (stop at the first error): (cell index, ename, evalue)."""
    nb = read(path)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_PROFILE", "quick")
        mp.delenv("COURSE_CHECK_LOG", raising=False)
        with pytest.raises(CellExecutionError):
            client.execute()
    index = next(i for i, c in enumerate(nb.cells) if any(o.output_type == "error" for o in c.get("outputs", [])))
    err = next(o for o in nb.cells[index].outputs if o.output_type == "error")
    return index, err.ename, err.evalue


def assert_stops_at_first_exercise(student_path, cwd):
    st = read(student_path)
    exs = edition.exercises(st)
    index, ename, evalue = first_stop(student_path, cwd)
    assert ename == "NotImplementedError" and evalue.startswith(f"Exercise {exs[0].id}:"), (ename, evalue)
    assert index in (exs[0].cell, exs[0].check_cell)


def test_fixture_student_edition_stops_at_first_exercise(tmp_path):
    edition.build(COURSE, tmp_path)
    assert_stops_at_first_exercise(tmp_path / "01_mini.ipynb", tmp_path)


STUDENT_NBS = sorted((NB_DIR / edition.STUDENT_DIR).glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_NBS, ids=[p.stem for p in STUDENT_NBS])
def test_course_student_edition_stops_at_first_exercise(path):
    if not edition.exercises(read(NB_DIR / path.name), path.stem):
        assert "NotImplementedError" not in path.read_text()
        pytest.skip("no exercises: the student edition runs through like the solution (nbval runs that)")
    assert_stops_at_first_exercise(path, path.parent)


SOLUTION_NBS = notebooks.notebook_paths()


@pytest.mark.parametrize("path", SOLUTION_NBS, ids=[p.stem for p in SOLUTION_NBS])
def test_course_exercises_are_gradable(path):
    """Each exercise has a check whose id matches its header, and the stored solution run passes it."""
    nb = read(path)
    for ex in edition.exercises(nb, path.stem):
        stored = stored_checks(nb.cells[ex.check_cell])
        assert stored.get(ex.id) == "pass", f"{path.name}: check cell {ex.check_cell} should print ✅ PASS [{ex.id}]"


# -------------------------------------------------------------------------------------- nbgrader, CLIs
def test_nbgrader_source_folder(tmp_path):
    (path,) = edition.build_nbgrader(tmp_path, "week1", src=COURSE)
    assert path == tmp_path / "source" / "week1" / "01_mini.ipynb"
    nb = read(path)
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata}
    assert meta["img_to_patch-answer"]["solution"] and not meta["img_to_patch-answer"]["grade"]
    assert meta["transformer_block-check"] == {"schema_version": 3, "task": False, "grade": True, "solution": False,
                                               "locked": True, "points": 2, "grade_id": "transformer_block-check"}
    checks_ = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks_) == 4 and all("\nassert (checks.check_" in s for s in checks_)
    for s in checks_:
        python_ok(s)
    assert "### BEGIN SOLUTION" in json.dumps(nb)  # nbgrader's generate_assignment strips them itself


def test_edition_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        edition.main(["--help"])
    assert e.value.code == 0 and "usage: python -m course_admin.edition" in capsys.readouterr().out


def test_exercise_header_is_linear_time():
    """A 1 MB first line without a colon used to take minutes in the header regex (quadratic backtracking)."""
    import time

    for line in ["# Exercise a" + " " * 1_000_000 + "x", "# Exercise a" + " " * 500_000 + "(2 points" + " " * 500_000]:
        start = time.perf_counter()
        assert edition.exercise_header(line) is None
        assert time.perf_counter() - start < 2
    assert edition.exercise_header("# Exercise b (3 points) : task") == ("b", 3, "task")
