"""Assemble the gradebook from the per-student results of one run or of several shards (the `merge` step).

Writes OUT/gradebook.csv (one row per student folder, one column per exercise, total, max, one column per
written question, flags), OUT/grades.json, OUT/reports/<student>.md, OUT/written.md (every answer to each
written question, for grading by hand) and OUT/summary.md (what was not graded and why, the rules used).
"""
import csv
import io
import json
import shutil
from pathlib import Path

from .collect import PICK_RULES
from .model import FLAGS, Flag, NotebookGrade, StudentGrade, flag_summary, from_dict, to_dict
from .splice import QUESTION_TAG
from .worker import write_atomic

NO_RESULT = "no_result"
WARNING = ("⚠️ Graded WITHOUT a sandbox (--no-sandbox): student code ran with the grader's permissions and could "
           "have changed any file it can write, these results included.")


def questions(course):
    """[[notebook, question id, points]] for the markdown cells tagged written-question."""
    found = []
    for stem, (nb, _) in course.items():
        for cell in nb.cells:
            meta = cell.get("metadata", {})
            if cell.cell_type == "markdown" and QUESTION_TAG in meta.get("tags", []):
                found.append([stem, meta.get("course", {}).get("question") or cell.get("id", ""),
                              meta.get("course", {}).get("points", 0)])
    return found


def _listings(dirs):
    found = [json.loads(p.read_text(encoding="utf-8")) for d in dirs for p in sorted(Path(d).glob("listing-*-of-*.json"))]
    if not found:
        raise SystemExit(f"no listing-K-of-N.json in {', '.join(map(str, dirs))}: nothing was graded there")
    n = found[0]["shard"][1]
    stamps = {lst["stamp"] for lst in found}
    if len(stamps) > 1 or any(lst["shard"][1] != n for lst in found):
        raise SystemExit("these results come from different runs (other solutions, options or shard counts)")
    return found, sorted({lst["shard"][0] for lst in found}), n


def assemble(out, dirs):
    """Write the gradebook in `out` from the results in `dirs`; return the keys of students without a result."""
    out = Path(out)
    listings, shards, n = _listings(dirs)
    first = listings[0]
    results = {}
    for d in dirs:
        for p in sorted((Path(d) / "results").glob("*.json")):
            data = json.loads(p.read_text(encoding="utf-8"))
            if data.get("stamp") == first["stamp"]:
                results[data["key"]] = data
                if Path(d).resolve() != out.resolve():
                    (out / "results").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(p, out / "results" / p.name)
    grades, missing = [], []
    for key, name, source, skipped in first["students"]:
        if key in results:
            grades.append((key, from_dict(results[key]), skipped))
        else:
            missing.append(key)
            sg = StudentGrade(name, [NotebookGrade(stem) for stem in first["columns"]], source=source)
            for ng in sg.notebooks:
                ng.flag(NO_RESULT, f"not graded yet ({len(shards)} of {n} shards merged)")
            grades.append((key, sg, skipped))
    _identical(grades)
    _write(out, grades, first, [k for k in range(1, n + 1) if k not in shards])
    return missing


def _identical(grades):
    """Flag notebooks whose solution regions equal another student's."""
    seen = {}
    for _, sg, _ in grades:
        for ng in sg.notebooks:
            if ng.fingerprint:
                seen.setdefault((ng.notebook, ng.fingerprint), []).append(sg.student)
    for _, sg, _ in grades:
        for ng in sg.notebooks:
            others = [s for s in seen.get((ng.notebook, ng.fingerprint), []) if s != sg.student]
            if ng.fingerprint and others:
                ng.flags.append(Flag("identical_work", f"same solution regions as {', '.join(others[:5])}"))


def _write_text(path, text):
    write_atomic(path, text.encode("utf-8", "backslashreplace").decode("utf-8"))


def _write(out, grades, listing, shards_missing):
    columns = [e for exs in listing["columns"].values() for e, _ in exs]
    qs = listing["questions"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["student", *columns, "total", "max", *[f"written:{q}" for _, q, _ in qs], "flags"])
    for _, sg, _ in grades:
        scores = {e.exercise: e.score for ng in sg.notebooks for e in ng.exercises}
        answered = {(ng.notebook, a.question): a.answered for ng in sg.notebooks for a in ng.answers}
        w.writerow([sg.student, *[scores.get(c, 0) for c in columns], sg.total,
                    sg.max_total or sum(p for exs in listing["columns"].values() for _, p in exs),
                    *["answered" if answered.get((s, q)) else "no answer" for s, q, _ in qs], flag_summary(sg)])
    _write_text(out / "gradebook.csv", buf.getvalue())
    _write_text(out / "grades.json", json.dumps([{**to_dict(sg), "key": key} for key, sg, _ in grades],
                                                indent=1, ensure_ascii=False) + "\n")
    (out / "reports").mkdir(parents=True, exist_ok=True)
    for key, sg, skipped in grades:
        _write_text(out / "reports" / f"{key}.md", report_markdown(sg, skipped, listing))
    _write_text(out / "written.md", written_markdown(grades, qs))
    _write_text(out / "summary.md", summary_markdown(grades, listing, shards_missing))


def report_markdown(sg, skipped=(), listing=None):
    """One student's report: marks and hints, flags explained, edits that did not run, written answers, errors."""
    mark = {"pass": "✅", "fail": "❌"}
    lines = [f"# {sg.student}: {sg.total} / {sg.max_total} points", ""]
    if not sg.sandboxed:
        lines += [WARNING, ""]
    lines += ["| notebook | exercise | score | result |", "|---|---|---|---|"]
    for ng in sg.notebooks:
        for e in ng.exercises:
            msg = f"{e.status}: {e.message}" if e.message else e.status
            lines.append(f"| {ng.notebook} | {e.exercise} | {e.score} / {e.points} | "
                         f"{mark.get(e.status, '⚠️')} {msg.replace('|', '/')} |")
    flagged = [(ng.notebook, f) for ng in sg.notebooks for f in ng.flags]
    lines += ["", "## Flags", ""]
    lines += [f"- **{f.code}** ({nb}): {f.text}. _{FLAGS.get(f.code, '')}_" for nb, f in flagged] or ["none"]
    for ng in sg.notebooks:
        lines += ["", f"## {ng.notebook}", "", f"- file graded: `{ng.file or '(none)'}`", f"- re-run time: {ng.seconds} s"]
        if ng.edits:
            lines += ["- edits outside the solution regions (the instructor's version ran instead):"]
            lines += [f"  - {e}" for e in ng.edits[:30]] + ([f"  - ... {len(ng.edits) - 30} more"] if len(ng.edits) > 30 else [])
        if ng.errors:
            lines += ["- errors when re-run (in order):"] + [f"  - {e}" for e in ng.errors[:20]]
        for a in ng.answers:
            lines += ["", f"### Written question {a.question} ({a.points} points, grade by hand)", ""]
            lines += ["> " + ln for ln in a.text.strip().splitlines()] if a.answered else ["_no answer_"]
    if skipped:
        lines += ["", "## Files not graded", ""] + [f"- `{p}`: {why}" for p, why in skipped]
    return "\n".join(lines) + "\n"


def written_markdown(grades, qs):
    """Every student's answer to each written question, question by question."""
    lines = ["# Written questions (grade by hand)", ""]
    for stem, q, points in qs:
        lines += [f"## {stem}: {q} ({points} points)", ""]
        for _, sg, _ in grades:
            a = next((a for ng in sg.notebooks if ng.notebook == stem for a in ng.answers if a.question == q), None)
            body = a.text.strip().splitlines() if a and a.answered else ["_no answer_"]
            lines += [f"### {sg.student}", ""] + ["> " + ln if a and a.answered else ln for ln in body] + [""]
    return "\n".join(lines) + "\n"


def summary_markdown(grades, listing, shards_missing):
    """The run as a whole: sandbox, rules, what was not graded and why."""
    lines = ["# Grading summary", ""]
    if not listing["sandboxed"]:
        lines += [WARNING, ""]
    lines += [f"- students: {len(grades)}; sandbox: {'bubblewrap' if listing['sandboxed'] else 'NONE'}",
              f"- several files for one notebook: graded {PICK_RULES[listing['pick']]} (`--pick {listing['pick']}`)"]
    if shards_missing:
        lines += [f"- shards not merged yet: {', '.join(map(str, shards_missing))} of {listing['shard'][1]}"]
    lines += ["", "## Not graded", ""]
    rows = [(name, why) for name, why in listing["skipped"]]
    rows += [(f"{sg.source}{p}", why) for _, sg, skipped in grades for p, why in skipped]
    lines += [f"- `{name}`: {why}" for name, why in rows] or ["nothing: every file was graded"]
    return "\n".join(lines) + "\n"
