"""The notebook that is graded: the instructor's notebook with each student's solution regions spliced in.

As nbgrader's autograder restores the instructor's cells, only the code a student wrote in place of a
`### BEGIN SOLUTION` ... `### END SOLUTION` region runs; everything else (check cells, setup, the lines of an
exercise cell around its regions, hidden tests) is the instructor's. A student's region is found by lining
up their exercise cell with the student edition's: the fixed lines are anchors, what sits where a stub
was is the student's code. Edits elsewhere are listed for the report, and do not run.
"""
import ast
import copy
import difflib
import hashlib
from dataclasses import dataclass, field

from ..edition import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    NOT_DONE,
    SOLUTION_ONLY_TAG,
    _regions,
    exercise_header,
    strip_solutions,
)

QUESTION_TAG = "written-question"


@dataclass
class Splice:
    nb: object                                        # the notebook to execute
    exercise_cells: dict = field(default_factory=dict)  # exercise id -> cell index in nb
    check_cells: dict = field(default_factory=dict)     # exercise id -> cell index in nb
    region_lines: dict = field(default_factory=dict)    # exercise id -> [(first, last)] 1-based lines of student code
    attempted: dict = field(default_factory=dict)       # exercise id -> the student replaced the stub
    missing: list = field(default_factory=list)         # exercise ids without a cell in the submission
    edits: list = field(default_factory=list)           # "cell 7 (code) changed: ..." (did not run)
    answers: list = field(default_factory=list)         # [(question id, points, text, answered)]
    fingerprint: str = ""


def _significant(line):
    s = line.strip()
    return bool(s) and not s.startswith("#")


def code_key(source):
    """What a code cell does, ignoring comments, blank lines and cell or line magics (for matching cells)."""
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        return ast.dump(ast.parse("\n".join(lines)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "\n".join(ln.rstrip() for ln in lines if _significant(ln))


def _items(source):
    """The instructor's exercise cell as [("fixed", line, visible)] and [("region", k, indent)] items."""
    lines = source.splitlines()
    hidden = {i for a, b in _regions(lines, BEGIN_HIDDEN, END_HIDDEN, "cell") for i in range(a, b + 1)}
    regions = {a: (b, k) for k, (a, b) in enumerate(_regions(lines, BEGIN_SOLUTION, END_SOLUTION, "cell"))}
    items, i = [], 0
    while i < len(lines):
        if i in regions:
            stop, k = regions[i]
            items.append(("region", k, lines[i][:len(lines[i]) - len(lines[i].lstrip())]))
            i = stop + 1
        else:
            items.append(("fixed", lines[i], i not in hidden))
            i += 1
    return items


def _anchors(a, b):
    """For each template line a[i], the index of the student line b[j] it lines up with, or None.

    Exact matches first (difflib); inside a gap, a changed fixed line still anchors on its most similar
    student line, so the regions on either side of it stay apart.
    """
    at = [None] * len(a)
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                at[i1 + k] = j1 + k
            continue
        j = j1
        for i in range(i1, i2):
            if isinstance(a[i], tuple):
                continue
            scores = [(_similar(a[i], b[jj]), jj) for jj in range(j, j2)]
            best = max(scores, default=(0, None), key=lambda t: t[0])
            if best[0] >= 0.6:
                at[i], j = best[1], best[1] + 1
    return at


def _similar(x, y):
    """difflib's similarity of two lines, on their first 300 characters (bounded time on any line)."""
    m = difflib.SequenceMatcher(None, x[:300], y[:300], autojunk=False)
    return m.ratio() if m.real_quick_ratio() >= 0.6 and m.quick_ratio() >= 0.6 else 0.0


def student_regions(inst_source, student_source):
    """([lines of each region], [edits outside them]) of a student's exercise cell, lined up with the template."""
    items = _items(inst_source)
    a = [("\0region", it[1]) if it[0] == "region" else it[1].strip() for it in items
         if it[0] == "region" or (it[2] and _significant(it[1]))]
    s_lines = student_source.splitlines()
    b_index = [j for j, ln in enumerate(s_lines) if _significant(ln)]
    b = [s_lines[j].strip()[:2000] for j in b_index]
    at = _anchors(a, b)
    regions, edits, used = [[] for _ in a if isinstance(_, tuple)], [], set(j for j in at if j is not None)
    for i, item in enumerate(a):
        if not isinstance(item, tuple):
            if at[i] is None:
                edits.append(f"line removed: `{item[:80]}`")
            elif b[at[i]] != item:
                edits.append(f"line changed: `{item[:80]}` (the original ran)")
            continue
        prev = max((at[k] for k in range(i) if at[k] is not None), default=None)
        nxt = min((at[k] for k in range(i + 1, len(a)) if at[k] is not None), default=None)
        lo = b_index[prev] + 1 if prev is not None else _after_header(s_lines)
        hi = b_index[nxt] if nxt is not None else len(s_lines)
        regions[item[1]] = s_lines[lo:hi]
        used.update(j for j, idx in enumerate(b_index) if lo <= idx < hi)
    edits += [f"line added outside a solution region: `{b[j][:80]}`" for j in range(len(b)) if j not in used]
    return regions, edits


def _after_header(lines):
    return next((j + 1 for j, ln in enumerate(lines) if ln.strip()), 0)


def _stub(indent, exercise_id):
    return [indent + "# YOUR CODE HERE", indent + NOT_DONE.format(id=exercise_id)]


def spliced_source(inst_source, regions, exercise_id):
    """The instructor's cell with region k replaced by regions[k] (the stub where it is empty): (source, line ranges)."""
    out, ranges = [], []
    for it in _items(inst_source):
        if it[0] == "fixed":
            out.append(it[1])
            continue
        code = regions[it[1]] if it[1] < len(regions) and any(ln.strip() for ln in regions[it[1]]) else None
        code = code if code is not None else _stub(it[2], exercise_id)
        ranges.append((len(out) + 1, len(out) + len(code)))
        out += code
    return "\n".join(out), ranges


def _attempted(regions, exercise_id):
    stub = NOT_DONE.format(id=exercise_id)
    code = [ln.strip() for r in regions for ln in r if _significant(ln)]
    return bool(code) and code != [stub] * len(code)


def _normalized(regions):
    return "\n".join(ln.strip() for r in regions for ln in r if _significant(ln))


def _answers(inst_nb, student_nb):
    """[(question, points, text, answered)] for each markdown cell tagged written-question."""
    out = []
    for cell in inst_nb.cells:
        meta = cell.get("metadata", {})
        if cell.cell_type != "markdown" or QUESTION_TAG not in meta.get("tags", []):
            continue
        q = meta.get("course", {}).get("question") or cell.get("id", "")
        points = meta.get("course", {}).get("points", 0)
        template = strip_solutions(cell.source, markdown=True)
        mine = [c for c in student_nb.cells if c.get("cell_type") == "markdown"
                and c.get("metadata", {}).get("course", {}).get("question") == q]
        mine = mine or [c for c in student_nb.cells if c.get("id") and c.get("id") == cell.get("id")]
        text = mine[-1].source if mine else ""
        answered = bool(text.strip()) and text.strip() != template.strip()
        out.append((q, points, text if answered else "", answered))
    return out


def splice(inst_nb, student_nb, exercises):
    """The graded notebook for one submission, and what the report says about it."""
    nb = copy.deepcopy(inst_nb)
    nb.cells = [c for c in nb.cells if SOLUTION_ONLY_TAG not in c.get("metadata", {}).get("tags", [])]
    result = Splice(nb)
    ids = {e.id for e in exercises}
    student_code = [c for c in student_nb.cells if c.get("cell_type") == "code"]
    by_header = {}
    for c in student_code:
        h = exercise_header(c.source)
        if h and h[0] in ids:
            if h[0] in by_header:
                result.edits.append(f"exercise {h[0]}: its cell appears twice; the last one was graded")
            by_header[h[0]] = c
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        h = exercise_header(cell.source)
        if h and h[0] in ids:
            result.exercise_cells[h[0]] = i
            mine = by_header.get(h[0]) or next((c for c in student_code if c.get("id") and c.get("id") == cell.get("id")), None)
            if mine is None:
                result.missing.append(h[0])
                regions = []
            else:
                regions, edits = student_regions(cell.source, mine.source)
                result.edits += [f"exercise {h[0]}: {e}" for e in edits]
            cell.source, result.region_lines[h[0]] = spliced_source(cell.source, regions, h[0])
            result.attempted[h[0]] = _attempted(regions, h[0])
            result.fingerprint += _normalized(regions) + "\0"
    for e in exercises:  # each exercise's check cell: the first code cell after its exercise cell
        start = result.exercise_cells.get(e.id, -1)
        result.check_cells[e.id] = next(j for j in range(start + 1, len(nb.cells)) if nb.cells[j].cell_type == "code")
    result.edits += _cell_edits(nb, student_code, set(result.exercise_cells.values()), by_header)
    result.answers = _answers(inst_nb, student_nb)
    attempted = any(result.attempted.values())
    result.fingerprint = hashlib.sha256(result.fingerprint.encode()).hexdigest()[:16] if attempted else ""
    return result


def _cell_edits(nb, student_code, exercise_cells, by_header):
    """Code cells the student added, removed or changed outside the exercise cells (in the instructor's order)."""
    theirs = [c for c in student_code if not any(c is v for v in by_header.values())
              and not exercise_header(c.source)]
    ours = [c for i, c in enumerate(nb.cells) if c.cell_type == "code" and i not in exercise_cells]
    a = [code_key(strip_solutions(c.source, exercise_id="x")) for c in ours]
    b = [code_key(c.source) for c in theirs]
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for c in theirs[j1:j2]:
            edits.append(f"{'cell added' if tag == 'insert' else 'cell changed'}: `{_first(c.source)}`")
        if tag == "delete":
            edits += [f"cell removed: `{_first(c.source)}`" for c in ours[i1:i2]]
    return edits


def _first(source):
    line = next((ln for ln in source.splitlines() if _significant(ln)), source.strip()[:80])
    return line.strip()[:80]
