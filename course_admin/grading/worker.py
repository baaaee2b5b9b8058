"""Students' grading in a process apart from the grader: `python -m course_admin.grading.worker`.

The grader keeps `jobs` workers; each reads one student's job per line on stdin, grades every notebook of
that student, writes the result file atomically (a temporary file, then a rename) and answers with one
line. A submission that floods memory or crashes a library takes down only its worker (the grader starts
another one). A worker exits when the grader that started it is gone, and its sandboxes die with it.
"""
import json
import os
import sys
import threading
import time
from pathlib import Path

from .collect import PICK_RULES, pick
from .model import NotebookGrade, StudentGrade, to_dict
from .notebook import Options, grade_notebook


def write_atomic(path, text):
    """Write `text` to `path` so that a reader sees the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _exit_with_parent(parent):
    """Stop this worker (its kernels die with it) once the grader that started it has gone."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.5)


def grade_student(job, course):
    """Grade every notebook of one student; return the StudentGrade."""
    opts = Options(**{**job["options"], "extra_read": tuple(job["options"].get("extra_read", ()))})
    sg = StudentGrade(job["student"], sandboxed=opts.sandboxed, source=job["source"], digest=job["digest"])
    for stem, (inst_nb, exercises) in course.items():
        files = [Path(p) for p in job["files"].get(stem, [])]
        chosen = pick(files, stem, job["pick"]) if files else None
        keep = str(Path(job["keep_dir"]) / f"{stem}.ipynb") if job.get("keep_dir") and chosen else ""
        ng = grade_notebook(chosen, inst_nb, exercises, Options(**{**opts.__dict__, "keep": keep}))
        ng.notebook = stem
        ng.file = job["shown"].get(str(chosen), "") if chosen else ""
        if len(files) > 1:
            names = ", ".join(job["shown"].get(str(f), f.name) for f in files)
            ng.flag("ambiguous_file", f"{names}; graded {ng.file} ({PICK_RULES[job['pick']]})")
        for link in job.get("links", {}).get(stem, []):
            ng.flag("symlink", f"{link} is a symbolic link: not followed")
        sg.notebooks.append(ng)
    return sg


def load_course(solutions, names):
    """{stem: (instructor notebook, [Exercise])} from the solution notebooks."""
    import nbformat

    from ..edition import course_exercises

    manifest = course_exercises(solutions, names or None)
    return {stem: (nbformat.read(Path(solutions) / f"{stem}.ipynb", as_version=4), exs)
            for stem, exs in manifest.items() if exs or names}


def grade_job(job, course):
    """Grade one job and write its result file; a grader bug still leaves a result (marked incomplete)."""
    try:
        sg = grade_student(job, course)
        data = {**to_dict(sg), "complete": True}
    except Exception as e:  # a bug of the grader: the student still gets a row, and a rerun tries again
        sg = StudentGrade(job["student"], [NotebookGrade(stem) for stem in course], source=job["source"])
        for ng in sg.notebooks:
            ng.flag("grader_error", f"{type(e).__name__}: {str(e)[:200]}")
        data = {**to_dict(sg), "complete": False}
    data.update(key=job["key"], stamp=job["stamp"], digest=job["digest"])
    write_atomic(job["result"], json.dumps(data, indent=1) + "\n")


def main():
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    course = None
    for line in sys.stdin:
        job = json.loads(line)
        if course is None:
            course = load_course(job["solutions"], job["notebooks"])
        grade_job(job, course)
        print(f"done {job['key']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
