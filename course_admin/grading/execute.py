"""Execute a notebook in a fresh kernel, sandboxed or not, going on past errors, and collect the check results."""
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.checks.channel import MIME, SECRET_ENV

from . import sandbox
from .model import Flag

SETUP_TAG = "course-setup"
OUTPUT_LIMIT = 2_000_000  # characters of output kept per cell


@dataclass
class CellRun:
    status: str = "not run"  # ok | error | timeout | killed | died | not run
    ename: str = ""
    evalue: str = ""
    results: list = field(default_factory=list)  # check results this cell showed, with the grader's secret
    forged: list = field(default_factory=list)   # results without it
    seconds: float = 0.0


def _client_class():
    from nbclient import NotebookClient

    class Client(NotebookClient):
        """NotebookClient that remembers interrupts and keeps at most OUTPUT_LIMIT characters per cell."""
        timed_out = False
        flooded = False

        async def _async_handle_timeout(self, timeout, cell=None):
            self.timed_out = True
            return await super()._async_handle_timeout(timeout, cell)

        def output(self, outs, msg, display_id, cell_index):
            if sum(len(str(o)) for o in outs[-50:]) + len(str(msg.get("content", ""))) > OUTPUT_LIMIT or len(outs) > 5000:
                self.flooded = True
                return None
            return super().output(outs, msg, display_id, cell_index)

    return Client


def kernel_manager(scratch, sandboxed, img=None, extra_read=()):
    """A kernel manager whose kernel runs in bubblewrap (ipc sockets in scratch/runtime), or a plain one."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    scratch = sandbox.prepare_scratch(scratch)
    runtime = scratch / "runtime"
    launch = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
              "--IPKernelApp.exec_lines=__import__('course_utils.checks.channel').checks.channel.start()"]
    if sandboxed:
        km = AsyncKernelManager(transport="ipc", ip=str(runtime / "k"), connection_file=str(runtime / "kernel.json"))
        # in its own PID namespace the kernel's parent is pid 1: its parent poller would stop it at once
        argv = sandbox.bwrap_argv(scratch, img=img, extra_read=extra_read) + launch + ["--IPKernelApp.parent_handle=1"]
    else:
        km = AsyncKernelManager(connection_file=str(runtime / "kernel.json"))
        argv = launch
    km._kernel_spec = KernelSpec(argv=argv, display_name="graded", language="python", interrupt_mode="message", env={})
    return km


def _kill_kernel(km):
    """Stop the kernel (bubblewrap, and with it every process of the sandbox; else the kernel's process group)."""
    prov = getattr(km, "provisioner", None)
    pid, pgid = getattr(prov, "pid", None), getattr(prov, "pgid", None)
    try:
        if pgid and pgid != os.getpgrp():
            os.killpg(pgid, signal.SIGKILL)
        elif pid:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _results(cell, secret):
    """(signed results, forged results) among a cell's outputs."""
    good, forged, kept = [], [], []
    for out in cell.get("outputs", []):
        record = out.get("data", {}).get(MIME) if out.get("output_type") in ("display_data", "execute_result") else None
        if record is None:
            kept.append(out)
            continue
        ok = isinstance(record, dict) and record.get("secret") == secret and isinstance(record.get("exercise"), str)
        (good if ok else forged).append({k: v for k, v in record.items() if k != "secret"} if isinstance(record, dict) else {})
    cell.outputs = kept  # the executed copy shows what the student saw, not the secret
    return good, forged


def run_notebook(nb, scratch, timeout=300, notebook_timeout=1800, setup_timeout=300, profile="quick", sandboxed=False,
                 threads=None, kill_after=None, img=None, extra_read=()):
    """Execute `nb` in place in a fresh kernel whose cwd is scratch/notebooks, going on past errors.

    Returns ({cell index: CellRun}, [Flag]). Each cell gets `timeout` seconds (cells tagged course-setup at
    least `setup_timeout`), then an interrupt; one that ignores the interrupt for `kill_after` more seconds
    (default: its timeout + 10 s) gets its kernel killed, and later cells do not run. The whole run gets
    `notebook_timeout` seconds. A check result counts only if it carries this run's secret.
    """
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    scratch = sandbox.prepare_scratch(Path(scratch))
    secret = secrets.token_hex(16)
    secret_file = scratch / "runtime" / "secret"
    secret_file.write_text(secret, encoding="utf-8")
    env = {**sandbox.kernel_env(scratch, profile, threads, sandboxed), SECRET_ENV: str(secret_file)}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    km = kernel_manager(scratch, sandboxed, img, extra_read)
    client = _client_class()(nb, km=km, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
                             record_timing=False, startup_timeout=120, shutdown_kernel="immediate",
                             resources={"metadata": {"path": str(scratch / "notebooks")}})
    runs, flags, stopped = {}, [], None
    deadline = time.monotonic() + notebook_timeout
    with client.setup_kernel(env=env, stderr=subprocess.DEVNULL):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
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
            client.timeout, client.timed_out, client.flooded = limit, False, False
            killed = threading.Event()
            watchdog = threading.Timer(limit + (limit + 10 if kill_after is None else kill_after),
                                       lambda killed=killed: (killed.set(), _kill_kernel(km)))
            watchdog.daemon = True
            start = time.monotonic()
            watchdog.start()
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
                run.status = "ok"
            except (DeadKernelError, CellTimeoutError, RuntimeError) as e:
                run.status = "killed" if killed.is_set() else "died"
                stopped = "killed" if killed.is_set() else "kernel_died"
                flags.append(Flag(stopped, f"cell {index} ignored the interrupt after {limit} s; kernel stopped"
                                  if killed.is_set() else f"kernel died in cell {index} ({type(e).__name__})"))
            finally:
                watchdog.cancel()
                run.seconds = round(time.monotonic() - start, 2)
            run.results, run.forged = _results(cell, secret)
            if client.flooded:
                flags.append(Flag("output_limit", f"cell {index} printed more than {OUTPUT_LIMIT:,} characters"))
            err = next((o for o in cell.outputs if o.get("output_type") == "error"), None)
            if run.status == "ok" and err is not None:
                run.status, run.ename, run.evalue = "error", err.get("ename", ""), str(err.get("evalue", ""))
                if client.timed_out:
                    run.status = "timeout"
                    flags.append(Flag("timeout", f"cell {index} ran past {limit} s and was interrupted"))
    return runs, flags
