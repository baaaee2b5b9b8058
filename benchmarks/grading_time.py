"""How long grading takes: a class of copies of the solution notebooks, and the sandbox's cost per notebook.

    python benchmarks/grading_time.py class --students 2 --jobs 2        # minutes for N students x 6 notebooks
    python benchmarks/grading_time.py sandbox --notebook 01_patches --repeat 3

`class` grades N copies of the solution notebooks (each student hands in all six) with --jobs and prints
the wall time, per student and extrapolated to 30 students. `sandbox` grades one notebook alternately with
and without the sandbox (interleaved, so a busy machine affects both alike) and prints both times.
"""
import argparse
import shutil
import tempfile
import time
from pathlib import Path

from course_admin.grading import runner
from course_admin.grading.notebook import Options, grade_notebook
from course_admin.grading.worker import load_course
from course_admin.repo import repo_root


def grade_class(students, jobs, notebooks=None):
    root = repo_root()
    course = load_course(root / "notebooks", notebooks)
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        for i in range(students):
            for stem in course:
                (subs / f"s{i:02d}").mkdir(parents=True, exist_ok=True)
                shutil.copy(root / "notebooks" / f"{stem}.ipynb", subs / f"s{i:02d}" / f"{stem}.ipynb")
        start = time.perf_counter()
        runner.grade(subs, root / "notebooks", notebooks, Path(tmp) / "out", jobs=jobs, img=root / "img", quiet=True)
        seconds = time.perf_counter() - start
    per = seconds / students
    print(f"{students} students x {len(course)} notebooks, --jobs {jobs}: {seconds / 60:.1f} min "
          f"({per:.0f} s per student); 30 students: about {30 * per / 60:.0f} min")


def sandbox_cost(notebook, repeat):
    root = repo_root()
    course = load_course(root / "notebooks", [notebook])
    inst, exercises = course[notebook]
    times = {True: [], False: []}
    for _ in range(repeat):
        for sandboxed in (True, False):
            start = time.perf_counter()
            g = grade_notebook(root / "notebooks" / f"{notebook}.ipynb", inst, exercises,
                               Options(sandboxed=sandboxed, img=str(root / "img")))
            times[sandboxed].append(time.perf_counter() - start)
            assert not [f for f in g.flags if f.code == "grader_error"], g.flags
    for sandboxed, ts in times.items():
        print(f"{notebook} {'sandboxed' if sandboxed else 'no sandbox'}: " + ", ".join(f"{t:.1f}" for t in ts) + " s")
    diff = [a - b for a, b in zip(times[True], times[False])]
    print(f"sandbox cost: {sum(diff) / len(diff):+.1f} s per notebook (mean of {repeat} interleaved pairs)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("class")
    c.add_argument("--students", type=int, default=2)
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--notebooks", nargs="+", default=None)
    s = sub.add_parser("sandbox")
    s.add_argument("--notebook", default="01_patches")
    s.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if args.what == "class":
        grade_class(args.students, args.jobs, args.notebooks)
    else:
        sandbox_cost(args.notebook, args.repeat)


if __name__ == "__main__":
    main()
