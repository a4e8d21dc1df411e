"""Nothing of the hidden set in what a student receives: on the hidden sets the student's report
(``student_dict``, ``public_view``) keeps no child log and, of an error raised by student code,
only its type and the student's own file:line; on the dev sets both stay."""

from __future__ import annotations

import json

from support.grading import reference_modules

from challenge.checks import run_local
from challenge.report import WITHHELD, GradeReport, QualityResult, TaskResult

LEAKS = '''

def _leak(*args, **kwargs):
    raise ValueError("hidden input: " + repr(args)[:200] + " SECRET-MARKER")


Tokenizer.encode = _leak
'''


def _report(tmp_path, sets: str) -> GradeReport:
    (tmp_path / "tokenizer.py").write_text(reference_modules()["tokenizer"] + LEAKS)
    checks = [c for c in run_local(str(tmp_path), ["tokenizer"]) if "SECRET-MARKER" in c.message]
    assert checks, "the attack: the exception's text reaches the check's message"
    quality = QualityResult(0.0, 10.0, status="error",
                            reason=f"generate failed: {checks[0].message}")
    task = TaskResult("spam", 0.0, 10.0, checks, quality)
    return GradeReport("mallory", "m.zip", "", "code", "ok", "", 0.0, 10.0, {"spam": task}, "",
                       "", "", sets=sets, log="1210 hidden messages ... SECRET-MARKER")


def test_on_the_hidden_sets_the_student_sees_the_error_type_and_place_only(tmp_path):
    report = _report(tmp_path, "hidden")
    for view in (report.student_dict(), report.public_view().to_dict()):
        text = json.dumps(view)
        assert "SECRET-MARKER" not in text and "hidden input:" not in text
        assert view["log"] == ""
        for check in view["tasks"]["spam"]["checks"]:
            assert "raised ValueError at tokenizer.py:" in check["message"]
            assert check["message"].endswith(WITHHELD)
        assert view["tasks"]["spam"]["quality"]["reason"].endswith(WITHHELD)
    assert "SECRET-MARKER" in json.dumps(report.to_dict())     # the instructor's copy keeps it


def test_a_not_implemented_error_of_student_code_keeps_no_text_either():
    report = GradeReport("m", "", "", "code", "ok", "", 0.0, 1.0, {}, "", "", "", sets="hidden")
    report.tasks["spam"] = TaskResult("spam", 0.0, 1.0, quality=QualityResult(
        0.0, 1.0, "not_implemented", "not implemented yet: m00042 SECRET-MARKER"))
    reason = report.student_dict()["tasks"]["spam"]["quality"]["reason"]
    assert reason == "not implemented yet" + WITHHELD


def test_on_the_dev_sets_the_student_keeps_the_message_and_the_log(tmp_path):
    report = _report(tmp_path, "dev")
    view = report.student_dict()
    assert "SECRET-MARKER" in view["log"]
    assert all("SECRET-MARKER" in c["message"] for c in view["tasks"]["spam"]["checks"])
    assert "SECRET-MARKER" in json.dumps(report.public_view().to_dict())
