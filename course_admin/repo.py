"""Where the course is: `--repo DIR`, else the first folder at or above the current one that holds it."""
from pathlib import Path


class RepoNotFoundError(RuntimeError):
    """No course repository where the tool was asked to look."""


def is_repo(folder):
    folder = Path(folder)
    return (folder / "notebooks").is_dir() and (folder / "course_utils").is_dir() and (folder / "pyproject.toml").is_file()


def repo_root(repo=None, start=None):
    """The course repository: `repo` if given (checked), else found by walking up from `start` (default: cwd)."""
    if repo is not None:
        repo = Path(repo).resolve()
        if not is_repo(repo):
            raise RepoNotFoundError(f"{repo} is not the course repository (it needs notebooks/, course_utils/ and "
                                    f"pyproject.toml). Pass --repo with the folder of your clone.")
        return repo
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_repo(folder):
            return folder
    raise RepoNotFoundError(f"No course repository at or above {here}. Run this from inside your clone of the "
                            f"course, or pass --repo DIR (the folder that holds notebooks/ and course_utils/).")


def add_repo_argument(parser):
    parser.add_argument("--repo", default=None, metavar="DIR",
                        help="the course repository (default: found by walking up from the current folder)")


def run_cli(main, argv=None):
    """Run a tool's main(argv); a missing repository becomes one line on stderr and exit code 2."""
    import sys
    try:
        return main(argv)
    except RepoNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
