"""The sandbox a submission's kernel runs in: bubblewrap, with a read-only view of only what a notebook needs.

Why bubblewrap: it ships in Debian/Ubuntu (`apt-get install bubblewrap`), needs no daemon, starts in a few
milliseconds, works as root and as a user, and gives each kernel its own mount, PID, network, IPC and UTS
namespaces. podman or docker would give the same isolation at the price of an image to build and keep in
step with the course's Python environment.

What the kernel sees: the system (/usr, /etc without its secrets), this Python and its packages, the
`course_utils` package, the data sets, the course's img/ and results/ folders, all read-only; one writable
scratch folder (its working folder, HOME and the kernel's connection sockets); a private /tmp; no network;
no other process (its own PID namespace: it cannot see or signal the grader or another kernel). Every
process it starts is killed when the kernel ends (`--die-with-parent`, and the PID namespace ends with it).
The grader talks to the kernel over Unix sockets in the scratch folder (ZeroMQ's ipc transport), since a
kernel without a network cannot be reached over TCP.
"""
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

BWRAP = "bwrap"
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/sbin", "/etc")
HIDDEN_FILES = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-")
HIDDEN_DIRS = ("/etc/ssh", "/etc/ssl/private")
TMP_SIZE = 1 << 30        # bytes of private /tmp (in memory)
FILE_SIZE = 2 << 30       # largest file a kernel may write (RLIMIT_FSIZE)


@functools.cache
def available():
    """'' when bubblewrap runs here, else the reason it does not."""
    exe = shutil.which(BWRAP)
    if exe is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    try:
        probe = subprocess.run([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                                "--die-with-parent", "--new-session", "--cap-drop", "ALL", "true"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap failed to start: {e}"
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {probe.stderr.strip()[:200]}"
    return ""


def package_dir(name):
    """The folder a package is imported from (an editable install points into the repository)."""
    spec = importlib.util.find_spec(name)
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def python_paths():
    """Folders this Python needs: its prefixes and every existing sys.path entry outside the repository."""
    repo = package_dir("course_utils").parent
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).parent}
    for entry in sys.path:
        p = Path(entry).resolve() if entry else None
        if p is not None and p.exists() and p != repo and repo not in p.parents:
            paths.add(p)
    return sorted(paths)


def read_only_paths(extra=()):
    """Every host folder the kernel may read, each mounted at its own path."""
    from course_utils.data import default_root

    root = package_dir("course_utils").parent
    paths = [Path(p) for p in SYSTEM_DIRS] + python_paths() + [package_dir("course_utils"), root / "results",
                                                                Path(default_root())]
    paths += [Path(p) for p in extra]
    seen, out = set(), []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p.exists() and p not in seen:
            seen.add(p)
            out.append(p)
    return out


def bwrap_argv(scratch, img=None, extra_read=()):
    """The bwrap command line (without the command) for a kernel whose only writable folder is `scratch`."""
    scratch = Path(scratch).resolve()
    argv = [shutil.which(BWRAP) or BWRAP, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--hostname", "sandbox", "--dev", "/dev", "--proc", "/proc", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    for p in read_only_paths(extra_read):
        if p.is_symlink():  # /bin -> usr/bin on merged-/usr systems: the same link inside
            argv += ["--symlink", os.readlink(p), str(p)]
        else:
            argv += ["--ro-bind", str(p), str(p)]
    for f in HIDDEN_FILES:
        if Path(f).exists():
            argv += ["--ro-bind", "/dev/null", f]
    for d in HIDDEN_DIRS:
        if Path(d).is_dir():
            argv += ["--tmpfs", d, "--remount-ro", d]
    argv += ["--bind", str(scratch), str(scratch)]
    if img is not None and Path(img).is_dir():  # ../img/... from the notebook's folder, as in the repository
        argv += ["--ro-bind", str(Path(img).resolve()), str(scratch / "img")]
    argv += ["--remount-ro", "/", "--chdir", str(scratch / "notebooks"), "--setenv", "HOME", str(scratch / "home")]
    if shutil.which("prlimit"):
        argv += ["--", "prlimit", f"--fsize={FILE_SIZE}", "--"]
    else:
        argv += ["--"]
    return argv


def prepare_scratch(scratch):
    """Create the scratch folder's parts: notebooks/ (the kernel's cwd), home/, runtime/ (sockets)."""
    scratch = Path(scratch)
    for part in ("notebooks", "home", "runtime"):
        (scratch / part).mkdir(parents=True, exist_ok=True)
    return scratch


def kernel_env(scratch, profile, threads=None, sandboxed=True):
    """The kernel's environment: a clean one in the sandbox (nothing of the grader's), else the grader's plus ours."""
    from course_utils.data import default_root

    scratch = Path(scratch)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"} if sandboxed else dict(os.environ)
    base.pop("COURSE_CHECK_LOG", None)
    base.update({"HOME": str(scratch / "home"), "COURSE_PROFILE": profile, "CUDA_VISIBLE_DEVICES": "",
                 "TQDM_DISABLE": "1", "MPLBACKEND": "agg", "COURSE_DATA_DIR": str(default_root()),
                 "MPLCONFIGDIR": str(scratch / "home" / "mpl"), "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
                 "IPYTHONDIR": str(scratch / "home" / "ipython"), "PYTHONDONTWRITEBYTECODE": "1"})
    if threads:
        base["OMP_NUM_THREADS"] = base["MKL_NUM_THREADS"] = str(threads)
    return base
