"""The grader's parts, without running kernels: splicing, the code scan, finding submissions, written questions."""
import copy
import os

import nbformat
import pytest
from classroom import COURSE, NAME, NON_UTF8, SUBS
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_admin import edition, grade
from course_admin.grading import collect, gradebook, model, scan, splice
from course_admin.grading.notebook import inspect_submitted

MINI = COURSE / NAME


def read(path):
    return nbformat.read(path, as_version=4)


def exercises():
    return edition.exercises(read(MINI), "01_mini")


# ------------------------------------------------------------------------------------------- splicing
def test_splice_runs_the_students_regions_inside_the_instructors_cells():
    inst, student = read(MINI), read(SUBS / "wrong_patch_order" / NAME)
    student.cells[3].source += "\nimport os  # an edit to the imports cell"
    sp = splice.splice(inst, student, exercises())
    cell = sp.nb.cells[sp.exercise_cells["img_to_patch"]].source
    assert "x.permute(0, 4, 2, 1, 3, 5)" in cell and cell.startswith("# Exercise img_to_patch:")
    kept = [c for c in inst.cells if edition.SOLUTION_ONLY_TAG not in c.metadata.get("tags", [])]
    assert len(kept) == len(inst.cells) - 1 == len(sp.nb.cells)  # the solution-only cell is not graded
    assert all(c.source == kept[i].source for i, c in enumerate(sp.nb.cells) if i not in sp.exercise_cells.values())
    assert sp.edits == ["cell changed: `import torch`"] and sp.missing == []
    first, last = sp.region_lines["img_to_patch"][0]
    assert cell.splitlines()[first - 1:last] == student.cells[5].source.splitlines()[4:]


def test_untouched_student_edition_splices_the_stubs():
    sp = splice.splice(read(MINI), read(SUBS / "student_edition" / NAME), exercises())
    assert sp.edits == [] and not any(sp.attempted.values()) and sp.fingerprint == ""
    assert sp.nb.cells[sp.exercise_cells["attention"]].source.count("raise NotImplementedError") == 1


def test_regions_survive_a_changed_line_between_them():
    inst = next(c.source for c in read(MINI).cells if c.source.startswith("# Exercise transformer_block"))
    mine = ("# Exercise transformer_block (2 points): a Pre-LN block with two LayerNorms\n"
            "class MyBlock(nn.Module):\n    def __init__(self, embed_dim, num_heads, mlp_ratio=2.0):\n"
            "        super().__init__()\n        self.a = 1\n\n    def forward(self, x, mask=None):\n        return x\n")
    regions, edits = splice.student_regions(inst, mine)
    assert [r for r in regions] == [["        self.a = 1", ""], ["        return x"]]
    assert edits == ["line changed: `def forward(self, x):` (the original ran)"]


def test_check_cells_match_by_their_call_not_their_comments():
    base = "# NBVAL_CHECK_OUTPUT\nchecks.check_attention(my_attention);"
    assert splice.code_key(base) == splice.code_key("%%time\n# mine\n\nchecks.check_attention(my_attention)  # x")
    assert splice.code_key(base) != splice.code_key("checks.check_attention(scaled_dot_product_attention)")
    assert splice.code_key("x = (") == "x = ("  # unparsable: compared as text


def test_splicing_a_huge_line_takes_no_time():
    import time

    student = read(SUBS / "solution" / NAME)
    cell = next(c for c in student.cells if c.source.startswith("# Exercise attention"))
    long_line = "    weights = 1 or ((" + "1" * 1_000_000 + "))\n"
    cell.source = cell.source.replace("    weights =", long_line + "    weights =")
    start = time.perf_counter()
    splice.splice(read(MINI), student, exercises())
    assert time.perf_counter() - start < 10


# --------------------------------------------------------------------------------------------- the scan
CLEAN = "def f(q, k, v):\n    s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5\n    return s.softmax(-1) @ v, s\n"


@pytest.mark.parametrize("code,what", [
    ("import os\nx = os.environ['COURSE_CHECK_LOG']", "uses .environ"),
    ("import sys\nsys.modules['x'] = None", "uses .modules"),
    ("import builtins", "imports builtins"),
    ("__builtins__['len'] = None", "uses __builtins__"),
    ("import gc\ngc.get_objects()", "imports gc"),
    ("open('/proc/1/environ').read()", "names '/proc/1/environ'"),
    ("checks.check_attention = None", "uses checks"),
    ("torch.allclose = lambda *a, **k: True", "changes torch.allclose (an imported module)"),
    ("from course_utils.attention import scaled_dot_product_attention as f",
     "imports the reference scaled_dot_product_attention"),
    ("exec('x = 1')", "uses exec"),
    ("getattr(torch, 'all' + 'close')", "getattr with a computed name"),
    ("!rm -rf /", "uses get_ipython"),
    ("import subprocess", "imports subprocess"),
])
def test_scan_flags_what_an_instructor_should_read(code, what):
    src = CLEAN + code + "\n"
    found = scan.suspicious(src, [(1, src.count("\n"))], references={"scaled_dot_product_attention"})
    assert what in [w for _, w in found], found


def test_scan_passes_honest_code_and_looks_only_inside_regions():
    assert scan.suspicious(CLEAN, [(1, 3)], references={"scaled_dot_product_attention"}) == []
    src = "import os\n" + CLEAN
    assert scan.suspicious(src, [(2, 4)]) == []  # the import is the instructor's line
    assert scan.suspicious("x = (", [(1, 1)]) == []  # a cell that does not parse runs nothing


def test_reference_names_come_from_the_check_minus_the_instructors_own_solution():
    exs = {e.id: e for e in exercises()}
    assert scan.reference_names(exs["img_to_patch"].check_source) == {"img_to_patch"}
    assert scan.reference_names(exs["attention"].check_source) == {"scaled_dot_product_attention"}
    from course_admin.grading.notebook import _references

    inst = read(MINI)
    cell = copy.deepcopy(inst.cells[exs["img_to_patch"].cell])
    assert _references(exs["img_to_patch"], cell) == {"img_to_patch"}
    cell.metadata["course"] = {"allow_reference": True}
    assert _references(exs["img_to_patch"], cell) == set()
    cell.metadata["course"] = {"reference": ["patches"]}
    assert _references(exs["img_to_patch"], cell) == {"img_to_patch", "patches"}


# ----------------------------------------------------------------------------------- finding submissions
def test_collect_lists_everything_it_does_not_grade(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "subs" / "graded"
    for d in ("ann/work/.ipynb_checkpoints", "bob", "reports", NON_UTF8, "graded"):
        (subs / d).mkdir(parents=True)
    (subs / "ann" / "work" / "Copy of 01_mini.ipynb").write_text("{}")
    (subs / "ann" / "work" / ".ipynb_checkpoints" / "01_mini-checkpoint.ipynb").write_text("{}")
    (subs / "ann" / "notes.txt").write_text("hi")
    for name in ("01_mini.ipynb", "01_mini (1).ipynb"):
        (subs / "bob" / name).write_text("{}")
    (subs / "bob" / "02_othr.ipynb").write_text("{}")
    (subs / "reports" / NAME).write_text("{}")
    (subs / NON_UTF8 / NAME).write_text("{}")
    (subs / "carl.ipynb").write_text("{}")
    (subs / "class.zip").write_bytes(b"PK")
    (subs / "dana").symlink_to(subs / "bob")
    found, skipped = collect.collect(subs, ["01_mini", "02_other"], out)
    assert [s.student for s in found] == ["ann", "bob", "caf\\xe9_latin1", "reports"]
    by = {s.student: s for s in found}
    assert [p.name for p in by["ann"].files["01_mini"]] == ["Copy of 01_mini.ipynb"]
    assert sorted(p.name for p in by["bob"].files["01_mini"]) == ["01_mini (1).ipynb", "01_mini.ipynb"]
    assert dict(by["ann"].skipped) == {"notes.txt": "not a notebook", "work/.ipynb_checkpoints/": "hidden or a checkpoint folder"}
    assert dict(by["bob"].skipped) == {"02_othr.ipynb": "no notebook of this name (did you mean 02_other?)"}
    assert dict(skipped) == {
        "carl.ipynb": "a notebook at the top level of a several-notebook assignment: put it in a folder named by the student",
        "class.zip": "a zip archive at the top level: unzip it into one folder per student",
        "dana": "a symbolic link: not followed", "graded": "the grader's output folder"}
    assert by["caf\\xe9_latin1"].key.startswith("caf_xe9_latin1-") and by["reports"].key == "reports"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "carl.ipynb").write_text("{}")
    (found,), _ = collect.collect(flat, ["01_mini"])
    assert found.student == "carl" and found.files == {"01_mini": [flat / "carl.ipynb"]}


def test_pick_rules(tmp_path):
    untouched, final = tmp_path / NAME, tmp_path / "01_mini_final.ipynb"
    untouched.write_text((SUBS / "student_edition" / NAME).read_text())
    final.write_text((SUBS / "solution" / NAME).read_text())
    os.utime(final, (1_000_000_000, 1_000_000_000))  # the finished one is older here
    assert collect.pick([untouched, final], "01_mini", "newest") == untouched
    assert collect.pick([untouched, final], "01_mini", "exact") == untouched
    assert collect.pick([untouched, final], "01_mini", "most-run") == final


# ----------------------------------------------------------------------------------- written questions
def test_written_answers_are_listed_for_the_instructor(tmp_path):
    meta = {"tags": [splice.QUESTION_TAG], "course": {"question": "why_sqrt_d", "points": 2}}
    q = "**Question.** Why divide by sqrt(d)?\n\n### BEGIN SOLUTION\nKeeps the softmax soft.\n### END SOLUTION"
    inst = new_notebook(cells=[new_markdown_cell(q, metadata=meta), new_code_cell("x = 1")])
    student = new_notebook(cells=[new_markdown_cell("**Question.** Why divide by sqrt(d)?\n\nThe variance grows with d.",
                                                    metadata=copy.deepcopy(meta)), new_code_cell("x = 1")])
    untouched = new_notebook(cells=[new_markdown_cell(edition.strip_solutions(q, markdown=True), metadata=meta)])
    assert splice._answers(inst, student) == [("why_sqrt_d", 2, student.cells[0].source, True)]
    assert splice._answers(inst, untouched) == [("why_sqrt_d", 2, "", False)]
    course = {"01_q": (inst, [])}
    assert gradebook.questions(course) == [["01_q", "why_sqrt_d", 2]]
    sg = model.StudentGrade("ann", [model.NotebookGrade("01_q", answers=[model.Answer("why_sqrt_d", 2, "d grows.", True)])])
    grades = [("ann", sg, []), ("bob", model.StudentGrade("bob", [model.NotebookGrade("01_q")]), [])]
    text = gradebook.written_markdown(grades, gradebook.questions(course))
    assert "## 01_q: why_sqrt_d (2 points)" in text and "### ann\n\n> d grows." in text and "### bob\n\n_no answer_" in text
    assert "### Written question why_sqrt_d (2 points, grade by hand)" in gradebook.report_markdown(sg)


# ---------------------------------------------------------------------------------- the file as submitted
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
    g = model.NotebookGrade("nb")
    inspect_submitted(executed(counts, errors), g)
    assert [f.code for f in g.flags] == codes


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e:
        grade.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: python -m course_admin.grade" in out and "--shard K/N" in out
    with pytest.raises(SystemExit) as e:
        grade.main(["merge", "--help"])
    assert e.value.code == 0 and "usage: python -m course_admin.grade merge" in capsys.readouterr().out


def test_instructor_readme_explains_every_flag():
    readme = (COURSE.parents[3] / "notebooks" / edition.STUDENT_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"`{code}`" in readme for code in grade.FLAGS), [c for c in grade.FLAGS if f"`{c}`" not in readme]
