"""Typed, bounded replies (issue #30, item 1, and N16 of item 2): every check declares the output
it expects, and the grader refuses anything else before a verify runs; a check's payload holds
only what the student's function receives, never the answer it is judged against."""

from __future__ import annotations

import pytest
import torch
from support.grading import ATTACK_TASKS, attack_env, grade_attack, tiny_rubric

from challenge.checks import all_checks, judge
from challenge.checks.base import RunOutcome
from challenge.checks.outputs import (
    Items,
    Map,
    OneOf,
    OutputMismatch,
    Plain,
    Seq,
    Tensor,
    bounded,
    conforms,
    items,
    upto,
)
from challenge.impl import load_module

RUBRIC = tiny_rubric(tasks=ATTACK_TASKS, check_seconds=20.0, unit_seconds=8.0)


def test_every_check_sends_only_what_its_run_step_reads():
    for check in all_checks():
        data = check.make_inputs(0)
        sent = check.payload(data)
        assert check.sends is not None, check.key
        assert set(sent) <= set(data)
    tokens = next(c for c in all_checks(["tokenizer"]) if c.name == "tokenize_words")
    assert "tokens" not in tokens.payload(tokens.make_inputs(0))     # N16: the expected tokens


def test_a_huge_output_fails_before_verify_with_the_expected_shape():
    for check in all_checks(["lstm_cell", "bptt", "batching"]):
        data = check.make_inputs(0)
        result = judge(check, data, RunOutcome(output=torch.zeros(1 << 20)))
        assert not result.passed and result.status == "failed"
        assert "expected a " in result.message and "got a tensor of shape (1048576,)" in \
            result.message, result.message


def _specs(spec):
    """Every node of a declaration."""
    yield spec
    children = (spec.options if isinstance(spec, OneOf) else spec.items if isinstance(spec, Items)
                else (spec.item,) if isinstance(spec, Seq)
                else (*spec.fields.values(), *([spec.others] if spec.others else []))
                if isinstance(spec, Map) else ())
    for child in children:
        yield from _specs(child)


def test_every_check_declares_types_shapes_and_dtypes_not_just_a_size():
    for check in all_checks():
        nodes = list(_specs(check.expected(check.make_inputs(0))))
        assert not any(isinstance(n, Plain) for n in nodes), check.key
        tensors = [n for n in nodes if isinstance(n, Tensor)]
        assert all(t.dtypes for t in tensors), check.key
        assert all(t.shape is not None or t.max_numel <= 4096 for t in tensors), check.key


def _reference_outputs():
    for check in all_checks():
        data = check.make_inputs(0)
        module = load_module("solutions", check.part)
        yield check, data, check.run(module, check.payload(data))


def _first_tensor(value, path=()):
    """The path to the first tensor inside ``value`` (None when it holds none)."""
    if isinstance(value, torch.Tensor):
        return path
    pairs = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, (list, tuple)) else ())
    for key, item in pairs:
        found = _first_tensor(item, path + (key,))
        if found is not None:
            return found
    return None


def _replaced(value, path, new):
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    out = list(value)
    out[head] = _replaced(value[head], rest, new)
    return type(value)(out) if isinstance(value, tuple) else out


@pytest.mark.parametrize("attack", ["dtype", "shape", "huge"])
def test_a_reply_of_another_dtype_or_shape_is_refused_naming_what_was_expected(attack):
    """For every check with a tensor in its output, the reference's output with that tensor
    changed (complex-free dtypes only, as the wire carries) fails before verify, naming the
    dtype or the shape the check expects; the unchanged output passes."""
    seen = 0
    for check, data, output in _reference_outputs():
        assert judge(check, data, RunOutcome(output=output)).passed, check.key
        path = _first_tensor(output)
        if path is None:
            continue
        old = output
        for key in path:
            old = old[key]
        new = {"dtype": (old.to(torch.bool) if old.is_floating_point() else old.to(torch.bfloat16)),
               "shape": old.reshape(-1).repeat(100)[:, None].expand(-1, 3).contiguous(),
               "huge": torch.zeros(1 << 20, dtype=old.dtype)}[attack]
        result = judge(check, data, RunOutcome(output=_replaced(output, path, new)))
        assert not result.passed and result.status == "failed", check.key
        assert "(the output this check expects)" in result.message, result.message
        if attack == "dtype":
            assert f"dtype {str(new.dtype).removeprefix('torch.')}" in result.message, \
                result.message
        else:
            assert f"shape {tuple(new.shape)}" in result.message, result.message
        assert "expected" in result.message and ("a tensor of shape" in result.message
                                                 or "dtype" in result.message), result.message
        seen += 1
    assert seen >= 20


def test_declarations_name_shapes_and_dtypes():
    with pytest.raises(OutputMismatch, match=r"expected a tensor of shape \(3, \*\) of dtype "
                                             r"int64, got shape \(4, 2\)"):
        conforms(Tensor((3, None), (torch.int64,)), torch.zeros(4, 2, dtype=torch.int64))
    conforms(Tensor((3, None), (torch.int64,)), torch.zeros(3, 9, dtype=torch.int64))
    with pytest.raises(OutputMismatch):
        conforms(Plain(100), [[0] * 60, [0] * 60])


def test_counting_a_huge_value_stops_early():
    huge = [0] * 10_000_000
    assert items(huge, 1000) > 1000
    with pytest.raises(ValueError, match="more than the 8 items"):
        bounded(torch.zeros(1 << 23, dtype=torch.uint8), "pad_batch", 8)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return attack_env(tmp_path_factory.mktemp("typed"), RUBRIC)


#: N7: every check answers a legal 64 MiB tensor (under max_output_mb).
HUGE = """
import torch
from challenge.checks import all_checks
for _c in all_checks():
    object.__setattr__(_c, "run", lambda module, data: torch.zeros(16 << 20))
"""


@pytest.mark.slow
def test_every_check_answering_64_mib_is_a_zero_with_the_expected_shape(env, tmp_path):
    report = grade_attack(env, tmp_path / "alice.zip", HUGE, "lstm_cell", rubric=RUBRIC)
    checks = [c for c in report.tasks["foundations"].checks if c.part == "lstm_cell"]
    assert report.status == "ok" and checks
    assert all(not c.passed and c.points == 0 for c in checks)
    assert all("this check expects" in c.message and "bytes, more than the" in c.message
               for c in checks), checks[0].message


#: N16: a replaced run step that answers from its own inputs earns nothing on the stub.
FROM_INPUTS = """
from challenge.checks import all_checks
for _c in all_checks(["tokenizer"]):
    object.__setattr__(_c, "run", lambda module, data: {"lower": data.get("tokens"),
                                                          "cased": ["hello", "world"]})
"""


def test_checks_cannot_be_answered_from_their_own_inputs():
    from challenge.checks import execute

    check = next(c for c in all_checks(["tokenizer"]) if c.name == "tokenize_words")
    cheat = type("Cheat", (), {})()
    data = check.make_inputs(0)
    replaced = check.__class__(check.part, check.name, check.points, check.make_inputs,
                               lambda module, d: {"lower": d.get("tokens"), "cased": []},
                               check.verify, sends=check.sends)
    outcome = execute(replaced, cheat, replaced.payload(data))
    assert outcome.output["lower"] is None
    assert not judge(check, data, outcome).passed


#: Through the public interface: the student's own functions return a wrong dtype, a wrong shape
#: and a 32 MiB array where small ones belong; the checks fail naming what they expect, the
#: grade goes on.
WRONG_OUTPUTS = {
    "lstm_cell": """
_honest_forward = LSTMCell.forward


def _wrong_forward(self, x, state=None):
    h, c = _honest_forward(self, x, state)
    return h.to(torch.int64), c.reshape(-1)      # the right values, of another dtype and shape


LSTMCell.forward = _wrong_forward
""",
    "bptt": """
_honest_backward = rnn_backward
_honest_clip = clip_gradients


def rnn_backward(cache):
    grads = _honest_backward(cache)
    grads["dW"] = np.zeros((5, 7))                # dW of the wrong shape
    return grads


def clip_gradients(grads, max_norm):
    out = _honest_clip(grads, max_norm)
    out["dU"] = np.zeros((2048, 2048))            # 32 MiB where a (5, 6) array belongs
    return out
""",
}


@pytest.mark.slow
def test_student_functions_returning_wrong_dtypes_shapes_and_sizes_fail_by_declaration(env,
                                                                                         tmp_path):
    from support.grading import reference_modules

    modules = reference_modules()
    modules["lstm_cell"] += WRONG_OUTPUTS["lstm_cell"]
    report = grade_attack(env, tmp_path / "alice.zip", WRONG_OUTPUTS["bptt"], "bptt",
                          modules=modules, rubric=RUBRIC)
    assert report.status == "ok"
    checks = {c.name: c for c in report.tasks["foundations"].checks}
    forward = checks["forward_matches_torch"]
    assert not forward.passed and "(the output this check expects)" in forward.message
    assert "output['h']: expected a tensor of shape (3, 4) of dtype" in forward.message
    assert "got dtype int64" in forward.message
    gradient = checks["gradient_dW"]
    assert not gradient.passed
    assert "output['grads']['dW']: expected a tensor of shape (5, 5) of dtype float64" in \
        gradient.message and "got shape (5, 7)" in gradient.message, gradient.message
    clip = checks["clip_gradients"]
    assert not clip.passed and "more than the" in clip.message, clip.message
    assert checks["forward_loss"].passed and checks["gradient_dV"].passed
