"""Grade a class: one worker process per student, `jobs` at a time, results kept per student, resumable, shardable."""
import hashlib
import json
import os
import queue
import select
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import gradebook, sandbox
from .collect import collect, digest
from .model import NotebookGrade, StudentGrade, flag_summary, from_dict, to_dict
from .worker import load_course, write_atomic

WORKER_GRACE = 600  # seconds a worker may take beyond its notebooks' time limits before it is stopped


def parse_shard(text):
    """'2/4' -> (2, 4), checking 1 <= K <= N."""
    try:
        k, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise SystemExit(f"--shard takes K/N (e.g. 2/4), not {text!r}") from None
    if not 1 <= k <= n:
        raise SystemExit(f"--shard {text}: K must be between 1 and N")
    return k, n


def stamp(solutions, course, opts, pick_rule):
    """A hash of what decides a mark besides the submission: the solution notebooks and the grading options."""
    h = hashlib.sha256()
    for stem in sorted(course):
        h.update((Path(solutions) / f"{stem}.ipynb").read_bytes())
    h.update(json.dumps([opts, pick_rule], sort_keys=True).encode())
    return h.hexdigest()[:16]


def _load_result(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _job(sub, args):
    shown = {str(p): _shown(p, args["root"]) for ps in sub.files.values() for p in ps}
    return {**args["common"], "student": sub.student, "key": sub.key, "source": sub.source, "digest": digest(sub),
            "files": {s: [str(p) for p in ps] for s, ps in sub.files.items()}, "links": sub.links, "shown": shown,
            "result": str(args["results"] / f"{sub.key}.json"),
            "keep_dir": str(args["out"] / "executed" / sub.key) if args["keep"] else ""}


def _shown(path, root):
    from .collect import printable

    return printable(str(Path(path).relative_to(root)))


class Worker:
    """A worker process that grades one student's job at a time; a new one replaces it when it fails."""

    def __init__(self):
        self.proc = None

    def _start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "course_admin.grading.worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, job, limit):
        """Grade one student; return its result data (a failure of the worker still leaves a result)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        why = ""
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], limit)
            reply = self.proc.stdout.readline() if ready else ""
            if not ready:
                why = f"the worker ran past {limit} s and was stopped"
            elif reply.strip() != f"done {job['key']}":
                why = f"the worker died (exit code {self.proc.poll()})"
        except (BrokenPipeError, OSError) as e:
            why = f"the worker failed: {e}"
        if why:
            self.stop()
        data = _load_result(job["result"])
        if why or data is None or data.get("stamp") != job["stamp"] or data.get("digest") != job["digest"]:
            sg = StudentGrade(job["student"], [NotebookGrade(stem) for stem in job["stems"]], source=job["source"])
            for ng in sg.notebooks:
                ng.flag("grader_error", why or "the worker wrote no result")
            data = {**to_dict(sg), "complete": False, "key": job["key"], "stamp": job["stamp"], "digest": job["digest"]}
            write_atomic(job["result"], json.dumps(data, indent=1) + "\n")
        return data


def grade(submissions, solutions, notebooks=None, out=None, timeout=300, notebook_timeout=1800, profile="quick",
          jobs=1, shard=None, regrade=False, no_sandbox=False, pick_rule="newest", keep_executed=False, img=None,
          extra_read=(), quiet=False):
    """Grade every student of this shard; assemble the gradebook (unless sharded). Returns {key: result data}."""
    submissions = Path(submissions)
    out = Path(out) if out is not None else submissions.parent / f"{submissions.name}-graded"
    why = sandbox.available()
    if why and not no_sandbox:
        raise SystemExit(f"cannot sandbox the students' kernels: {why}. Install bubblewrap, or pass --no-sandbox "
                         f"to grade without a sandbox (student code then runs with your permissions).")
    course = load_course(solutions, notebooks)
    if not course:
        raise SystemExit(f"no solution notebooks with exercises in {solutions}")
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    opts = {"timeout": timeout, "notebook_timeout": notebook_timeout, "profile": profile, "sandboxed": not no_sandbox,
            "threads": threads, "img": str(img) if img and Path(img).is_dir() else "", "extra_read": list(extra_read)}
    run_stamp = stamp(solutions, course, {k: v for k, v in opts.items() if k != "threads"}, pick_rule)
    subs, skipped = collect(submissions, list(course), out)
    k, n = shard or (1, 1)
    mine = [s for i, s in enumerate(subs) if i % n == k - 1]
    results = out / "results"
    results.mkdir(parents=True, exist_ok=True)
    common = {"solutions": str(solutions), "notebooks": list(notebooks or []), "options": opts, "pick": pick_rule,
              "stamp": run_stamp, "stems": list(course)}
    args = {"common": common, "results": results, "out": out, "keep": keep_executed, "root": submissions}
    regrade_all = regrade is True
    todo, done = [], {}
    for sub in mine:
        job = _job(sub, args)
        old = _load_result(job["result"])
        fresh = old and old.get("complete") and old.get("stamp") == run_stamp and old.get("digest") == job["digest"]
        if fresh and not regrade_all and sub.student not in (regrade or ()):
            done[sub.key] = old
        else:
            todo.append(job)
    limit = len(course) * (notebook_timeout + 60) + WORKER_GRACE
    start = time.monotonic()

    workers = queue.Queue()
    for _ in range(max(1, jobs)):
        workers.put(Worker())

    def one(job):
        worker = workers.get()
        try:
            data = worker.run(job, limit)
        finally:
            workers.put(worker)
        if not quiet:
            sg = from_dict(data)
            codes = flag_summary(sg)
            print(f"{sg.student}: {sg.total}/{sg.max_total}" + (f"  flags: {codes}" if codes else ""), flush=True)
        return job["key"], data

    try:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            done.update(dict(pool.map(one, todo)))
    finally:
        while not workers.empty():
            workers.get().stop()
    listing = {"shard": [k, n], "students": [[s.key, s.student, s.source, s.skipped] for s in subs],
               "mine": [s.key for s in mine], "skipped": skipped, "sandboxed": not no_sandbox, "pick": pick_rule,
               "stamp": run_stamp, "columns": {stem: [[e.id, e.points] for e in exs] for stem, (_, exs) in course.items()},
               "questions": gradebook.questions(course), "seconds": round(time.monotonic() - start, 1),
               "graded": len(todo), "skipped_graded": len(mine) - len(todo)}
    write_atomic(out / f"listing-{k}-of-{n}.json", json.dumps(listing, indent=1) + "\n")
    if n == 1:
        gradebook.assemble(out, [out])
    return done
