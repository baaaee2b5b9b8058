"""Grade the notebooks students hand in, each in a sandbox, without nbgrader's server.

    python -m course_admin.grade SUBMISSIONS_DIR                       # every notebook that has exercises
    python -m course_admin.grade SUBMISSIONS_DIR --notebooks 01_patches --jobs 2
    python -m course_admin.grade SUBMISSIONS_DIR --shard 2/4 --out part2    # one machine of four
    python -m course_admin.grade merge OUT part1 part2 part3 part4          # then the gradebook of all

For each student and notebook the grader reads the file as submitted (and flags what an instructor looks
for), splices the student's solution regions into the instructor's notebook (every other cell is the
instructor's), reads those regions for suspicious code, and executes the result in a fresh kernel inside a
bubblewrap sandbox (no network, read-only system, no view of other submissions, the solutions or the
grader) with per-cell and per-notebook time limits. An exercise's mark is the signed result its own check
cell shows. Results are written per student as each finishes (OUT/results/<student>.json); a rerun skips
students already graded (unless their files, the solutions or the options changed; --regrade forces).
OUT (default: SUBMISSIONS_DIR-graded beside it) gets gradebook.csv, grades.json, reports/, written.md and
summary.md.
"""
import argparse
import sys
from pathlib import Path

from course_utils.profiles import PROFILES

from ..repo import add_repo_argument, repo_root, run_cli
from . import gradebook, runner
from .collect import PICK_RULES


def _grade_parser():
    p = argparse.ArgumentParser(prog="python -m course_admin.grade", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", help="folder with one sub-folder of notebooks per student")
    p.add_argument("--solutions", default=None, help="folder of solution notebooks (default: notebooks/ of the repo)")
    p.add_argument("--notebooks", nargs="+", default=None, metavar="NAME",
                   help="grade only these notebooks (e.g. 01_patches); default: every notebook with exercises")
    p.add_argument("--out", default=None, help="output folder (default: SUBMISSIONS-graded beside the submissions)")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell before it is interrupted (default 300)")
    p.add_argument("--notebook-timeout", type=int, default=1800, help="seconds per notebook (default 1800)")
    p.add_argument("--profile", default="quick", choices=PROFILES, help="run profile (default quick)")
    p.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1)")
    p.add_argument("--shard", default=None, metavar="K/N", help="grade only the K-th of N shares of the students")
    p.add_argument("--regrade", nargs="*", default=None, metavar="STUDENT",
                   help="grade again students already graded (all, or those named)")
    p.add_argument("--pick", default="newest", choices=PICK_RULES,
                   help="which file to grade when several match one notebook (default newest)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student code without bubblewrap, with your permissions (only where no sandbox exists)")
    p.add_argument("--read", action="append", default=[], metavar="PATH",
                   help="one more folder the sandboxed kernels may read (repeatable)")
    p.add_argument("--keep-executed", action="store_true", help="also save each graded notebook in OUT/executed/")
    add_repo_argument(p)
    return p


def _merge_parser():
    p = argparse.ArgumentParser(prog="python -m course_admin.grade merge",
                                description="Assemble one gradebook from the output folders of --shard runs.")
    p.add_argument("out", help="where the merged gradebook goes")
    p.add_argument("parts", nargs="+", help="the output folders of the shards")
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        args = _merge_parser().parse_args(argv[1:])
        Path(args.out).mkdir(parents=True, exist_ok=True)
        missing = gradebook.assemble(args.out, [Path(p) for p in args.parts])
        print(f"wrote {Path(args.out) / 'gradebook.csv'}" + (f"; {len(missing)} students have no result yet" if missing else ""))
        return 1 if missing else 0
    args = _grade_parser().parse_args(argv)
    if args.solutions is None:
        root = repo_root(args.repo)
        solutions, img = root / "notebooks", root / "img"
    else:
        solutions = Path(args.solutions)
        img = (repo_root(args.repo) / "img") if args.repo else solutions.parent / "img"
    if args.no_sandbox:
        print("warning: --no-sandbox: student code runs with your permissions; the reports say so", file=sys.stderr)
    regrade = True if args.regrade == [] else (args.regrade or False)
    out = args.out or Path(args.submissions).parent / f"{Path(args.submissions).name}-graded"
    runner.grade(args.submissions, solutions, args.notebooks, out, args.timeout, args.notebook_timeout, args.profile,
                 args.jobs, runner.parse_shard(args.shard) if args.shard else None, regrade, args.no_sandbox,
                 args.pick, args.keep_executed, img, tuple(args.read))
    print(f"wrote {out}/" + ("gradebook.csv, grades.json, reports/, written.md, summary.md" if not args.shard
                             else f"results/ of shard {args.shard}; run `merge` when every shard is done"))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
