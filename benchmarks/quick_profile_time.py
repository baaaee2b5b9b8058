"""How long the whole course takes in one profile: every notebook, end to end, on temporary copies.

    python -m benchmarks.quick_profile_time                      # all notebooks, quick profile
    python -m benchmarks.quick_profile_time --profile cpu --out benchmarks/results_notebooks_cpu.json

Each notebook runs the way CI and `python -m course_admin.notebooks execute` run it (fresh kernel, in
order, cwd = its folder), but on a copy of the notebooks folder in a temporary directory, so nothing
under notebooks/ is rewritten and no stored checkpoint is resumed. Target: the quick profile of every
notebook in under 10 minutes on 2 CPU cores.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 600


def time_notebooks(paths, profile="quick", timeout=1800):
    """Execute copies of `paths` in order; return [(name, seconds or None, error or None)]."""
    from course_admin.notebooks import execute

    paths = [Path(p).resolve() for p in paths]
    rows = []
    with tempfile.TemporaryDirectory(prefix="course-notebooks-") as tmp:
        copies = {}
        for folder in dict.fromkeys(p.parent for p in paths):
            # the folder (minus outputs of earlier runs), and its siblings such as img/ by link
            dst = Path(tmp) / folder.name
            shutil.copytree(folder, dst, ignore=shutil.ignore_patterns(
                "checkpoints", "runs", ".ipynb_checkpoints", "__pycache__", "run_times.json"))
            img = folder.parent / "img"                 # the figures the notebooks show as ../img/... (copied: no symlinks)
            if img.is_dir() and not (Path(tmp) / "img").exists():
                shutil.copytree(img, Path(tmp) / "img")
            copies[folder] = dst
        for p in paths:
            copy = copies[p.parent] / p.name
            start = time.perf_counter()
            try:
                rows.append((p.stem, execute(copy, profile, timeout, record=False), None))
            except Exception as e:  # a failing notebook is reported, the others still run
                first = str(e).strip().splitlines()[-1][:300] if str(e).strip() else ""
                rows.append((p.stem, time.perf_counter() - start, f"{type(e).__name__}: {first}"))
    return rows


def render(rows, profile, budget=BUDGET_S):
    total = sum(s for _, s, _ in rows)
    lines = [f"| notebook ({profile} profile) | seconds |", "|---|---:|"]
    lines += [f"| {name} | {seconds:.1f}{' (failed)' if err else ''} |" for name, seconds, err in rows]
    lines.append(f"| **total** | **{total:.1f}** |")
    verdict = "within" if total <= budget and not any(err for *_, err in rows) else "NOT within"
    return "\n".join(lines), total, f"{total / 60:.1f} minutes: {verdict} the {budget / 60:.0f}-minute budget"


def main(argv=None):
    from course_admin.notebooks import notebook_paths

    parser = argparse.ArgumentParser(prog="python -m benchmarks.quick_profile_time", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="notebooks (default: every notebooks/NN_*.ipynb, in order)")
    parser.add_argument("--profile", default="quick", choices=["quick", "cpu", "gpu"])
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds the whole run should stay under")
    parser.add_argument("--out", default=None, help="write the times to this JSON file")
    parser.add_argument("--record", action="store_true",
                        help="also record each notebook's time in notebooks/run_times.json (as `execute` does)")
    args = parser.parse_args(argv)
    paths = args.paths or notebook_paths()
    if not paths:
        parser.error("no notebooks found (notebooks/NN_*.ipynb)")
    rows = time_notebooks(paths, args.profile, args.timeout)
    table, total, verdict = render(rows, args.profile, args.budget)
    print(table)
    print(verdict)
    for name, _, err in rows:
        if err:
            print(f"{name} failed: {err}")
    if args.out:
        Path(args.out).write_text(json.dumps(dict(
            profile=args.profile, total_s=total, budget_s=args.budget,
            machine=f"{os.cpu_count()} CPU cores ({platform.machine()})", load_average=_load(),
            notebooks={name: dict(seconds=round(s, 1), error=err) for name, s, err in rows}), indent=1) + "\n",
            encoding="utf-8")
    if args.record:
        record_times(rows, args.profile)
    return 1 if any(err for *_, err in rows) else 0


def record_times(rows, profile, log=ROOT / "notebooks" / "run_times.json"):
    """Write the successful rows into run_times.json, as `course_utils.notebooks.execute` does."""
    from course_admin.notebooks import record_run_time

    for name, seconds, err in rows:
        if not err:
            record_run_time(log, name, profile, seconds)
    return log


def _load():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


if __name__ == "__main__":
    sys.exit(main())
