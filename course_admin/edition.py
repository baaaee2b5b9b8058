"""The student edition of the notebooks, the list of exercises, and an nbgrader source folder.

    python -m course_admin.edition student            # write notebooks/student/ from notebooks/NN_*.ipynb
    python -m course_admin.edition student --check    # exit 1 if notebooks/student/ is stale (CI runs this)
    python -m course_admin.edition exercises          # every exercise: notebook, id, points, check cell
    python -m course_admin.edition nbgrader OUT_DIR   # OUT_DIR/source/<assignment>/ for nbgrader users

The solution notebooks are the only source. An exercise is a code cell whose first line is
`# Exercise <id>: <task>` (or `# Exercise <id> (2 points): <task>`; one point by default); the next code
cell is its check. In the student edition every region between `### BEGIN SOLUTION` and
`### END SOLUTION` (nbgrader's markers) becomes

    # YOUR CODE HERE
    raise NotImplementedError("Exercise <id>: write your code here (see the instructions above)")

at the marker's indentation, `### BEGIN HIDDEN TESTS` regions and cells tagged `solution-only` are
dropped, outputs and execution counts are cleared, relative links in markdown are re-pointed from the
student folder, and the Colab badge opens the student copy.
"""
import argparse
import ast
import copy
import json
import posixpath
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .notebooks import badge_markdown
from .repo import RepoNotFoundError, add_repo_argument, repo_root, run_cli

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
SOLUTION_ONLY_TAG = "solution-only"
STUDENT_DIR = "student"  # under the notebooks folder
# Linear time on any line: after the id, the spaces are followed by "(" or ":" (no two optional runs of spaces in
# a row, which made a long line without a colon quadratic: 52 s for 256 KB).
EXERCISE_RE = re.compile(r"^#\s*Exercise\s+([A-Za-z0-9_.\-]+)\s*(?:\((\d+)\s*points?\)\s*)?:\s*(.*)$")
CHECK_CALL_RE = re.compile(r"\bcheck_\w+\s*\(")
NOT_DONE = 'raise NotImplementedError("Exercise {id}: write your code here (see the instructions above)")'


@dataclass(frozen=True)
class Exercise:
    notebook: str      # file stem, e.g. "01_patches"
    id: str            # the check's exercise id, e.g. "img_to_patch"
    points: int
    task: str
    cell: int          # index of the exercise cell in the solution notebook
    check_cell: int    # index of its check cell
    check_source: str  # the check cell's source: a submission must keep it unchanged


def exercise_header(source):
    """(id, points, task) from a cell's first non-blank line `# Exercise <id>[ (N points)]: <task>`, else None."""
    for line in source.splitlines():
        if line.strip():
            m = EXERCISE_RE.match(line.strip())
            return (m.group(1), int(m.group(2) or 1), m.group(3).strip()) if m else None
    return None


def exercises(nb, notebook=""):
    """The exercises of one solution notebook, in order; each must be followed by a check cell."""
    found, seen = [], set()
    for i, cell in enumerate(nb.cells):
        header = exercise_header(cell.source) if cell.cell_type == "code" else None
        if header is None:
            continue
        ex_id, points, task = header
        if ex_id in seen:
            raise ValueError(f"{notebook}: exercise {ex_id!r} appears twice (cell {i}).")
        seen.add(ex_id)
        nxt = next((j for j in range(i + 1, len(nb.cells)) if nb.cells[j].cell_type == "code"), None)
        if nxt is None or not CHECK_CALL_RE.search(nb.cells[nxt].source):
            raise ValueError(f"{notebook}: exercise {ex_id!r} (cell {i}) is not followed by a check cell "
                             f"(the next code cell should call checks.check_...).")
        found.append(Exercise(notebook, ex_id, points, task, i, nxt, nb.cells[nxt].source))
    return found


def course_exercises(folder=None, names=None, root=None):
    """{notebook stem: [Exercise, ...]} for the solution notebooks NN_*.ipynb in `folder` (default notebooks/)."""
    import nbformat

    folder = Path(folder) if folder is not None else repo_root(root) / "notebooks"
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise RepoNotFoundError(f"no solution notebooks NN_*.ipynb in {folder}")
    if names:
        wanted = {Path(n).stem for n in names}
        unknown = wanted - {p.stem for p in paths}
        if unknown:
            raise ValueError(f"no solution notebook {', '.join(sorted(unknown))} in {folder}")
        paths = [p for p in paths if p.stem in wanted]
    manifest = {p.stem: exercises(nbformat.read(p, as_version=4), p.stem) for p in paths}
    ids = [e.id for exs in manifest.values() for e in exs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"exercise ids must be unique across the course; repeated: {', '.join(dup)}")
    return manifest


# ------------------------------------------------------------------------------------ student edition
def _regions(lines, begin, end, where):
    """[(start, stop)] line indices of begin/end marker pairs (inclusive), checking they nest properly."""
    regions, start = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith(begin):
            if start is not None:
                raise ValueError(f"{where}: {begin!r} at line {i + 1} inside another region.")
            start = i
        elif s.startswith(end):
            if start is None:
                raise ValueError(f"{where}: {end!r} at line {i + 1} without {begin!r}.")
            regions.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"{where}: {begin!r} at line {start + 1} is never closed by {end!r}.")
    return regions


def strip_solutions(source, exercise_id=None, markdown=False, where="cell"):
    """Source with hidden-test regions removed and each solution region replaced by the student stub."""
    if BEGIN_SOLUTION not in source and END_SOLUTION not in source and "HIDDEN TESTS" not in source:
        return source
    lines = source.splitlines()
    for start, stop in reversed(_regions(lines, BEGIN_HIDDEN, END_HIDDEN, where)):
        del lines[start:stop + 1]
    regions = _regions(lines, BEGIN_SOLUTION, END_SOLUTION, where)
    if regions and not markdown and exercise_id is None:
        raise ValueError(f"{where}: a solution region outside an exercise cell (its first line should be "
                         f"`# Exercise <id>: <task>`), so the student's error could not name the exercise.")
    for start, stop in reversed(regions):
        indent = lines[start][:len(lines[start]) - len(lines[start].lstrip())]
        stub = ["YOUR ANSWER HERE"] if markdown else [indent + "# YOUR CODE HERE", indent + NOT_DONE.format(id=exercise_id)]
        lines[start:stop + 1] = stub
    return "\n".join(lines)


_LINK_RE = re.compile(r"(\]\(\s*<?|\bsrc=[\"'])([^)\"'\s>]+)")
_SIBLING_RE = re.compile(r"^[0-9][0-9]_[^/]*\.ipynb(#.*)?$")


def repoint_links(markdown, up):
    """Relative links in markdown, re-pointed for a copy `up` folders further down (`up` like '..').

    Links to sibling notebooks (NN_name.ipynb) stay: the student copies sit side by side too.
    """
    def fix(m):
        target = m.group(2)
        if re.match(r"^([a-z][a-z0-9+.\-]*:|/|#)", target, re.I) or _SIBLING_RE.match(target):
            return m.group(0)
        return m.group(1) + posixpath.normpath(posixpath.join(up, target))
    return _LINK_RE.sub(fix, markdown)


def student_edition(nb, badge_path, up=".."):
    """A student copy of a solution notebook (a new object; `nb` is unchanged)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if SOLUTION_ONLY_TAG not in c.get("metadata", {}).get("tags", [])]
    for i, cell in enumerate(nb.cells):
        for key in ("execution", "ExecuteTime"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            header = exercise_header(cell.source)
            cell.source = strip_solutions(cell.source, header and header[0], where=f"cell {i}")
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            if "course-badge" in cell.metadata.get("tags", []):
                cell.source = badge_markdown(badge_path)
            else:
                cell.source = repoint_links(strip_solutions(cell.source, markdown=True, where=f"cell {i}"), up)
    language = nb.metadata.get("language_info", {}).get("name", "python")
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": language}}
    return nb


def render(nb):
    """The notebook as the text nbformat writes (so a regenerated copy compares equal byte for byte)."""
    import nbformat

    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def build(src=None, out=None, check=False, root=None):
    """Write (or, with check=True, only compare) the student edition of every NN_*.ipynb in `src`.

    Returns the names that were stale: written, missing, different, or left over from a deleted notebook.
    """
    import os

    import nbformat

    root = repo_root(root) if src is None or root is not None else None
    src = Path(src) if src is not None else root / "notebooks"
    out = Path(out) if out is not None else src / STUDENT_DIR
    up = Path(os.path.relpath(src.resolve(), out.resolve())).as_posix()
    try:
        badge_dir = out.resolve().relative_to(root or repo_root(start=src))
    except (ValueError, RepoNotFoundError):
        badge_dir = Path("notebooks") / STUDENT_DIR
    stale = []
    sources = sorted(src.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise RepoNotFoundError(f"no solution notebooks NN_*.ipynb in {src}: nothing to build")
    for path in sources:
        text = render(student_edition(nbformat.read(path, as_version=4), badge_dir / path.name, up))
        target = out / path.name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append(path.name)
            if not check:
                out.mkdir(parents=True, exist_ok=True)
                target.write_text(text, encoding="utf-8")
    for orphan in sorted(set(p.name for p in out.glob("[0-9][0-9]_*.ipynb")) - {p.name for p in sources}):
        stale.append(orphan)
        if not check:
            (out / orphan).unlink()
    return stale


# ------------------------------------------------------------------------------------------- nbgrader
def assert_check(source):
    """The check cell with its last call wrapped in `assert`, so nbgrader's autograder sees a failure."""
    tree = ast.parse(source)
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr) or not isinstance(last.value, ast.Call):
        raise ValueError(f"a check cell should end with the check call; got:\n{source}")
    lines = source.splitlines()
    call = ast.get_source_segment(source, last.value)
    indent = lines[last.lineno - 1][:last.col_offset]
    new = f'{indent}assert ({call}), "the self-check above did not pass"'
    return "\n".join(lines[:last.lineno - 1] + new.splitlines() + lines[last.end_lineno:])


def nbgrader_source(nb, notebook=""):
    """A copy of a solution notebook with nbgrader cell metadata: exercise cells are autograded answers,
    check cells are locked autograder tests worth the exercise's points (they raise when the check fails)."""
    nb = copy.deepcopy(nb)
    for ex in exercises(nb, notebook):
        base = {"schema_version": 3, "task": False}
        nb.cells[ex.cell].metadata["nbgrader"] = {**base, "grade": False, "solution": True, "locked": False,
                                                  "grade_id": f"{ex.id}-answer"}
        check = nb.cells[ex.check_cell]
        check.source = assert_check(check.source)
        check.metadata["nbgrader"] = {**base, "grade": True, "solution": False, "locked": True,
                                      "points": ex.points, "grade_id": f"{ex.id}-check"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return nb


def build_nbgrader(out, assignment="vit-course", src=None, root=None):
    """Write out/source/<assignment>/NN_*.ipynb (nbgrader's course layout); return the paths written."""
    import nbformat

    src = Path(src) if src is not None else repo_root(root) / "notebooks"
    folder = Path(out) / "source" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("[0-9][0-9]_*.ipynb")):
        nb = nbgrader_source(nbformat.read(path, as_version=4), path.stem)
        (folder / path.name).write_text(render(nb), encoding="utf-8")
        written.append(folder / path.name)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_admin.edition", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("student", help="write the student edition of every notebook (or --check it)")
    st.add_argument("--check", action="store_true", help="write nothing; exit 1 if the student edition is stale")
    st.add_argument("--src", default=None, help="folder of solution notebooks (default: notebooks/)")
    st.add_argument("--out", default=None, help="student folder (default: <src>/student/)")
    ex = sub.add_parser("exercises", help="list the exercises of the solution notebooks, with points")
    ex.add_argument("--src", default=None, help="folder of solution notebooks (default: notebooks/)")
    ng = sub.add_parser("nbgrader", help="write an nbgrader source folder: OUT/source/ASSIGNMENT/NN_*.ipynb")
    ng.add_argument("out", help="nbgrader course folder")
    ng.add_argument("--assignment", default="vit-course", help="assignment name (default: vit-course)")
    ng.add_argument("--src", default=None, help="folder of solution notebooks (default: notebooks/)")
    for p in (st, ex, ng):
        add_repo_argument(p)
    args = parser.parse_args(argv)

    if args.command == "student":
        stale = build(args.src, args.out, check=args.check, root=args.repo)
        if args.check:
            print(f"student edition stale: {', '.join(stale)} (run `python -m course_admin.edition student`)"
                  if stale else "student edition is current")
            return 1 if stale else 0
        print(f"wrote {', '.join(stale)}" if stale else "student edition already current")
        return 0
    if args.command == "exercises":
        manifest = course_exercises(args.src, root=args.repo)
        rows = [(e.notebook, e.id, e.points, e.task) for exs in manifest.values() for e in exs]
        for row in rows:
            print(" | ".join(map(str, row)))
        print(f"{len(rows)} exercises, {sum(r[2] for r in rows)} points in {len(manifest)} notebooks")
        return 0
    written = build_nbgrader(args.out, args.assignment, args.src, root=args.repo)
    print(json.dumps([str(p) for p in written], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
