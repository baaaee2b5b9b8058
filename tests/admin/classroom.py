"""What the grader's tests share (conftest.py makes the fixtures visible).

The fixture class is tests/admin/fixtures/submissions plus the accidents git cannot hold: a folder name that
is not UTF-8, a symlinked notebook, a zip at the top, a student called `reports`, an untouched notebook next
to a finished one. It is graded once sandboxed with its attackers, and once without them.
"""
import hashlib
import os
import shutil
import time
from pathlib import Path

import pytest

from course_admin.grading import runner, sandbox

FIX = Path(__file__).parent / "fixtures"
COURSE, SUBS = FIX / "course", FIX / "submissions"
NAME = "01_mini.ipynb"
ATTACKERS = sorted(p.name for p in SUBS.iterdir() if p.name.startswith("attack_"))
HONEST = sorted(p.name for p in SUBS.iterdir() if not p.name.startswith("attack_"))
NON_UTF8 = os.fsdecode(b"caf\xe9_latin1")   # as unzip leaves a Latin-1 name
NO_SANDBOX = sandbox.available()
needs_sandbox = pytest.mark.skipif(bool(NO_SANDBOX), reason=f"no sandbox on this machine ({NO_SANDBOX}); "
                                                             f"these tests run student attacks and need bubblewrap")


def grade_class(subs, out, **kw):
    """Grade the fixture course's class in `subs` quietly; return {student: StudentGrade}."""
    from course_admin.grading.model import from_dict

    kw = {"timeout": 10, "notebook_timeout": 240, "jobs": 2, "quiet": True, **kw}
    runner.grade(subs, COURSE, out=out, **kw)
    return {d["student"]: from_dict(d) for d in _grades(out)}


def _grades(out):
    import json

    return json.loads((Path(out) / "grades.json").read_text(encoding="utf-8"))


def make_class(folder, cases, accidents=True):
    """Copy the fixture submissions `cases` into `folder`, and add the accidents (when asked)."""
    folder.mkdir(parents=True)
    for case in cases:
        shutil.copytree(SUBS / case, folder / case)
    (folder / "nothing_handed_in").mkdir()
    if not accidents:
        return folder
    shutil.copytree(SUBS / "solution", folder / NON_UTF8)
    shutil.copytree(SUBS / "solution", folder / "reports")                    # a student called reports
    (folder / "linked").mkdir()                                               # a symlinked notebook
    (folder / "linked" / NAME).symlink_to(SUBS / "solution" / NAME)
    (folder / "two_files").mkdir()                                            # untouched next to finished
    shutil.copy(SUBS / "student_edition" / NAME, folder / "two_files" / NAME)
    shutil.copy(SUBS / "solution" / NAME, folder / "two_files" / "01_mini_final.ipynb")
    os.utime(folder / "two_files" / NAME, (1_000_000_000, 1_000_000_000))
    (folder / "two_files" / "01_mni.ipynb").write_text("{}")                  # a near miss
    (folder / "student.zip").write_bytes(b"PK\x05\x06" + bytes(18))           # a zip at the top level
    return folder


def tree_digest(folder):
    """{path: sha256} of every file under folder (symlinks by their target)."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = Path(dirpath) / f
            out[os.fsencode(str(p.relative_to(folder)))] = (os.readlink(p) if p.is_symlink()
                                                            else hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory):
    """The whole class, attackers included, graded sandboxed with 2 jobs; and what it left behind."""
    if NO_SANDBOX:
        pytest.skip(f"no sandbox on this machine ({NO_SANDBOX})")
    core = Path(__import__("course_utils.checks.core").checks.core.__file__)
    root = tmp_path_factory.mktemp("class")
    subs = make_class(root / "submissions", ATTACKERS + HONEST)
    before = tree_digest(subs)
    start = time.monotonic()
    grades = grade_class(subs, root / "out")
    seconds = time.monotonic() - start
    book = (root / "out" / "gradebook.csv").read_bytes()
    time.sleep(5)  # the detached attacker polls every 0.25 s for a minute: give it time to try
    return {"grades": grades, "subs": subs, "out": root / "out", "before": before, "after": tree_digest(subs),
            "book": book, "book_later": (root / "out" / "gradebook.csv").read_bytes(), "seconds": seconds,
            "core_text": core.read_text(encoding="utf-8")}


@pytest.fixture(scope="session")
def graded_honest(tmp_path_factory):
    """The honest students only (no attacker in the class), graded the same way: the marks they earn alone."""
    if NO_SANDBOX:
        pytest.skip(f"no sandbox on this machine ({NO_SANDBOX})")
    root = tmp_path_factory.mktemp("honest")
    return grade_class(make_class(root / "submissions", HONEST, accidents=False), root / "out")
