"""A grading run as a whole: the sandbox a kernel runs in, killing the grader and resuming, shards and merge, and
grading without a sandbox only when asked."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from classroom import COURSE, NO_SANDBOX, grade_class, make_class, needs_sandbox
from nbformat.v4 import new_code_cell, new_notebook

from course_admin.grading import runner, sandbox
from course_admin.grading.execute import run_notebook

SMALL = ["solution", "wrong_patch_order", "student_edition"]


def _probe(tmp_path, code, **kw):
    nb = new_notebook(cells=[new_code_cell(code)])
    runs, flags = run_notebook(nb, tmp_path / "scratch", timeout=60, sandboxed=True, **kw)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    return runs[0], text


@needs_sandbox
def test_a_sandboxed_kernel_sees_and_reaches_only_its_scratch(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    run, text = _probe(tmp_path, f"""
import os, socket
def can_write(p):
    try:
        open(p, "a").close(); return True
    except OSError:
        return False
print("cwd", can_write("here.txt"), "repo", can_write({str(repo / 'course_utils' / 'x.py')!r}))
print("solutions", os.path.exists({str(repo / 'notebooks')!r}), "admin", os.path.exists({str(repo / 'course_admin')!r}))
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); print("net True")
except OSError:
    print("net False")
""")
    assert run.status == "ok", run
    assert "cwd True repo False" in text and "solutions False admin False" in text and "net False" in text
    assert max(json.loads(text.split("pids ")[1].splitlines()[0])) < 20  # its own PID namespace


@needs_sandbox
def test_a_sandbox_takes_its_processes_with_it(tmp_path):
    marker = f"sleep-marker-{time.time_ns()}"
    run, _ = _probe(tmp_path, f"""
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)  # {marker}"], start_new_session=True)
""")
    time.sleep(1)
    assert run.status == "ok" and marker not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


@needs_sandbox
def test_a_cell_that_ignores_the_interrupt_is_killed(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell(
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass"),
        new_code_cell("y = 2")])
    runs, flags = run_notebook(nb, tmp_path, timeout=3, kill_after=2, sandboxed=True)
    assert [runs[i].status for i in range(3)] == ["ok", "killed", "not run"]
    assert [f.code for f in flags] == ["killed"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    if NO_SANDBOX:
        pytest.skip(f"no sandbox on this machine ({NO_SANDBOX})")
    root = tmp_path_factory.mktemp("plain")
    subs = make_class(root / "subs", SMALL, accidents=False)
    grade_class(subs, root / "out", jobs=1)
    return subs, (root / "out" / "gradebook.csv").read_text(encoding="utf-8")


def _cli(subs, out, *extra):
    return [sys.executable, "-m", "course_admin.grade", str(subs), "--solutions", str(COURSE), "--out", str(out),
            "--timeout", "10", "--notebook-timeout", "240", *extra]


def _workers():
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if "course_admin.grading.worker" in line]


@needs_sandbox
def test_killing_the_grader_and_rerunning_gives_the_same_gradebook(uninterrupted, tmp_path):
    subs, book = uninterrupted
    out = tmp_path / "out"
    proc = subprocess.Popen(_cli(subs, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / "results").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = list((out / "results").glob("*.json"))
    assert 1 <= len(first) < len(SMALL) + 1 and not (out / "gradebook.csv").exists()
    time.sleep(2)
    assert _workers() == [], "a worker outlived the grader"
    subprocess.run(_cli(subs, out), check=True, capture_output=True)
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == book
    listing = json.loads((out / "listing-1-of-1.json").read_text())
    assert listing["graded"] == len(SMALL) + 1 - len(first)  # the rerun skipped who was graded

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    subprocess.run(_cli(subs, out), check=True, capture_output=True)
    assert json.loads((out / "listing-1-of-1.json").read_text())["graded"] == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")} == stamps
    subprocess.run(_cli(subs, out, "--regrade", "solution"), check=True, capture_output=True)
    assert json.loads((out / "listing-1-of-1.json").read_text())["graded"] == 1
    assert (out / "gradebook.csv").read_text(encoding="utf-8") == book


@needs_sandbox
def test_shards_merge_into_the_same_gradebook(uninterrupted, tmp_path):
    subs, book = uninterrupted
    for k in (1, 2):
        subprocess.run(_cli(subs, tmp_path / f"part{k}", "--shard", f"{k}/2"), check=True, capture_output=True)
    assert not (tmp_path / "part1" / "gradebook.csv").exists()
    one = subprocess.run([sys.executable, "-m", "course_admin.grade", "merge", str(tmp_path / "half"),
                          str(tmp_path / "part1")], capture_output=True, text=True)
    assert one.returncode == 1 and "have no result yet" in one.stdout
    assert "no_result" in (tmp_path / "half" / "gradebook.csv").read_text(encoding="utf-8")
    both = subprocess.run([sys.executable, "-m", "course_admin.grade", "merge", str(tmp_path / "all"),
                           str(tmp_path / "part1"), str(tmp_path / "part2")], capture_output=True, text=True)
    assert both.returncode == 0, both.stdout + both.stderr
    assert (tmp_path / "all" / "gradebook.csv").read_text(encoding="utf-8") == book


def test_without_a_sandbox_only_when_asked_and_with_a_warning(tmp_path, monkeypatch):
    subs = make_class(tmp_path / "subs", ["solution"], accidents=False)
    monkeypatch.setattr(sandbox, "available", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(SystemExit, match="--no-sandbox"):
        runner.grade(subs, COURSE, out=tmp_path / "out", quiet=True)
    grades = grade_class(subs, tmp_path / "out", no_sandbox=True, jobs=1)
    assert grades["solution"].total == 5 and not grades["solution"].sandboxed
    assert "no_sandbox" in {f.code for f in grades["solution"].notebooks[0].flags}
    for name in ("summary.md", "reports/solution.md"):
        assert "Graded WITHOUT a sandbox" in (tmp_path / "out" / name).read_text(encoding="utf-8")
