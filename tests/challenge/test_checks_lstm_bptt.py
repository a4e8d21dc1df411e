"""The lstm_cell and bptt checks: the reference passes all of them, and deliberately wrong
modules (made from the reference by one edit) fail the right check with a helpful message."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from challenge.checks import all_checks, run_local

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _variant(tmp_path: Path, part: str, *edits: tuple[str, str]) -> str:
    """A copy of solutions/<part>.py with each (old, new) edit applied exactly once."""
    text = (ROOT / "solutions" / f"{part}.py").read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (tmp_path / f"{part}.py").write_text(text)
    return str(tmp_path)


def _results(impl: str, part: str) -> dict:
    return {r.name: r for r in run_local(impl, parts=[part])}


@pytest.mark.parametrize("part", ["lstm_cell", "bptt"])
def test_the_solutions_pass_every_check(part):
    results = run_local("solutions", parts=[part])
    assert len(results) == len(all_checks([part])) >= 6
    assert [r.message for r in results if not r.passed] == []
    assert all(r.points == r.max_points > 0 for r in results)


def test_checks_do_not_leave_torch_patched():
    before = (torch.nn.LSTMCell.forward, torch.lstm_cell, torch._VF.lstm_cell, torch.ops.aten.lstm)
    run_local("solutions", parts=["lstm_cell"])
    assert (torch.nn.LSTMCell.forward, torch.lstm_cell, torch._VF.lstm_cell, torch.ops.aten.lstm) == before


def test_swapped_gate_order_is_named(tmp_path):
    impl = _variant(tmp_path, "lstm_cell", ("i, f, g, o = gates.chunk(4, dim=1)  ",
                                            "i, f, o, g = gates.chunk(4, dim=1)  "))
    results = _results(impl, "lstm_cell")
    forward = results["forward_matches_torch"]
    assert forward.status == "failed" and forward.points == 0
    assert "h' of LSTMCell(x, (h, c)): values differ" in forward.message
    assert "read as i, f, o, g instead of i, f, g, o" in forward.message
    assert "fix forward_matches_torch first" in results["gradients_match_torch"].message
    assert results["parameters"].passed and results["from_scratch"].passed


def test_missing_bias_hh_is_named(tmp_path):
    impl = _variant(tmp_path, "lstm_cell", ("gates = gates + self.bias_ih + self.bias_hh",
                                            "gates = gates + self.bias_ih"))
    assert "bias_hh is not added" in _results(impl, "lstm_cell")["forward_matches_torch"].message


def test_state_not_carried_is_caught_by_the_unrolled_check(tmp_path):
    impl = _variant(tmp_path, "lstm_cell", ("state = self.cell(x[:, t], state)  ",
                                            "state = self.cell(x[:, t], None)  "))
    results = _results(impl, "lstm_cell")
    assert results["forward_matches_torch"].passed
    unrolled = results["unrolled_matches_torch_lstm"]
    assert not unrolled.passed and "the first step matches but later ones do not" in unrolled.message


def test_detached_state_loses_its_gradient(tmp_path):
    impl = _variant(tmp_path, "lstm_cell", ("c_next = f * c + i * g  ", "c_next = f * c.detach() + i * g  "))
    results = _results(impl, "lstm_cell")
    assert results["forward_matches_torch"].passed
    message = results["gradients_match_torch"].message
    assert "gradient w.r.t. c (state)" in message


def _wrapper_source() -> str:
    return '''
import torch
from torch import nn

class LSTMCell(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True):
        super().__init__()
        self.inner = nn.LSTMCell(input_size, hidden_size, bias)
    def forward(self, x, state=None):
        return self.inner(x, state)

class LSTM(nn.Module):
    def __init__(self, input_size, hidden_size, bias=True, batch_first=True):
        super().__init__()
        self.cell = LSTMCell(input_size, hidden_size, bias)
    def forward(self, x, state=None):
        outs = []
        for t in range(x.size(1)):
            state = self.cell(x[:, t], state)
            outs.append(state[0])
        return torch.stack(outs, 1), state
'''


def test_a_cell_wrapping_torch_lstmcell_is_reported(tmp_path):
    (tmp_path / "lstm_cell.py").write_text(_wrapper_source())
    results = _results(str(tmp_path), "lstm_cell")
    scratch = results["from_scratch"]
    assert scratch.status == "failed"
    assert "uses a torch.nn.LSTMCell submodule 'inner'" in scratch.message
    assert "not allowed" in scratch.message
    # the numbers would match torch, but they are not credited either
    for name in ("forward_matches_torch", "gradients_match_torch", "unrolled_matches_torch_lstm"):
        assert not results[name].passed and "torch.nn.LSTMCell" in results[name].message


def test_a_cell_calling_torch_lstm_cell_function_is_reported(tmp_path):
    impl = _variant(tmp_path, "lstm_cell", (
        "        h, c = self.step(x, h, c)\n",
        "        h, c = torch.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, "
        "self.bias_hh)\n"))
    message = _results(impl, "lstm_cell")["from_scratch"].message
    assert "your LSTMCell uses torch's LSTM cell (aten::lstm_cell" in message


def test_bptt_without_sum_over_time_is_named(tmp_path):
    impl = _variant(tmp_path, "bptt", ('grads["dW"] += np.outer(da, h_prev)',
                                       'grads["dW"] = np.outer(da, h_prev)'))
    results = _results(impl, "bptt")
    message = results["gradient_dW"].message
    assert message.startswith("dW from rnn_backward (vs autograd): values differ")
    assert "expected" in message and "got" in message and "first at index" in message
    assert "the first time step alone" in message and "+=" in message
    assert all(results[k].passed for k in ("forward_loss", "gradient_dV", "gradient_dU", "gradient_db"))


@pytest.mark.parametrize("edit, key, expected", [
    (("dh = V.T @ do + W.T @ da_next", "dh = V.T @ do"), "gradient_db", "drops the gradient from step t+1"),
    (("da = (1.0 - hs[t] ** 2) * dh", "da = dh"), "gradient_dU", "no tanh derivative"),
    (("grads[\"dW\"] += np.outer(da, h_prev)", "grads[\"dW\"] += np.outer(da, hs[t])"), "gradient_dW",
     "dW gets da_t h_{t-1}^T"),
    (("    return loss, cache\n", "    return loss / len(xs), cache\n"), "forward_loss", "MEAN over time"),
])
def test_bptt_mistakes_are_named(tmp_path, edit, key, expected):
    result = _results(_variant(tmp_path, "bptt", edit), "bptt")[key]
    assert not result.passed and expected in result.message


def test_per_array_clipping_is_named(tmp_path):
    impl = _variant(tmp_path, "bptt", ("return {k: g * scale for k, g in grads.items()}",
                                       "return {k: g * min(1.0, max_norm / np.linalg.norm(g)) "
                                       "for k, g in grads.items()}"))
    message = _results(impl, "bptt")["clip_gradients"].message
    assert "each array was clipped on its own" in message


def test_unwritten_functions_report_not_implemented(tmp_path):
    raise_line = "raise NotImplementedError('write the equations'); "
    gates = "gates = x @ self.weight_ih.T + h @ self.weight_hh.T  "
    _variant(tmp_path, "lstm_cell", (gates, raise_line + gates))
    carry = "da_next = np.zeros(W.shape[0])"
    _variant(tmp_path, "bptt", (carry, raise_line + carry))
    results = run_local(str(tmp_path), parts=["lstm_cell", "bptt"])
    status = {f"{r.part}.{r.name}": r.status for r in results}
    assert status["lstm_cell.forward_matches_torch"] == status["bptt.gradient_dW"] == "not_implemented"
    assert status["lstm_cell.parameters"] == status["bptt.forward_loss"] == "passed"
    messages = [r.message for r in results if r.status == "not_implemented"]
    assert messages and all(m == "not implemented yet: write the equations" for m in messages)


@pytest.mark.parametrize("edit, cause", [
    (('grads["dW"] += np.outer(da, h_prev)', 'grads["dW"] -= 3 * np.outer(da, h_prev)'),
     r"The cause is rnn_backward: on the first step its dW is not autograd's \(first differs at "
     r"index \(\d+, \d+\): expected .*\); the gradient_dW check names the likely mistake"),
    (('    return {k: p - lr * grads["d" + k] for k, p in params.items()}\n    # END',
      '    return {k: p + lr * grads["d" + k] for k, p in params.items()}\n    # END'),
     r"The cause is sgd_step: after the first step '\w' is not params - lr \* grads"),
], ids=["dW", "sgd_step"])
def test_training_that_does_not_learn_names_the_function_at_fault(tmp_path, edit, cause):
    import re

    result = _results(_variant(tmp_path, "bptt", edit), "bptt")["training_reduces_loss"]
    assert not result.passed and re.search(cause, result.message), result.message
