"""Typed, bounded replies (issue #30, item 1, and N16 of item 2): every check declares the output
it expects, and the grader refuses anything else before a verify runs; a check's payload holds
only what the student's function receives, never the answer it is judged against."""

from __future__ import annotations

import pytest
import torch
from support.grading import ATTACK_TASKS, attack_env, grade_attack, tiny_rubric

from challenge.checks import all_checks, judge
from challenge.checks.base import RunOutcome
from challenge.checks.outputs import OutputMismatch, Plain, Tensor, bounded, conforms, items

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
        assert "expected a value of at most" in result.message, result.message


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
    assert all("this check expects" in c.message and "a value of at most" in c.message
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
