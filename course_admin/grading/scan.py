"""Read a student's solution regions (parsed with `ast`, never run) for what an instructor should look at.

Flagged inside a region: the check machinery, the environment (os.environ, getenv), sys.modules and frame
tricks, builtins and dynamic code (exec, eval, __import__, globals), gc, /proc paths, processes, threads and
signals, files, IPython internals and shell or magic lines, changes to an imported module's attributes
(`torch.allclose = ...`), and the exercise's own reference function. The reference is what the check
compares against (found in the check function's code) minus what the instructor's own solution uses; an
exercise cell whose metadata says {"course": {"allow_reference": true}} allows it, and
{"course": {"reference": ["name", ...]}} names more.
"""
import ast
import types

STRINGS = ("/proc", "COURSE_")
MODULES = {"os", "sys", "builtins", "gc", "subprocess", "signal", "threading", "_thread", "multiprocessing",
           "ctypes", "importlib", "inspect", "socket", "shutil", "pathlib", "io", "IPython", "pty", "posix",
           "resource", "atexit", "pickle", "marshal", "code", "runpy", "asyncio", "concurrent", "tempfile", "glob"}
NAMES = {"__builtins__", "__import__", "exec", "eval", "compile", "globals", "locals", "vars", "setattr",
         "delattr", "open", "get_ipython", "display", "In", "Out", "_ih", "_oh", "_i", "exit", "quit", "breakpoint",
         "checks", "report", "CheckResult", "format_line", "parse_lines", "channel"}
ATTRS = {"environ", "environb", "getenv", "putenv", "unsetenv", "modules", "_getframe", "settrace", "setprofile",
         "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "tb_frame", "__globals__", "__code__",
         "__dict__", "__subclasses__", "__builtins__", "__closure__", "__defaults__", "__kwdefaults__", "__mro__",
         "get_referrers", "get_referents", "get_objects", "system", "popen", "fork", "kill", "killpg", "_exit",
         "execv", "execve", "spawnv", "checks", "report", "channel"}


def _code_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def check_function(check_source):
    """The check function a check cell calls (`checks.check_x(...)`), or None."""
    from course_utils import checks

    try:
        tree = ast.parse("\n".join(ln for ln in check_source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name.startswith("check_") and callable(getattr(checks, name, None)):
                return getattr(checks, name)
    return None


def reference_names(check_source):
    """Names of the course_utils objects (outside the checks) that the exercise's check compares against."""
    fn = check_function(check_source)
    if fn is None:
        return set()
    fn = getattr(fn, "__wrapped__", fn)
    found, seen, todo = set(), set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen or not hasattr(f, "__code__"):
            continue
        seen.add(f)
        for name in _code_names(f.__code__):
            value = f.__globals__.get(name)
            module = getattr(value, "__module__", "") or ""
            if module.startswith("course_utils.checks") and callable(value):
                todo.append(getattr(value, "__wrapped__", value))  # a helper of the check: read it too
            elif module.startswith("course_utils.") and callable(value):
                found.add(name)
    return found


def used_names(source):
    """Every name and attribute a piece of code uses (for the instructor's own solution)."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
           {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


def _python(source):
    """The cell as the kernel runs it: IPython's magics and shell lines turned into get_ipython() calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _modules_bound(tree):
    """Names bound to modules by imports anywhere in the code (`import torch`, `from torch import nn`)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return names


def suspicious(source, lines, references=(), module_names=()):
    """[(line, what)] for uses inside `lines` ([(first, last)], 1-based) of the source that an instructor should read."""
    try:
        tree = ast.parse(_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []  # a cell that does not parse runs nothing
    inside = lambda node: any(a <= getattr(node, "lineno", 0) <= b for a, b in lines)  # noqa: E731
    modules = _modules_bound(tree) | set(module_names) | {"torch", "nn", "F", "np", "math", "checks", "os", "sys"}
    refs, found = set(references), []
    for node in ast.walk(tree):
        if not inside(node):
            continue
        what = None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            bad = [m for m in mods if m.split(".")[0] in MODULES or m.startswith("course_utils.checks")]
            names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            what = (f"imports {bad[0]}" if bad else
                    f"imports the reference {sorted(refs & set(names))[0]}" if refs & set(names) else
                    "imports the check machinery" if "checks" in names and "course_utils" in mods[0] else None)
        elif isinstance(node, ast.Name) and (node.id in NAMES or node.id.startswith("check_")):
            what = f"uses {node.id}"
        elif isinstance(node, (ast.Name, ast.Attribute)) and (getattr(node, "id", None) or node.attr) in refs:
            what = f"uses the reference {getattr(node, 'id', None) or node.attr}"
        elif isinstance(node, ast.Attribute) and (node.attr in ATTRS or node.attr.startswith("check_")):
            what = f"uses .{node.attr}"
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            hit = [t for t in targets if isinstance(t, (ast.Attribute, ast.Subscript)) and _root(t) in modules]
            what = f"changes {ast.unparse(hit[0])[:60]} (an imported module)" if hit else None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and any(s in node.value for s in STRINGS):
            what = f"names {node.value[:40]!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
            what = "getattr with a computed name"
        if what:
            found.append((node.lineno, what))
    return sorted(set(found))
