"""Student edition and grader.

The student edition is current and stops at its first exercise with a NotImplementedError naming it; the
grader gives the right marks and flags to the solution, the untouched student edition and broken work
(tests/admin/fixtures/submissions, made by tests/admin/fixtures/make_fixtures.py from tests/admin/fixtures/course/01_mini.ipynb).
"""
import ast
import csv
import json
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_admin import edition, grade, notebooks

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
    assert edition.strip_solutions("Answer:\n### BEGIN SOLUTION\n42\n### END SOLUTION", markdown=True) == "Answer:\nYOUR ANSWER HERE"
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
        stored = grade._stored_checks(nb.cells[ex.check_cell])
        assert stored.get(ex.id) == "pass", f"{path.name}: check cell {ex.check_cell} should print ✅ PASS [{ex.id}]"


# ---------------------------------------------------------------------------------------- grading
# case: (scores for img_to_patch, attention, transformer_block (2 points), lenet_flatten), flags expected
EXPECTED = {
    "solution": ((1, 1, 2, 1), set()),
    "student_edition": ((0, 0, 0, 0), {"not_executed", "run_error"}),
    "wrong_patch_order": ((0, 1, 2, 1), set()),
    "no_attention_scale": ((1, 0, 2, 1), set()),
    "shared_layernorm": ((1, 1, 0, 1), set()),
    "infinite_loop": ((1, 0, 2, 1), {"timeout", "stored_error"}),
    "syntax_error": ((1, 1, 0, 1), {"run_error", "stored_error"}),
    "deleted_check_cell": ((1, 0, 2, 1), {"check_missing"}),
    "corrupt_file": ((0, 0, 0, 0), {"corrupt"}),
    "out_of_order": ((1, 1, 2, 1), {"out_of_order"}),
    "forged_check": ((1, 0, 2, 1), {"foreign_result"}),
    "kernel_dies": ((1, 1, 0, 0), {"kernel_died", "not_executed"}),
    "nothing_handed_in": ((0, 0, 0, 0), {"missing_notebook"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    subs = tmp_path_factory.mktemp("grading") / "submissions"
    shutil.copytree(SUBS, subs)
    (subs / "nothing_handed_in").mkdir()
    before = sorted(p.relative_to(subs).as_posix() for p in subs.rglob("*"))
    results = grade.grade(subs, solutions=COURSE, timeout=10, notebook_timeout=240, jobs=2, quiet=True)
    after = sorted(p.relative_to(subs).as_posix() for p in subs.rglob("*"))
    return subs, {r.student: r for r in results}, before, after


@pytest.mark.parametrize("case", EXPECTED)
def test_grader_marks_and_flags(graded, case):
    _, results, _, _ = graded
    scores, flags = EXPECTED[case]
    (nb,) = results[case].notebooks
    assert tuple(e.score for e in nb.exercises) == scores, [(e.exercise, e.status, e.message) for e in nb.exercises]
    assert {f.code for f in nb.flags} == flags, nb.flags
    assert results[case].max_total == 5


def test_grader_explains_each_mark(graded):
    _, results, _, _ = graded
    status = {case: {e.exercise: (e.status, e.message) for e in r.notebooks[0].exercises} for case, r in results.items()}
    assert {s for s, _ in status["student_edition"].values()} == {"not implemented"}
    assert "wrong order" in status["wrong_patch_order"]["img_to_patch"][1]
    assert "not scaled" in status["no_attention_scale"]["attention"][1]
    assert "shared" in status["shared_layernorm"]["transformer_block"][1]
    assert status["infinite_loop"]["attention"][0] == "timeout"
    assert status["syntax_error"]["transformer_block"] == ("error", "check cell raised NameError: name 'MyBlock' is not defined")
    assert status["deleted_check_cell"]["attention"][0] == "missing check"
    assert status["forged_check"]["attention"][0] == "fail"  # the forged PASS from another cell does not count
    assert status["kernel_dies"]["transformer_block"][0] == "not run"


def test_gradebook_and_reports(graded):
    subs, results, before, after = graded
    added = sorted(set(after) - set(before))
    assert added == ["gradebook.csv", "grades.json", "reports"] + [f"reports/{c}.md" for c in sorted(EXPECTED)]
    with open(subs / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["student"] for r in rows] == sorted(EXPECTED)
    assert list(rows[0]) == ["student", *IDS, "total", "max", "flags"]
    for row in rows:
        scores, flags = EXPECTED[row["student"]]
        assert [int(row[i]) for i in IDS] == list(scores) and int(row["total"]) == sum(scores) and row["max"] == "5"
        assert all(code in row["flags"] for code in flags) and bool(row["flags"]) == bool(flags)
    data = {d["student"]: d for d in json.loads((subs / "grades.json").read_text())}
    assert data["solution"]["total"] == 5 and data["corrupt_file"]["notebooks"][0]["flags"][0]["code"] == "corrupt"
    report = (subs / "reports" / "infinite_loop.md").read_text()
    assert report.startswith("# infinite_loop: 4 / 5 points") and "**timeout**" in report


def test_a_cell_that_ignores_the_interrupt_is_killed(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell(
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass"),
        new_code_cell("y = 2")])
    runs, flags, _ = grade.run_notebook(nb, tmp_path, timeout=2, kill_after=2)
    assert [runs[i].status for i in range(3)] == ["ok", "killed", "not run"]
    assert [f.code for f in flags] == ["killed"]


# ------------------------------------------------------------------------------- the file as submitted
def executed(counts, errors=()):
    nb = new_notebook(cells=[new_markdown_cell("# title")] + [new_code_cell(f"x = {i}") for i in range(len(counts))])
    for cell, n in zip(nb.cells[1:], counts):
        cell.execution_count = n
    for i in errors:
        nb.cells[i].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="", traceback=[])]
    return nb


@pytest.mark.parametrize("counts,errors,codes", [
    ([1, 2, 3], (), []),
    ([1, 3, 2], (), ["out_of_order"]),
    ([1, 2, 2], (), ["out_of_order"]),
    ([4, 5, 6], (), ["not_fresh_run"]),
    ([1, None, 3], (), ["not_executed", "not_fresh_run"]),
    ([None, None, None], (), ["not_executed"]),
    ([1, 2, 3], (2,), ["stored_error"]),
])
def test_inspect_submitted(counts, errors, codes):
    g = grade.NotebookGrade("nb")
    grade.inspect_submitted(executed(counts, errors), g)
    assert [f.code for f in g.flags] == codes


def test_find_submissions(tmp_path):
    (tmp_path / "ann" / "work" / ".ipynb_checkpoints").mkdir(parents=True)
    (tmp_path / "ann" / "work" / "Copy of 01_mini.ipynb").write_text("{}")
    (tmp_path / "ann" / "work" / ".ipynb_checkpoints" / "01_mini-checkpoint.ipynb").write_text("{}")
    (tmp_path / "bob").mkdir()
    for name in ("01_mini.ipynb", "01_mini (1).ipynb"):
        (tmp_path / "bob" / name).write_text("{}")
    (tmp_path / "reports").mkdir()
    found = grade.find_submissions(tmp_path, ["01_mini", "02_other"], skip={(tmp_path / "reports").resolve()})
    assert set(found) == {"ann", "bob"}
    assert [p.name for p in found["ann"]["01_mini"]] == ["Copy of 01_mini.ipynb"] and found["ann"]["02_other"] == []
    assert [p.name for p in found["bob"]["01_mini"]] == ["01_mini.ipynb"]  # an exact name wins
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "carl.ipynb").write_text("{}")
    assert grade.find_submissions(flat, ["01_mini"]) == {"carl": {"01_mini": [flat / "carl.ipynb"]}}
    with pytest.raises(SystemExit, match="one-notebook assignment"):
        grade.find_submissions(flat, ["01_mini", "02_other"])


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


@pytest.mark.parametrize("main", [edition.main, grade.main])
def test_cli_help(main, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "usage: python -m course_utils." in capsys.readouterr().out


def test_instructor_readme_explains_every_flag():
    readme = (NB_DIR / edition.STUDENT_DIR / "README.md").read_text()
    assert all(f"`{code}`" in readme for code in grade.FLAGS), [c for c in grade.FLAGS if f"`{c}`" not in readme]
