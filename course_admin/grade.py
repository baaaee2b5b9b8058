"""Grade the notebooks students hand in, without nbgrader's server.

    python -m course_admin.grade SUBMISSIONS_DIR                 # all notebooks/NN_*.ipynb are expected
    python -m course_admin.grade SUBMISSIONS_DIR --notebooks 01_patches 02_attention --timeout 120

Layout: one folder per student, named by the student id, holding that student's notebooks
(SUBMISSIONS_DIR/<student>/01_patches.ipynb, ...; renamed copies such as "Copy of 01_patches.ipynb" and
sub-folders are found too). For a one-notebook assignment, SUBMISSIONS_DIR/<student>.ipynb also works.

For each submitted notebook the grader
1. reads it as submitted and flags what an instructor looks for: not valid JSON, code cells never
   executed, execution counts out of order (not one run top to bottom), stored error outputs;
2. re-executes a copy in a fresh kernel (in a temporary folder, COURSE_PROFILE=quick, no GPU) with a
   per-cell timeout and a whole-notebook timeout, going on past errors; a cell that ignores the interrupt
   gets its kernel killed, and the rest is graded as far as it went;
3. takes each exercise's result from the check log ($COURSE_CHECK_LOG, one JSON line per check), counting
   only the line written by that exercise's own check cell, which must be unchanged from the solution
   notebook (a deleted or edited check cell scores 0 and is flagged).
The exercises and their points come from the solution notebooks' `# Exercise <id>:` cells.
It writes OUT/gradebook.csv (one row per student, one column per exercise, total), OUT/grades.json and
OUT/reports/<student>.md; OUT is SUBMISSIONS_DIR unless --out says otherwise. Nothing else is written there.

Student code runs with your permissions: grade untrusted work in a container or a throwaway VM.
"""
import argparse
import csv
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .edition import course_exercises, exercise_header
from course_utils.profiles import PROFILES

from .repo import add_repo_argument, repo_root, run_cli

CHECK_LINE_RE = re.compile(r"(✅ PASS|❌ FAIL) \[([^\]]+)\]")
SETUP_TAG = "course-setup"
IGNORED_DIRS = {".ipynb_checkpoints", "__pycache__", "__MACOSX"}

# Flag codes (the gradebook's `flags` column shows the codes; each student's report explains them).
FLAGS = {
    "missing_notebook": "no submitted notebook matches this one",
    "ambiguous_file": "several submitted files match this notebook; the first was graded",
    "corrupt": "the file is not a readable notebook (not valid JSON or not nbformat 4)",
    "not_executed": "code cells were never executed as submitted",
    "out_of_order": "execution counts are not increasing: the notebook was not run top to bottom",
    "not_fresh_run": "execution counts skip numbers or do not start at 1 (cells re-run or deleted)",
    "stored_error": "the submitted notebook holds error outputs",
    "stored_mismatch": "a stored check result differs from the re-run",
    "exercise_missing": "an exercise cell (`# Exercise <id>:`) is missing",
    "check_missing": "a check cell is missing or edited: that exercise scores 0",
    "foreign_result": "a check result for an exercise came from another cell: ignored",
    "duplicate_result": "a check cell logged more than one result for its exercise",
    "bad_log_line": "the check log holds a line that is not a check result",
    "run_error": "cells raised errors when re-run",
    "timeout": "a cell ran past the per-cell timeout and was interrupted",
    "killed": "a cell ignored the interrupt: the kernel was stopped, later cells did not run",
    "kernel_died": "the kernel died: later cells did not run",
    "time_limit": "the notebook ran past its total time limit: later cells did not run",
    "grader_error": "the grader itself failed on this notebook",
}


@dataclass
class Flag:
    code: str
    text: str


@dataclass
class ExerciseGrade:
    exercise: str
    points: int
    score: int = 0
    status: str = "no result"  # pass | fail | not implemented | error | timeout | not run | missing check | no result
    message: str = ""


@dataclass
class NotebookGrade:
    notebook: str
    file: str = ""
    exercises: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    errors: list = field(default_factory=list)  # re-run errors: "cell 7: NameError: ..."
    seconds: float = 0.0

    def flag(self, code, text):
        self.flags.append(Flag(code, text))


@dataclass
class StudentGrade:
    student: str
    notebooks: list = field(default_factory=list)

    @property
    def total(self):
        return sum(e.score for nb in self.notebooks for e in nb.exercises)

    @property
    def max_total(self):
        return sum(e.points for nb in self.notebooks for e in nb.exercises)


# --------------------------------------------------------------------------------- the file as submitted
def _norm(source):
    return "\n".join(line.rstrip() for line in source.strip().splitlines() if line.strip())


def _code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]


def _stored_checks(cell):
    """{exercise: 'pass'|'fail'} from the check lines printed in a cell's stored outputs."""
    found = {}
    for out in cell.get("outputs", []):
        text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
        for mark, ex in CHECK_LINE_RE.findall("".join(text) if isinstance(text, list) else text):
            found[ex] = "pass" if "PASS" in mark else "fail"
    return found


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


# ----------------------------------------------------------------------------------------- re-execution
@dataclass
class CellRun:
    status: str = "not run"  # ok | error | timeout | killed | died | not run
    ename: str = ""
    evalue: str = ""
    results: list = field(default_factory=list)  # check-log entries this cell wrote
    seconds: float = 0.0


def _client_class():
    from nbclient import NotebookClient

    class Client(NotebookClient):
        """NotebookClient that remembers when it had to interrupt a cell."""
        timed_out = False

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

    return Client


def _kill_kernel(client):
    """Stop the grading kernel (and its children: it runs in its own process group)."""
    prov = getattr(getattr(client, "km", None), "provisioner", None)
    pid, pgid = getattr(prov, "pid", None), getattr(prov, "pgid", None)
    try:
        if pgid and hasattr(os, "killpg") and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_notebook(nb, workdir, timeout=300, notebook_timeout=1800, setup_timeout=300, profile="quick", env=None,
                 kill_after=None):
    """Execute `nb` in place in a fresh kernel (cwd `workdir`), going on past errors.

    Returns ({cell index: CellRun}, [Flag], bad_log_lines). Each cell gets `timeout` seconds (cells
    tagged course-setup at least `setup_timeout`), then an interrupt; one that ignores the interrupt for
    `kill_after` more seconds (default: its timeout + 10 s) gets its kernel killed, and later cells do
    not run. The whole run gets `notebook_timeout` seconds.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    workdir = Path(workdir)
    log = workdir / ".course_check_log.jsonl"
    log.write_text("")
    kernel_env = {**os.environ, **(env or {}), "COURSE_PROFILE": profile, "COURSE_CHECK_LOG": str(log),
                  "CUDA_VISIBLE_DEVICES": "", "TQDM_DISABLE": "1"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = _client_class()(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                             interrupt_on_timeout=True, record_timing=False,
                             resources={"metadata": {"path": str(workdir)}})
    runs, flags, bad_lines, offset = {}, [], [], 0
    deadline = time.monotonic() + notebook_timeout
    stopped = None  # why later cells did not run
    with client.setup_kernel(env=kernel_env, stderr=subprocess.DEVNULL):  # no kernel warnings in the grader's log
        for index, cell in _code_cells(nb):
            run = runs[index] = CellRun()
            cell.outputs, cell.execution_count = [], None
            if stopped:
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 1:
                stopped = "time_limit"
                flags.append(Flag("time_limit", f"stopped before cell {index} after {notebook_timeout} s"))
                continue
            limit = timeout if SETUP_TAG not in cell.metadata.get("tags", []) else max(timeout, setup_timeout)
            limit = max(1, math.ceil(min(limit, remaining)))
            client.timeout, client.timed_out = limit, False
            killed = threading.Event()

            def kill(client=client, killed=killed):
                killed.set()
                _kill_kernel(client)
            watchdog = threading.Timer(limit + (limit + 10 if kill_after is None else kill_after), kill)
            watchdog.daemon = True
            start = time.monotonic()
            watchdog.start()
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                run.status = "ok"
            except (DeadKernelError, CellTimeoutError) as e:
                run.status = "killed" if killed.is_set() else "died"
                stopped = "killed" if killed.is_set() else "kernel_died"
                what = (f"cell {index} ignored the interrupt after {limit} s; kernel stopped"
                        if killed.is_set() else f"kernel died in cell {index} ({type(e).__name__})")
                flags.append(Flag(stopped, what))
            finally:
                watchdog.cancel()
                run.seconds = round(time.monotonic() - start, 2)
            try:
                text = log.read_text(encoding="utf-8", errors="replace")
            except OSError:  # student code deleted it
                text = ""
            if len(text) < offset:
                bad_lines.append(f"cell {index}: the check log was truncated or deleted")
                offset = 0
            for line in text[offset:].splitlines():
                try:
                    entry = json.loads(line)
                    assert isinstance(entry, dict) and isinstance(entry.get("exercise"), str)
                    run.results.append(entry)
                except Exception:
                    if line.strip():
                        bad_lines.append(f"cell {index}: {line[:120]}")
            offset = len(text)
            err = next((o for o in cell.outputs if o.get("output_type") == "error"), None)
            if run.status == "ok" and err is not None:
                run.status, run.ename, run.evalue = "error", err.get("ename", ""), str(err.get("evalue", ""))
                if client.timed_out:
                    run.status = "timeout"
                    flags.append(Flag("timeout", f"cell {index} ran past {limit} s and was interrupted"))
    return runs, flags, bad_lines


# ---------------------------------------------------------------------------------------------- grading
def _first_line(text, n=160):
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line[:n]


def grade_notebook(path, exercises, timeout=300, notebook_timeout=1800, profile="quick", keep=None, known=(), env=None):
    """Grade one submitted notebook (a path, or None when missing) against its solution's exercises.

    `known`: normalized sources of the solution notebook's code cells; a check those cells run on purpose
    (e.g. to show a FAIL on a buggy block) is not flagged as a foreign result.
    """
    import nbformat

    stem = exercises[0].notebook if exercises else ""
    grade = NotebookGrade(stem, str(path or ""), [ExerciseGrade(e.id, e.points) for e in exercises])
    if path is None:
        grade.flag("missing_notebook", "no file submitted")
        for eg in grade.exercises:
            eg.status = "not run"
        return grade
    try:
        nb = nbformat.reads(Path(path).read_text(encoding="utf-8", errors="replace"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no cells")
        for cell in nb.cells:
            cell.setdefault("metadata", {})
            cell.setdefault("source", "")
            if cell.get("cell_type") == "code":
                cell.setdefault("outputs", [])
    except Exception as e:
        grade.flag("corrupt", f"{type(e).__name__}: {_first_line(e, 120)}")
        for eg in grade.exercises:
            eg.status, eg.message = "not run", "the file could not be read"
        return grade
    try:
        _grade_notebook(nb, grade, exercises, timeout, notebook_timeout, profile, keep, set(known), env)
    except Exception as e:  # never let one submission stop the others
        grade.flag("grader_error", f"{type(e).__name__}: {_first_line(e, 200)}")
    return grade


def _grade_notebook(nb, grade, exercises, timeout, notebook_timeout, profile, keep, known, env=None):
    inspect_submitted(nb, grade)
    cells = _code_cells(nb)
    headers = {exercise_header(c.source)[0]: i for i, c in cells if exercise_header(c.source)}
    official = {e.id: [i for i, c in cells if _norm(c.source) == _norm(e.check_source)] for e in exercises}
    stored = {e.id: {} for e in exercises}
    for e in exercises:
        for i in official[e.id]:
            stored[e.id].update(_stored_checks(nb.cells[i]))
        if e.id not in headers:
            grade.flag("exercise_missing", f"no `# Exercise {e.id}:` cell")
        if not official[e.id]:
            grade.flag("check_missing", f"the check cell of {e.id} is missing or edited")

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        workdir = Path(tmp) / "notebooks"
        workdir.mkdir()
        img = _IMG_DIR.get("path")
        if img is not None and Path(img).is_dir():
            shutil.copytree(img, Path(tmp) / "img")  # so ../img/... works as in the repository (a copy: no symlinks)
        runs, flags, bad_lines = run_notebook(nb, workdir, timeout, notebook_timeout, profile=profile, env=env)
    grade.seconds = round(time.monotonic() - start, 1)
    grade.flags.extend(flags)
    if bad_lines:
        grade.flag("bad_log_line", "; ".join(bad_lines[:2]))
    stops = {"died": "the kernel died", "killed": "kernel stopped (the cell ignored the interrupt)"}
    grade.errors = [f"cell {i}: {r.ename}: {_first_line(r.evalue, 200)}" if r.status in ("error", "timeout")
                    else f"cell {i}: {stops.get(r.status, r.status)}" for i, r in runs.items() if r.status not in ("ok", "not run")]
    ran_errors = [i for i, r in runs.items() if r.status == "error"]
    if ran_errors:
        first = runs[ran_errors[0]]
        grade.flag("run_error", f"{len(ran_errors)} cells raised; first: cell {ran_errors[0]} "
                                f"{first.ename}: {_first_line(first.evalue, 100)}")

    for e, eg in zip(exercises, grade.exercises):
        mine = [(i, r) for i in official[e.id] for r in runs.get(i, CellRun()).results if r.get("exercise") == e.id]
        foreign = [i for i, run in runs.items() if i not in official[e.id] and _norm(nb.cells[i].source) not in known
                   for r in run.results if r.get("exercise") == e.id]
        if foreign:
            grade.flag("foreign_result", f"{e.id}: result logged by cell {foreign[0]}, not by its check cell")
        per_cell = {}
        for i, _ in mine:
            per_cell[i] = per_cell.get(i, 0) + 1
        if any(n > 1 for n in per_cell.values()):
            grade.flag("duplicate_result", f"{e.id}: its check cell logged {max(per_cell.values())} results; the last counts")
        if not official[e.id]:
            eg.status, eg.message = "missing check", "the check cell was deleted or edited"
        elif mine:
            result = mine[-1][1]
            passed = result.get("passed") is True
            eg.score = e.points if passed else 0
            eg.message = str(result.get("message", ""))
            eg.status = "pass" if passed else ("not implemented" if "not implemented" in eg.message else "fail")
            if eg.status == "not implemented":
                eg.message = "`raise NotImplementedError` is still there"
        else:  # the check cell wrote nothing: say why
            check = runs.get(official[e.id][-1], CellRun())
            ex_run = runs.get(headers.get(e.id), CellRun())
            if "NotImplementedError" in (ex_run.ename, check.ename):
                eg.status, eg.message = "not implemented", "`raise NotImplementedError` is still there"
            elif check.status == "timeout":
                eg.status, eg.message = "timeout", f"the check cell ran past the time limit ({check.seconds:.0f} s) and was interrupted"
            elif check.status == "error":
                eg.status, eg.message = "error", f"check cell raised {check.ename}: {_first_line(check.evalue, 120)}"
            else:
                eg.status, eg.message = ("not run", f"check cell {check.status}") if check.status != "ok" else \
                    ("no result", "the check cell ran but logged no result")
        if eg.status in ("pass", "fail") and stored[e.id] and stored[e.id].get(e.id, eg.status) != eg.status:
            grade.flag("stored_mismatch", f"{e.id}: submitted output says {stored[e.id][e.id].upper()}, "
                                          f"re-run says {eg.status.upper()}")
    if keep is not None:
        import nbformat

        Path(keep).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep)


# ---------------------------------------------------------------------------------------- submissions
def _match(files, stem):
    """The submitted files for notebook `stem`: exact names first, else names containing the stem."""
    exact = [f for f in files if f.name == f"{stem}.ipynb"]
    return exact or [f for f in files if stem.lower() in f.name.lower()]


def find_submissions(folder, stems, skip=()):
    """{student: {stem: [candidate paths]}} for one folder per student (or one file per student)."""
    folder = Path(folder)
    students = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_DIRS or entry.resolve() in skip:
            continue
        if entry.is_dir():
            files = sorted(f for f in entry.rglob("*.ipynb")
                           if not any(p in IGNORED_DIRS or p.startswith(".") for p in f.relative_to(entry).parts))
            students[entry.name] = {s: _match(files, s) for s in stems}
        elif entry.suffix == ".ipynb":
            if len(stems) != 1:
                raise SystemExit(f"{entry.name}: a notebook at the top of {folder} is one student's work only for "
                                 f"a one-notebook assignment (use --notebooks NAME), or use one folder per student.")
            students[entry.stem] = {stems[0]: [entry]}
    return students


_IMG_DIR = {}   # the course's img/ folder, copied next to each submission while it runs


def grade(submissions, solutions=None, notebooks=None, out=None, timeout=300, notebook_timeout=1800,
          profile="quick", keep_executed=False, quiet=False, jobs=1, root=None):
    """Grade every student in `submissions`; write gradebook.csv, grades.json and reports/ to `out`."""
    submissions = Path(submissions)
    out = Path(out) if out is not None else submissions
    if solutions is None or root is not None:
        root = repo_root(root)
        solutions = solutions or root / "notebooks"
        _IMG_DIR["path"] = root / "img"
    else:
        _IMG_DIR["path"] = Path(solutions).parent / "img"
    manifest = course_exercises(solutions, notebooks)
    manifest = {k: v for k, v in manifest.items() if v} if not notebooks else manifest
    if not manifest:
        raise SystemExit(f"no solution notebooks with exercises in {solutions}")
    import nbformat

    known = {stem: {_norm(c.source) for _, c in _code_cells(nbformat.read(Path(solutions) / f"{stem}.ipynb", as_version=4))}
             for stem in manifest}
    reports = out / "reports"
    skip = {reports.resolve(), (out / "gradebook.csv").resolve(), (out / "grades.json").resolve()}
    students = find_submissions(submissions, list(manifest), skip)
    # Kernels graded side by side share the cores: each gets its share of threads, not all of them
    # (jobs kernels each running cpu_count threads wait on one another and take far longer).
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // jobs))} if jobs > 1 else None

    def grade_student(student):
        sg = StudentGrade(student)
        for stem, exercises in manifest.items():
            files = students[student].get(stem, [])
            keep = reports / student / f"{stem}.ipynb" if keep_executed and files else None
            ng = grade_notebook(files[0] if files else None, exercises, timeout, notebook_timeout, profile, keep,
                                known[stem], env=env)
            ng.notebook = stem
            if files:
                ng.file = files[0].relative_to(submissions).as_posix()
            if len(files) > 1:
                ng.flag("ambiguous_file", ", ".join(f.relative_to(submissions).as_posix() for f in files))
            sg.notebooks.append(ng)
        if not quiet:
            codes = flag_summary(sg)
            print(f"{student}: {sg.total}/{sg.max_total}" + (f"  flags: {codes}" if codes else ""), flush=True)
        return sg

    if jobs > 1:  # each student's kernels are separate processes: threads only wait on them
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(jobs) as pool:
            results = list(pool.map(grade_student, students))
    else:
        results = [grade_student(s) for s in students]
    write_outputs(results, manifest, out)
    return results


def flag_summary(sg):
    """'01_patches: timeout, run_error; 02_attention: missing_notebook' (codes, in order, once each)."""
    parts = []
    for ng in sg.notebooks:
        codes = list(dict.fromkeys(f.code for f in ng.flags))
        if codes:
            parts.append(f"{ng.notebook}: {', '.join(codes)}")
    return "; ".join(parts)


def write_outputs(results, manifest, out):
    out = Path(out)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    columns = [e.id for exs in manifest.values() for e in exs]
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", *columns, "total", "max", "flags"])
        for sg in results:
            scores = {e.exercise: e.score for ng in sg.notebooks for e in ng.exercises}
            w.writerow([sg.student, *[scores.get(c, 0) for c in columns], sg.total, sg.max_total, flag_summary(sg)])
    data = [{"student": sg.student, "total": sg.total, "max": sg.max_total,
             "notebooks": [{**asdict(ng), "flags": [asdict(fl) for fl in ng.flags]} for ng in sg.notebooks]}
            for sg in results]
    (out / "grades.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for sg in results:
        (out / "reports" / f"{sg.student}.md").write_text(report_markdown(sg), encoding="utf-8")


def report_markdown(sg):
    mark = {"pass": "✅", "fail": "❌"}
    lines = [f"# {sg.student}: {sg.total} / {sg.max_total} points", "",
             "| notebook | exercise | score | result |", "|---|---|---|---|"]
    for ng in sg.notebooks:
        for e in ng.exercises:
            msg = f"{e.status}: {e.message}" if e.message else e.status
            lines.append(f"| {ng.notebook} | {e.exercise} | {e.score} / {e.points} | "
                         f"{mark.get(e.status, '⚠️')} {msg.replace('|', '/')} |")
    flagged = [(ng.notebook, f) for ng in sg.notebooks for f in ng.flags]
    lines += ["", "## Flags", ""]
    lines += [f"- **{f.code}** ({nb}): {f.text}. _{FLAGS.get(f.code, '')}_" for nb, f in flagged] or ["none"]
    for ng in sg.notebooks:
        lines += ["", f"## {ng.notebook}", "", f"- file graded: `{ng.file or '(none)'}`",
                  f"- re-run time: {ng.seconds} s"]
        if ng.errors:
            lines += ["- errors when re-run (in order):"] + [f"  - {e}" for e in ng.errors[:20]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_admin.grade", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", help="folder with one sub-folder of notebooks per student")
    parser.add_argument("--solutions", default=None, help="folder of solution notebooks (default: notebooks/)")
    parser.add_argument("--notebooks", nargs="+", default=None, metavar="NAME",
                        help="grade only these notebooks (e.g. 01_patches); default: every notebook with exercises")
    parser.add_argument("--out", default=None, help="where gradebook.csv, grades.json and reports/ go "
                                                    "(default: the submissions folder)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell before it is interrupted (default 300)")
    parser.add_argument("--notebook-timeout", type=int, default=1800, help="seconds per notebook (default 1800)")
    parser.add_argument("--profile", default="quick", choices=PROFILES, help="run profile (default quick)")
    parser.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1; each runs its own kernel)")
    parser.add_argument("--keep-executed", action="store_true",
                        help="also save each re-executed notebook as reports/<student>/<name>.ipynb")
    add_repo_argument(parser)
    args = parser.parse_args(argv)
    root = repo_root(args.repo) if args.solutions is None else args.repo
    grade(args.submissions, args.solutions, args.notebooks, args.out, args.timeout, args.notebook_timeout,
          args.profile, args.keep_executed, jobs=args.jobs, root=root)
    out = Path(args.out or args.submissions)
    print(f"wrote {out / 'gradebook.csv'}, {out / 'grades.json'} and {out / 'reports'}/")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
