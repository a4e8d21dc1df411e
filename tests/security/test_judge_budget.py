"""Judging one submission has its own time and memory budget (issue #30, item 1): each reply is
judged as it arrives (a check's verify within ``judge_seconds``, a task's outputs measured) and
its output dropped; replies still held (by a caller that cannot judge them on arrival) may take
``judge_mb`` together, and one that would pass it fails alone."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from support.grading import ATTACK_TASKS, attack_env, grade_attack, tiny_rubric

from challenge.checks import all_checks
from challenge.checks.base import RunOutcome
from challenge.rubric import Limits
from grader.child import wire
from grader.judging import ArrivalJudge, judge_within
from grader.sandbox import Held, Unit, UnitResult, run_units


def _endless_verify(data, output):
    while True:                      # a verify that never ends, whatever made it so
        pass


def test_a_verify_past_its_time_fails_that_check_alone_with_the_reason():
    check = replace(all_checks(["bptt"])[0], verify=_endless_verify)
    data = check.make_inputs(0)
    result = judge_within(check, data, RunOutcome(output={"loss": torch.tensor(1.0,
                                                                            dtype=torch.float64)}),
                          0.5)
    assert not result.passed and result.points == 0 and result.status == "failed"
    assert "judging this output took longer than 0.5 s and was stopped" in result.message
    assert "the output this check expects: a dict with keys 'loss'" in result.message


def test_a_verify_past_its_time_is_stopped_in_a_worker_thread_too():
    """A Dask worker judges in one of its threads, where no SIGALRM reaches: the limit must
    hold there as well."""
    import threading

    check = replace(all_checks(["bptt"])[0], verify=_endless_verify)
    data = check.make_inputs(0)
    out: list = []
    worker = threading.Thread(target=lambda: out.append(judge_within(
        check, data, RunOutcome(output={"loss": torch.tensor(1.0, dtype=torch.float64)}), 0.5)),
        daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "the verify ran on past its time in a worker thread"
    assert not out[0].passed and "took longer than 0.5 s and was stopped" in out[0].message


def test_a_limit_in_a_thread_that_is_not_reached_leaves_nothing_behind():
    import threading
    import time

    from challenge.timelimit import time_limit

    errors: list = []

    def body():
        try:
            for _ in range(20):
                with time_limit(0.05):
                    pass                  # done well inside the limit
            time.sleep(0.3)               # past every limit's end: nothing may fire now
        except BaseException as err:      # noqa: BLE001 - the test is that nothing arrives
            errors.append(err)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join(timeout=30)
    assert errors == []


def _body(output) -> bytes:
    return wire.encode({"status": "ok", "message": "", "output": output})


def test_replies_held_past_the_judges_budget_fail_alone_with_the_reason():
    limits = Limits(judge_mb=1)
    held = Held(limits.judge_mb << 20)
    first = held.take("quality:spam", _body(torch.zeros(100_000)), limits)      # 0.4 MB
    second = held.take("quality:sorter", _body(torch.zeros(200_000)), limits)   # 0.8 MB: past
    third = held.take("check:x", _body([1, 2, 3]), limits)
    assert first.status == "ok" and third.status == "ok"
    assert second.status == "malformed"
    assert "would pass the judge's budget of 1 MiB" in second.reason
    assert held.bytes < 1 << 20


def test_replies_judged_on_arrival_hold_nothing_of_their_output():
    limits = Limits(judge_mb=1)
    check = all_checks(["bptt"])[0]
    arrival = ArrivalJudge({"check:x": (check, check.make_inputs(0))}, 10.0)
    held = Held(limits.judge_mb << 20, arrival)
    for _ in range(5):          # 5 x 0.8 MB, each judged and dropped: none counts
        result = held.take("check:x", _body({"loss": torch.zeros(100_000,
                                                                 dtype=torch.float64)}), limits)
        assert result.status == "ok" and result.reply["output"] is None
    assert held.bytes == 0
    verdict = arrival.verdict(check, None, result)
    assert not verdict.passed and "expected a tensor of shape ()" in verdict.message


def test_a_run_judges_each_check_as_its_reply_arrives():
    checks = all_checks(["bptt"])[:3]
    inputs = {f"check:{c.key}": (c, c.make_inputs(0)) for c in checks}
    units = [Unit(key, "check", {"check": c.key, "data": c.payload(d)}, c.part)
             for key, (c, d) in inputs.items()]
    arrival = ArrivalJudge(inputs, 30.0)
    run = run_units(units, impl="solutions", limits=Limits(wall_seconds=120, memory_mb=4096),
                    isolate=False, on_reply=arrival)
    assert all(r.status == "ok" and r.reply["output"] is None for r in run.results)
    assert set(arrival.verdicts) == set(inputs)
    assert all(arrival.verdict(c, d, r).passed
               for (c, d), r in zip(inputs.values(), run.results))


def test_the_rubric_carries_the_judges_budget():
    rubric = tiny_rubric(tasks=ATTACK_TASKS, judge_seconds=5.0, judge_mb=64)
    assert rubric.limits.judge_seconds == 5.0 and rubric.limits.judge_mb == 64
    assert UnitResult("k", "ok").reply is None


@pytest.mark.slow
def test_a_grade_holds_no_reply_every_unit_is_judged_as_it_arrives(tmp_path):
    """With no room at all to hold a reply, a grade is the same as with the default budget:
    every check's reply and both tasks' outputs are judged as they arrive and dropped."""
    rubric = tiny_rubric(tasks=ATTACK_TASKS, check_seconds=20.0, unit_seconds=20.0)
    env = attack_env(tmp_path / "env", rubric)
    usual = grade_attack(env, tmp_path / "alice.zip", rubric=rubric)
    rubric = replace(rubric, limits=replace(rubric.limits, judge_mb=0))   # past any rubric's
    report = grade_attack(env, tmp_path / "bob.zip", rubric=rubric)
    assert report.status == usual.status == "ok"
    assert all(c.passed for c in report.tasks["foundations"].checks)
    for task in ("spam", "sorter"):
        q, before = report.tasks[task].quality, usual.tasks[task].quality
        assert q.status == before.status and q.points == before.points, (task, q.reason)
        assert "judge's budget" not in q.reason
