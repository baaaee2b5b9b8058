"""Keep the notebooks' shared cells in one place, and execute notebooks the way CI does.

    python -m course_admin.notebooks sync                 # rewrite badge + setup cells from the templates below
    python -m course_admin.notebooks check                # exit 1 if any notebook's shared cells are stale
    python -m course_admin.notebooks execute notebooks/01_patches.ipynb --profile cpu

The repository URL lives in `course_utils.REPO_URL` and nowhere else: a fork changes it and runs `sync`.
Each notebook has a markdown cell tagged "course-badge" (the Colab badge) and a code cell tagged
"course-setup" (installs course_utils on Colab without touching Colab's torch or ipywidgets).
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from course_utils import BRANCH, REPO_URL
from course_utils.profiles import PROFILES

from .repo import RepoNotFoundError, add_repo_argument, repo_root, run_cli

SETUP_SOURCE = '''\
# Setup: run this cell first. On Colab it installs course_utils from the course repository with
# --no-deps, so Colab's own torch, torchvision and ipywidgets stay as they are; on your machine it
# uses the package you installed with `pip install -e .` (see the README).
import importlib.util
import subprocess
import sys

REPO_URL = "{repo_url}"
if importlib.util.find_spec("course_utils") is None:
    if "google.colab" not in sys.modules:
        raise ModuleNotFoundError("course_utils is not installed: in the repository folder run `pip install -e .`")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"git+{{REPO_URL}}@{branch}"], check=True)

from course_utils.profiles import get_profile  # noqa: E402 (after the install above)

profile = get_profile()  # quick / cpu / gpu: set COURSE_PROFILE to choose, else gpu when CUDA is there
print(f"run profile: {{profile}}")'''


def colab_url(path):
    """Colab link for a notebook given by its path inside the repository."""
    owner_repo = REPO_URL.rstrip("/").split("github.com/")[-1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{Path(path).as_posix()}"


def badge_markdown(path):
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(path)})"


def setup_source():
    return SETUP_SOURCE.format(repo_url=REPO_URL, branch=BRANCH)


def notebook_paths(folder="notebooks", root=None):
    """The course notebooks NN_*.ipynb, in order."""
    return sorted((repo_root(root) / folder).glob("[0-9][0-9]_*.ipynb"))


def _tagged(nb, tag):
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def sync_notebook(path, write=True, badge_path=None, root=None):
    """Rewrite the badge and setup cells of one notebook; return True if anything changed."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    rel = badge_path or path.resolve().relative_to(repo_root(root, start=path.parent))
    wanted = {"course-badge": badge_markdown(rel), "course-setup": setup_source()}
    changed = False
    for tag, source in wanted.items():
        cells = _tagged(nb, tag)
        if len(cells) != 1:
            raise ValueError(f"{path.name}: expected exactly one cell tagged {tag!r}, found {len(cells)}.")
        if cells[0].source != source:
            cells[0].source = source
            changed = True
    if changed and write:
        nbformat.write(nb, path)
    return changed


def execute(path, profile="quick", timeout=1800, record=True):
    """Execute a notebook top to bottom in a fresh kernel (cwd = its folder) and save it with outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    os.environ["COURSE_PROFILE"] = profile
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    if record:
        record_run_time(path.parent / "run_times.json", path.stem, profile, seconds)
    print(f"executed {path.name} in {seconds:.1f} s (profile {profile})")
    return seconds


def record_run_time(log, name, profile, seconds):
    """Store one notebook's run time for a profile, with the machine it ran on, in the JSON file `log`."""
    log = Path(log)
    times = json.loads(log.read_text(encoding="utf-8")) if log.exists() else {}
    times.setdefault(name, {})[profile] = {
        "seconds": round(seconds, 1), "machine": f"{os.cpu_count()} CPU cores ({platform.machine()})" + _gpu_name()}
    log.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return log


def _gpu_name():
    try:
        import torch
        return f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    except Exception:
        return ""


README_START = "<!-- notebooks:start (generated by `python -m course_admin.notebooks sync`) -->"
README_END = "<!-- notebooks:end -->"


def _title(path):
    """The first '# ' heading of a notebook's markdown cells."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def readme_table(root=None):
    """The README's table of notebooks, each with its Colab badge."""
    root = repo_root(root)
    rows = ["| notebook | | open |", "|---|---|---|"]
    for p in notebook_paths(root=root):
        rel = p.relative_to(root).as_posix()
        rows.append(f"| [{p.stem}]({rel}) | {_title(p)} | {badge_markdown(rel)} |")
    return "\n".join(rows)


def sync_readme(write=True, root=None):
    """Rewrite the notebook table between the README's markers; return True if it changed."""
    root = repo_root(root)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError("README.md has lost its notebook-table markers: " + README_START)
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{readme_table(root)}\n{README_END}{tail}"
    if new != text and write:
        readme.write_text(new, encoding="utf-8")
    return new != text


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course_admin.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("sync", "rewrite the badge and setup cells of every notebook"),
                       ("check", "fail if any notebook's badge or setup cell is stale")):
        add_repo_argument(sub.add_parser(name, help=text))
    ex = sub.add_parser("execute", help="execute notebooks in place, in order, and record their run times")
    ex.add_argument("paths", nargs="*", help="notebooks (default: all, in order)")
    ex.add_argument("--profile", default="quick", choices=PROFILES)
    ex.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    add_repo_argument(ex)
    args = parser.parse_args(argv)
    root = repo_root(args.repo)
    if args.command in ("sync", "check"):
        paths = notebook_paths(root=root)
        if not paths:
            raise RepoNotFoundError(f"no notebooks NN_*.ipynb in {root / 'notebooks'}")
        stale = [p.name for p in paths if sync_notebook(p, write=args.command == "sync", root=root)]
        if sync_readme(write=args.command == "sync", root=root):
            stale.append("README.md")
        verb = "updated" if args.command == "sync" else "stale (run `python -m course_admin.notebooks sync`)"
        print(f"{verb}: {', '.join(stale)}" if stale else "all notebooks' shared cells are current")
        return 1 if stale and args.command == "check" else 0
    paths = [Path(p) for p in args.paths] or notebook_paths(root=root)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        print(f"error: no such notebook: {', '.join(missing) or root / 'notebooks'}", file=sys.stderr)
        return 2
    for p in paths:
        execute(p, args.profile, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
