"""The fixture class graded sandboxed, attackers included: honest students keep the marks they earn alone, every
attacker scores 0 on the exercise it tampered with or is flagged, and nothing outside the grader's output changes.

Attacks and accidents: tests/admin/fixtures/attacks.py and make_fixtures.py (git-hostile accidents: conftest.py).
"""
import csv
import os
import subprocess

import pytest
from classroom import ATTACKERS, HONEST, NON_UTF8, needs_sandbox

from course_admin.grading.collect import printable

pytestmark = needs_sandbox
IDS = ["img_to_patch", "attention", "transformer_block", "lenet_flatten"]

# case: (scores for img_to_patch, attention, transformer_block (2 points), lenet_flatten), flags (identical_work aside)
EXPECTED = {
    "solution": ((1, 1, 2, 1), set()),
    "student_edition": ((0, 0, 0, 0), {"not_executed", "run_error"}),
    "wrong_patch_order": ((0, 1, 2, 1), set()),
    "no_attention_scale": ((1, 0, 2, 1), set()),
    "shared_layernorm": ((1, 1, 0, 1), set()),
    "infinite_loop": ((1, 0, 2, 1), {"timeout", "stored_error"}),
    "syntax_error": ((1, 1, 0, 1), {"run_error", "stored_error"}),
    "deleted_check_cell": ((1, 1, 2, 1), {"edited_outside"}),      # the instructor's check cell runs anyway
    "corrupt_file": ((0, 0, 0, 0), {"corrupt"}),
    "out_of_order": ((1, 1, 2, 1), {"out_of_order"}),
    "forged_check": ((1, 0, 2, 1), {"edited_outside"}),            # its extra check cell never ran
    "kernel_dies": ((1, 1, 0, 0), {"kernel_died", "not_executed", "suspicious_code"}),
    "comment_in_check": ((1, 1, 2, 1), set()),                     # %%time and comments in a check cell: no edit
    "huge_line": ((1, 1, 2, 1), {"edited_outside"}),               # a 256 KB first line in an added cell
    "nothing_handed_in": ((0, 0, 0, 0), {"missing_notebook"}),
}
ACCIDENTS = {
    printable(NON_UTF8): ((1, 1, 2, 1), set()),
    "reports": ((1, 1, 2, 1), set()),
    "linked": ((0, 0, 0, 0), {"missing_notebook", "symlink"}),
    "two_files": ((1, 1, 2, 1), {"ambiguous_file"}),               # the finished file is newer: it is graded
}
# attacker: flags it must get (its attention exercise must also score 0 unless it is flagged suspicious_code)
ATTACK_FLAGS = {
    "attack_call_reference": {"suspicious_code"},
    "attack_detached_rewrite": {"suspicious_code"},
    "attack_forge_log": {"suspicious_code", "forged_result"},
    "attack_kill_grader": {"suspicious_code"},
    "attack_monkeypatch_torch": {"suspicious_code", "tampered"},
    "attack_output_flood": {"output_limit"},
    "attack_overwrite_others": {"suspicious_code"},
    "attack_patch_checks_on_disk": {"suspicious_code"},
    "attack_poison_logs": {"suspicious_code"},
    "attack_read_solutions": {"suspicious_code"},
    "attack_rebind_and_paste": {"edited_outside"},
    "attack_redefine_check": {"suspicious_code", "tampered"},
    "attack_redefine_report": {"suspicious_code", "tampered"},
    "attack_report_from_function": {"suspicious_code", "duplicate_result"},
    "attack_steal_secret": {"suspicious_code", "duplicate_result"},
}


def scores_flags(sg):
    (nb,) = sg.notebooks
    return tuple(e.score for e in nb.exercises), {f.code for f in nb.flags} - {"identical_work"}


def test_every_attack_has_an_expectation():
    assert sorted(ATTACK_FLAGS) == ATTACKERS and set(EXPECTED) - {"nothing_handed_in"} == set(HONEST)


@pytest.mark.parametrize("case", [*EXPECTED, *ACCIDENTS])
def test_honest_marks_and_flags(graded_class, case):
    scores, flags = {**EXPECTED, **ACCIDENTS}[case]
    sg = graded_class["grades"][case]
    assert scores_flags(sg) == (scores, flags), [(e.exercise, e.status, e.message[:80]) for e in sg.notebooks[0].exercises]


@pytest.mark.parametrize("case", HONEST + ["nothing_handed_in"])
def test_honest_students_get_what_they_get_alone(graded_class, graded_honest, case):
    assert scores_flags(graded_class["grades"][case]) == scores_flags(graded_honest[case])


@pytest.mark.parametrize("case", ATTACKERS)
def test_attacker_scores_zero_or_is_flagged(graded_class, case):
    sg = graded_class["grades"][case]
    scores, flags = scores_flags(sg)
    assert ATTACK_FLAGS[case] <= flags, flags
    attention = scores[IDS.index("attention")]
    assert attention == 0 or case == "attack_call_reference", (case, scores)  # the reference passes, flagged
    if case == "attack_call_reference":
        assert "the reference scaled_dot_product_attention" in next(f.text for f in sg.notebooks[0].flags
                                                                    if f.code == "suspicious_code")


def test_gradebook_is_complete_and_nobody_changed_anything(graded_class):
    out, subs = graded_class["out"], graded_class["subs"]
    assert graded_class["after"] == graded_class["before"], "a submission was changed during grading"
    assert graded_class["book_later"] == graded_class["book"], "the gradebook changed after the grader finished"
    assert "ATTACK-PATCHED" not in graded_class["core_text"]
    rows = list(csv.DictReader(open(out / "gradebook.csv", newline="", encoding="utf-8")))
    folders = sorted(printable(p.name) for p in subs.iterdir() if p.is_dir())
    assert sorted(r["student"] for r in rows) == folders and len(rows) == len(ATTACKERS) + len(HONEST) + 5
    assert list(rows[0])[:5] == ["student", *IDS] and list(rows[0])[-3:] == ["total", "max", "flags"]
    assert all(r["max"] == "5" for r in rows)
    names = sorted(p.name for p in (out / "reports").iterdir())
    assert len(names) == len(rows) and all(n.isascii() for n in names)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "gradebook.csv" not in ps and "course_admin.grading.worker" not in ps, "a process outlived the grader"


def test_summary_lists_everything_not_graded(graded_class):
    summary = (graded_class["out"] / "summary.md").read_text(encoding="utf-8")
    assert "`student.zip`: a zip archive at the top level" in summary
    assert "`linked/01_mini.ipynb`: a symbolic link: not followed" in summary
    assert "`two_files/01_mni.ipynb`: no notebook of this name (did you mean 01_mini?)" in summary
    assert "sandbox: bubblewrap" in summary and "WITHOUT" not in summary
    report = (graded_class["out"] / "reports" / "two_files.md").read_text(encoding="utf-8")
    assert "two_files/01_mini.ipynb, two_files/01_mini_final.ipynb; graded two_files/01_mini_final.ipynb" in report
    assert "the most recently modified file" in report


def test_reports_explain_each_mark(graded_class):
    status = {case: {e.exercise: (e.status, e.message) for e in sg.notebooks[0].exercises}
              for case, sg in graded_class["grades"].items()}
    assert {s for s, _ in status["student_edition"].values()} == {"not implemented"}
    assert status["infinite_loop"]["attention"][0] == "timeout"
    assert status["kernel_dies"]["transformer_block"][0] == "not run"
    assert status["syntax_error"]["transformer_block"][0] == "error"
    assert status["attack_redefine_check"]["attention"] == ("tampered", "replaced when the check ran: "
                                                                        "course_utils.checks.check_attention")
    report = (graded_class["out"] / "reports" / "deleted_check_cell.md").read_text(encoding="utf-8")
    assert "cell removed: `checks.check_attention(my_attention);`" in report
    identical = {c for c, sg in graded_class["grades"].items() if any(f.code == "identical_work" for f in sg.notebooks[0].flags)}
    assert {"solution", "comment_in_check", "reports", printable(NON_UTF8)} <= identical
    assert "wrong_patch_order" not in identical and "student_edition" not in identical


def test_graded_name_that_is_not_utf8_is_written_safely(graded_class):
    key = next(p.name for p in (graded_class["out"] / "results").iterdir() if p.name.startswith("caf"))
    assert key.isascii() and os.fsencode(NON_UTF8) not in os.fsencode(key)
    assert printable(NON_UTF8) == "caf\\xe9_latin1"
