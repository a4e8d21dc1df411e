"""The scan's verdicts decide the grade, attacks first: an rnn_backward that lets autograd make
the gradients passes every gradient check in the child and earns none of them; a module that
imports the grader (or hides code behind a UTF-7 coding line) is zero for its part, whatever its
checks said; the in-child watch of torch's kernels cannot be cleared from student
code."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.grading import AUTOGRAD_BACKWARD, REPO, reference_modules, tiny_rubric

from challenge.checks import run_local
from grader.grade import AUTOGRAD_RULE_CHECKS, grade
from grader.sandbox import isolation_problem


def _folder(tmp_path: Path, **changed: str) -> Path:
    folder = tmp_path / "impl"
    folder.mkdir()
    for name, source in {**reference_modules(), **changed}.items():
        (folder / f"{name}.py").write_text(source)
    return folder


def _bptt_rubric():
    return tiny_rubric(tasks={"foundations": {"parts": ["bptt"], "checks": 10}})


def test_autograd_in_rnn_backward_passes_in_the_child(tmp_path):
    """The attack: every gradient check passes when only the child judges."""
    folder = _folder(tmp_path, bptt=(REPO / "solutions" / "bptt.py").read_text()
                     + AUTOGRAD_BACKWARD)
    results = {r.name: r for r in run_local(str(folder), ["bptt"])}
    assert all(results[name].passed for name in AUTOGRAD_RULE_CHECKS)


@pytest.mark.skipif(bool(isolation_problem()), reason="needs the sandbox")
def test_autograd_in_rnn_backward_earns_no_gradient_point(tmp_path):
    folder = _folder(tmp_path, bptt=(REPO / "solutions" / "bptt.py").read_text()
                     + AUTOGRAD_BACKWARD)
    report = grade(impl=str(folder), rubric=_bptt_rubric(), data_dir=tmp_path / "data")
    assert report.status == "ok", report.reason
    checks = {c.name: c for c in report.tasks["foundations"].checks}
    for name in AUTOGRAD_RULE_CHECKS:
        assert not checks[name].passed and checks[name].points == 0, name
        assert checks[name].message.startswith("your bptt.py uses autograd"), name
        assert "loss.backward" in checks[name].message
    assert checks["forward_loss"].passed and checks["clip_gradients"].passed


@pytest.mark.parametrize("source", [
    b"import grader.child.tasks as _t\n",
    b"import sys\n_t = sys.modules.get('grader.child.tasks')\n",
    b"# -*- coding: utf-7 -*-\nx = 1  # +AAo-import grader.child.tasks\n",
], ids=["import", "sys.modules", "utf-7"])
def test_a_module_that_reaches_the_grader_is_zero_for_its_part(tmp_path, source):
    folder = _folder(tmp_path)
    (folder / "bptt.py").write_bytes(source + (REPO / "solutions" / "bptt.py").read_bytes()
                                     .split(b"from __future__ import annotations\n", 1)[1])
    rubric = tiny_rubric(tasks={"foundations": {"parts": ["bptt"], "checks": 10},
                                "cell": {"parts": ["lstm_cell"], "checks": 5}})
    report = grade(impl=str(folder), rubric=rubric, data_dir=tmp_path / "data", isolate=False)
    assert report.status == "ok", report.reason
    bptt = report.tasks["foundations"]
    assert bptt.points == 0 and bptt.checks and not any(c.passed for c in bptt.checks)
    assert all(c.message.startswith("your bptt.py ") for c in bptt.checks)
    assert all("grader" in c.message or "utf-7" in c.message for c in bptt.checks)
    assert report.tasks["cell"].points == 5                   # the other part is untouched


CLEARS_THE_WATCH = '''
from challenge.checks import torch_rnn as _watch
try:
    _watch.FORBIDDEN.clear()
except (AttributeError, TypeError):
    pass
_watch.FORBIDDEN = {}
_CELL = torch._VF.lstm_cell
'''


def test_the_in_child_watch_cannot_be_cleared_from_student_code(tmp_path):
    text = (REPO / "solutions" / "lstm_cell.py").read_text()
    start = text.index("        # BEGIN SOLUTION\n        # HINT: gates = x @ self.weight_ih.T")
    end = text.index("        # END SOLUTION", start)
    call = "_CELL(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)"
    text = text[:start] + f"        return tuple({call})\n" + text[end:]
    anchor = "from torch import Tensor, nn\n"
    (tmp_path / "lstm_cell.py").write_text(text.replace(anchor, anchor + CLEARS_THE_WATCH, 1))
    from challenge.checks import torch_rnn

    table = torch_rnn.FORBIDDEN
    try:
        scratch = {r.name: r for r in run_local(str(tmp_path), ["lstm_cell"])}["from_scratch"]
    finally:
        torch_rnn.FORBIDDEN = table          # the module attribute itself is the test's to restore
    assert len(table) == 18                  # the table could not be cleared
    assert not scratch.passed
    assert "torch's LSTM cell (aten::lstm_cell" in scratch.message
