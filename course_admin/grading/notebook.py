"""Grade one submitted notebook: read it as submitted, splice its solution regions, run that, score each exercise."""
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.checks.core import parse_lines

from . import scan
from .execute import CellRun, run_notebook
from .model import Answer, ExerciseGrade, NotebookGrade
from .splice import code_key, splice


@dataclass(frozen=True)
class Options:
    timeout: int = 300
    notebook_timeout: int = 1800
    profile: str = "quick"
    sandboxed: bool = True
    threads: int = 0
    img: str = ""
    extra_read: tuple = ()
    keep: str = ""  # a folder for the executed copies


def first_line(text, n=160):
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:n]


def _code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code" and c.get("source", "").strip()]


def _text(out):
    text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
    return "".join(text) if isinstance(text, list) else str(text)


def stored_checks(cell):
    """{exercise: 'pass'|'fail'} from the check lines printed in a cell's stored outputs."""
    return parse_lines("\n".join(_text(o) for o in cell.get("outputs", [])))


def inspect_submitted(nb, grade):
    """Flag a submission whose stored state is not one clean run top to bottom."""
    cells = _code_cells(nb)
    never = [i for i, c in cells if c.get("execution_count") is None]
    if never:
        grade.flag("not_executed", f"{len(never)} of {len(cells)} code cells never executed (first: cell {never[0]})")
    counts = [(i, c.execution_count) for i, c in cells if c.get("execution_count") is not None]
    back = next(((i, n, prev) for (_, prev), (i, n) in zip(counts, counts[1:]) if n <= prev), None)
    if back:
        grade.flag("out_of_order", f"cell {back[0]} has execution count {back[1]}, after a cell with {back[2]}")
    elif counts and [n for _, n in counts] != list(range(1, len(counts) + 1)):
        grade.flag("not_fresh_run", f"execution counts {counts[0][1]}..{counts[-1][1]} over {len(counts)} executed cells")
    errors = [(i, o.get("ename", "")) for i, c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        grade.flag("stored_error", ", ".join(f"cell {i}: {e}" for i, e in errors[:3]) + (" ..." if len(errors) > 3 else ""))


def read_notebook(path):
    """The notebook at `path`, with the keys the grader reads made present; raises on anything unreadable."""
    import json

    import nbformat

    text = Path(path).read_text(encoding="utf-8", errors="replace")
    data = json.loads(text)
    # nbformat 4 as is (validating a large notebook takes seconds); older formats through nbformat's converter
    nb = nbformat.from_dict(data) if isinstance(data, dict) and data.get("nbformat") == 4 else nbformat.reads(text, as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("no cells")
    for cell in nb.cells:
        cell.setdefault("metadata", {})
        cell.setdefault("source", "")
        if not isinstance(cell.source, str):
            cell.source = "".join(cell.source)
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
    return nb


def grade_notebook(path, inst_nb, exercises, opts=Options()):
    """Grade one submitted notebook (a path, or None when missing) against its instructor notebook."""
    stem = exercises[0].notebook if exercises else ""
    grade = NotebookGrade(stem, str(path or ""), [ExerciseGrade(e.id, e.points) for e in exercises])
    if path is None:
        grade.flag("missing_notebook", "no file submitted")
        for eg in grade.exercises:
            eg.status = "not run"
        return grade
    try:
        nb = read_notebook(path)
    except Exception as e:
        grade.flag("corrupt", f"{type(e).__name__}: {first_line(e, 120)}")
        for eg in grade.exercises:
            eg.status, eg.message = "not run", "the file could not be read"
        return grade
    try:
        _grade(nb, inst_nb, grade, exercises, opts)
    except Exception as e:  # never let one submission stop the others
        grade.flag("grader_error", f"{type(e).__name__}: {first_line(e, 200)}")
    return grade


def _references(exercise, inst_cell):
    meta = inst_cell.get("metadata", {}).get("course", {})
    if meta.get("allow_reference"):
        return set()
    own = scan.used_names(inst_cell.source)
    return (scan.reference_names(exercise.check_source) - own) | set(meta.get("reference", []))


def _grade(nb, inst_nb, grade, exercises, opts):
    inspect_submitted(nb, grade)
    sp = splice(inst_nb, nb, exercises)
    grade.edits, grade.fingerprint = sp.edits, sp.fingerprint
    grade.answers = [Answer(q, p, t, a) for q, p, t, a in sp.answers]
    if sp.edits:
        grade.flag("edited_outside", f"{len(sp.edits)} edits outside the solution regions (listed in the report)")
    for ex_id in sp.missing:
        grade.flag("exercise_missing", f"no `# Exercise {ex_id}:` cell")
    mine = {code_key(e.check_source): e.id for e in exercises}  # stored results of the student's own check cells
    stored = {}
    for _, c in _code_cells(nb):
        if code_key(c.source) in mine:
            stored.update({k: v for k, v in stored_checks(c).items() if k == mine[code_key(c.source)]})
    inst_cells = {e.id: inst_nb.cells[e.cell] for e in exercises}
    notes = []
    for e in exercises:
        cell = sp.nb.cells[sp.exercise_cells[e.id]]
        found = scan.suspicious(cell.source, sp.region_lines[e.id], _references(e, inst_cells[e.id]))
        notes += [f"{e.id} line {line}: {what}" for line, what in found]
    if notes:
        grade.flag("suspicious_code", "; ".join(notes[:6]) + (" ..." if len(notes) > 6 else ""))
    if not opts.sandboxed:
        grade.flag("no_sandbox", "graded with --no-sandbox")

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as scratch:
        runs, flags = run_notebook(sp.nb, scratch, opts.timeout, opts.notebook_timeout, profile=opts.profile,
                                   sandboxed=opts.sandboxed, threads=opts.threads or None, img=opts.img or None,
                                   extra_read=opts.extra_read)
    grade.seconds = round(time.monotonic() - start, 1)
    grade.flags.extend(flags)
    _score(grade, exercises, sp, runs, stored)
    if opts.keep:
        import nbformat

        Path(opts.keep).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(sp.nb, opts.keep)


def _score(grade, exercises, sp, runs, stored):
    stops = {"died": "the kernel died", "killed": "kernel stopped (the cell ignored the interrupt)"}
    grade.errors = [f"cell {i}: {r.ename}: {first_line(r.evalue, 200)}" if r.status in ("error", "timeout")
                    else f"cell {i}: {stops.get(r.status, r.status)}"
                    for i, r in runs.items() if r.status not in ("ok", "not run")]
    ran_errors = [i for i, r in runs.items() if r.status == "error"]
    if ran_errors:
        first = runs[ran_errors[0]]
        grade.flag("run_error", f"{len(ran_errors)} cells raised; first: cell {ran_errors[0]} "
                                f"{first.ename}: {first_line(first.evalue, 100)}")
    # unsigned results anywhere, and results shown while a student's exercise cell ran (student code called a check)
    forged = [f"cell {i}: {r.get('exercise', '?')}" for i, run in runs.items() for r in run.forged]
    forged += [f"exercise cell {i}: {r['exercise']}" for i, run in runs.items() if i in sp.exercise_cells.values()
               for r in run.results]
    if forged:
        grade.flag("forged_result", "; ".join(forged[:3]) + (" ..." if len(forged) > 3 else ""))
    for e, eg in zip(exercises, grade.exercises):
        check = runs.get(sp.check_cells[e.id], CellRun())
        ex_run = runs.get(sp.exercise_cells[e.id], CellRun())
        mine = [r for r in check.results if r.get("exercise") == e.id]
        if len(mine) > 1:
            grade.flag("duplicate_result", f"{e.id}: its check cell showed {len(mine)} results")
        bad = sorted({t for r in mine for t in r.get("tampered") or []})
        if bad:
            grade.flag("tampered", f"{e.id}: {', '.join(bad[:4])} replaced")
            eg.status, eg.message = "tampered", f"replaced when the check ran: {', '.join(bad[:4])}"
        elif mine and check.status in ("ok", "error"):
            passed = len(mine) == 1 and mine[0].get("passed") is True and check.status == "ok"
            eg.score = e.points if passed else 0
            eg.message = str(mine[-1].get("message", ""))[:500]
            eg.status = "pass" if passed else ("not implemented" if "not implemented" in eg.message else "fail")
            if eg.status == "not implemented":
                eg.message = "`raise NotImplementedError` is still there"
        elif "NotImplementedError" in (ex_run.ename, check.ename):
            eg.status, eg.message = "not implemented", "`raise NotImplementedError` is still there"
        elif check.status == "timeout":
            eg.status = "timeout"
            eg.message = f"the check cell ran past the time limit ({check.seconds:.0f} s) and was interrupted"
        elif check.status == "error":
            eg.status, eg.message = "error", f"check cell raised {check.ename}: {first_line(check.evalue, 120)}"
        elif check.status != "ok":
            eg.status, eg.message = "not run", f"check cell {check.status}"
        else:
            eg.status, eg.message = "no result", "the check cell ran but showed no result"
        if eg.status in ("pass", "fail") and e.id in stored and stored[e.id] != eg.status:
            grade.flag("stored_mismatch", f"{e.id}: submitted output says {stored[e.id].upper()}, "
                                          f"re-run says {eg.status.upper()}")
