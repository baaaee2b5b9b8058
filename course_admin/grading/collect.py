"""Find what each student handed in, and list everything in the submissions folder that is not graded, with why.

Layout: one folder per student, named by the student id (SUBMISSIONS/<student>/01_patches.ipynb, ...;
renamed copies such as "Copy of 01_patches.ipynb" and sub-folders are found too). For a one-notebook
assignment, SUBMISSIONS/<student>.ipynb also works. Symbolic links are never followed. Names that are
not UTF-8 (as unzip leaves them) are shown with backslash escapes.
"""
import difflib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_DIRS = {".ipynb_checkpoints", "__pycache__", "__MACOSX"}
PICK_RULES = {
    "newest": "the most recently modified file",
    "exact": "the file named exactly <notebook>.ipynb, else the most recently modified",
    "most-run": "the file with the most executed code cells, then the most recently modified",
}
_SAFE = re.compile(r"[A-Za-z0-9._@+-]{1,100}")


@dataclass
class Submission:
    student: str                                  # the folder's name, printable
    key: str                                      # a file name for this student's result
    source: str                                   # what was found: "alice/" or "carl.ipynb"
    files: dict = field(default_factory=dict)     # notebook stem -> [candidate paths]
    links: dict = field(default_factory=dict)     # notebook stem -> [symlinked names]
    skipped: list = field(default_factory=list)   # [(path shown, reason)] inside the student's folder


def printable(name):
    """A file name as text that can always be written (bytes that are not UTF-8 become backslash escapes)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def result_key(name, taken=()):
    """A plain file name for a student's result: the name itself when it is plain, else a readable part and a hash."""
    raw = os.fsencode(name)
    text = printable(name)
    if _SAFE.fullmatch(text) and not text.startswith(".") and text not in taken:
        return text
    base = re.sub(r"[^A-Za-z0-9._@+-]", "_", text)[:60].lstrip(".") or "student"
    return f"{base}-{hashlib.sha1(raw).hexdigest()[:10]}"


def _matches(name, stem):
    return name == f"{stem}.ipynb" or stem.lower() in name.lower()


def _run_count(path):
    import json

    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8", errors="replace")).get("cells", [])
        return sum(1 for c in cells if c.get("cell_type") == "code" and c.get("execution_count"))
    except Exception:
        return -1


def pick(files, stem, rule="newest"):
    """The file graded for `stem` among several candidates, by the instructor's rule (see PICK_RULES)."""
    def mtime(p):
        return p.lstat().st_mtime

    if rule == "exact":
        exact = [f for f in files if f.name == f"{stem}.ipynb"]
        if exact:
            return exact[0]
    if rule == "most-run":
        return max(files, key=lambda p: (_run_count(p), mtime(p), printable(p.name)))
    return max(files, key=lambda p: (mtime(p), printable(p.name)))


def _scan_student(folder, stems, sub):
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(folder)
        for d in sorted(dirnames):
            if d.startswith(".") or d in IGNORED_DIRS or (here / d).is_symlink():
                why = "a symbolic link: not followed" if (here / d).is_symlink() else "hidden or a checkpoint folder"
                sub.skipped.append((printable(str(rel / d)) + "/", why))
        dirnames[:] = sorted(d for d in dirnames if not (d.startswith(".") or d in IGNORED_DIRS or (here / d).is_symlink()))
        for f in sorted(filenames):
            path, shown = here / f, printable(str(rel / f))
            hits = [s for s in stems if _matches(f, s)]
            if path.is_symlink():
                sub.skipped.append((shown, "a symbolic link: not followed"))
                for s in hits:
                    sub.links.setdefault(s, []).append(shown)
            elif not f.endswith(".ipynb"):
                sub.skipped.append((shown, "not a notebook"))
            elif f.startswith("."):
                sub.skipped.append((shown, "hidden"))
            elif hits:
                sub.files.setdefault(hits[0], []).append(path)
            else:
                near = difflib.get_close_matches(f[:-6], stems, n=1, cutoff=0.6)
                sub.skipped.append((shown, f"no notebook of this name{f' (did you mean {near[0]}?)' if near else ''}"))


def collect(folder, stems, out=None):
    """([Submission], [(name, reason)] for top-level entries that are not graded)."""
    folder = Path(folder)
    out = Path(out).resolve() if out is not None else None
    subs, skipped, taken = [], [], set()
    for entry in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        name = printable(entry.name)
        resolved = entry.resolve() if not entry.is_symlink() else None
        if out is not None and resolved is not None and (resolved == out or out in resolved.parents or resolved in out.parents):
            skipped.append((name, "the grader's output folder"))
        elif entry.is_symlink():
            skipped.append((name, "a symbolic link: not followed"))
        elif entry.name.startswith(".") or entry.name in IGNORED_DIRS:
            skipped.append((name, "hidden or a system folder"))
        elif entry.is_dir():
            key = result_key(entry.name, taken)
            taken.add(key)
            sub = Submission(name, key, name + "/")
            _scan_student(entry, stems, sub)
            subs.append(sub)
        elif entry.suffix.lower() == ".zip":
            skipped.append((name, "a zip archive at the top level: unzip it into one folder per student"))
        elif entry.suffix == ".ipynb" and len(stems) == 1:
            key = result_key(entry.name[:-6], taken)
            taken.add(key)
            subs.append(Submission(printable(entry.name[:-6]), key, name, {stems[0]: [entry]}))
        elif entry.suffix == ".ipynb":
            skipped.append((name, "a notebook at the top level of a several-notebook assignment: "
                                  "put it in a folder named by the student"))
        else:
            skipped.append((name, "not a student folder"))
    return subs, skipped


def digest(sub):
    """A hash of every candidate file's name and bytes (a rerun regrades a student whose files changed)."""
    h = hashlib.sha256()
    for stem in sorted(sub.files):
        for p in sorted(sub.files[stem], key=lambda p: os.fsencode(str(p))):
            h.update(os.fsencode(str(p)) + b"\0")
            try:
                h.update(p.read_bytes())
            except OSError:
                h.update(b"unreadable")
    return h.hexdigest()[:16]
