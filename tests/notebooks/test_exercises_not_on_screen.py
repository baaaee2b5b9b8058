"""Done-criterion of issue 13: no line of an exercise's solution appears in an earlier cell of the student edition.

A solution line counts when its code (comment dropped, whitespace removed) is over 20 characters; it must not
occur in any cell (code or markdown, whitespace removed) that comes before the exercise in the student copy.
"""
import re
from pathlib import Path

import nbformat
import pytest

from course_admin import edition

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
PATHS = [NOTEBOOKS / f"{n}.ipynb" for n in ("01_patches", "02_attention", "03_vit", "04_cnn_baselines", "05_training")]


def squeeze(text):
    return re.sub(r"\s+", "", text)


def solution_lines(source):
    for region in SOLUTION.findall(source):
        for line in region.splitlines():
            code = squeeze(line.split("#", 1)[0])
            if len(code) > 20:
                yield line.strip(), code


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_solution_line_is_on_screen_before_its_exercise(path):
    nb = nbformat.read(path, as_version=4)
    student = edition.student_edition(nb, f"notebooks/student/{path.name}")
    student_cells = [squeeze(c.source) for c in student.cells]
    exercises = edition.exercises(nb, path.stem)
    assert exercises, "every notebook 01-05 has exercises"
    for ex in exercises:
        # the exercise cell's index in the student copy: the same header line
        header = nb.cells[ex.cell].source.splitlines()[0]
        at = next(i for i, c in enumerate(student.cells) if c.source.splitlines()[:1] == [header])
        earlier = student_cells[:at]
        for line, code in solution_lines(nb.cells[ex.cell].source):
            shown = [i for i, text in enumerate(earlier) if code in text]
            assert not shown, f"{path.stem} / {ex.id}: solution line {line!r} is shown in student cell(s) {shown}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_exercises_carry_points_and_written_questions(path):
    nb = nbformat.read(path, as_version=4)
    exercises = edition.exercises(nb, path.stem)
    assert all(ex.points >= 1 for ex in exercises)
    written = [c for c in nb.cells if "written-question" in c.metadata.get("tags", [])]
    assert 1 <= len(written) <= 2
    for c in written:
        meta = c.metadata["course"]
        assert c.cell_type == "markdown" and meta["question"] and meta["points"] >= 1
    assert len({ex.points for nb_ex in [exercises] for ex in nb_ex} | {c.metadata["course"]["points"] for c in written}) > 1 \
        or len(exercises) == 1
