"""Judging replies as they arrive, each check within its own time.

The sandbox hands every reply to :class:`ArrivalJudge` the moment it is decoded: a check's reply
is validated against its check's declared output and verified (:func:`challenge.checks.judge`)
under ``limits.judge_seconds``; a task's outputs on the hidden set are measured (quality, bands,
the sorter's evidence); either way the output is then dropped. So the grader holds one verdict
per unit, never a submission's outputs, and no output can make one verify run for long; a
verify that runs past its time fails that check alone, with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from challenge.checks import judge
from challenge.checks.base import Check, CheckResult, RunOutcome
from challenge.timelimit import TooLong, time_limit
from grader.sandbox import UnitResult


def outcome_of(unit: UnitResult) -> RunOutcome:
    """What the child's run step produced for ``unit``, as :func:`judge` takes it."""
    if unit.status == "ok":
        reply = unit.reply
        return RunOutcome(output=reply["output"], status=reply["status"],
                          message=reply["message"])
    return RunOutcome(status="error", message=f"{unit.status}: {unit.reason}")


def judge_within(check: Check, data: Any, outcome: RunOutcome, seconds: float) -> CheckResult:
    """:func:`judge`, stopped after ``seconds`` (then a failed check that says so)."""
    try:
        with time_limit(seconds):
            return judge(check, data, outcome)
    except TooLong:
        return CheckResult(check.part, check.name, False, 0.0, check.points,
                           f"judging this output took longer than {seconds:g} s and was stopped "
                           f"(the output this check expects: {check.expected(data).describe()})",
                           "failed")


class ArrivalJudge:
    """Judges each check's reply as it arrives (``on_reply`` of
    :func:`grader.sandbox.run_units`) and keeps the verdict; the reply goes on without its
    output. Replies of other units (a task's predictions) pass unchanged."""

    def __init__(self, checks: dict[str, tuple[Check, Any]], seconds: float):
        self.checks = checks                    # unit key -> (check, its inputs)
        self.seconds = seconds
        self.verdicts: dict[str, CheckResult] = {}
        #: unit key -> how to measure a task's outputs (its UnitResult -> the quality result)
        self.tasks: dict[str, Callable[[UnitResult], Any]] = {}
        self.measured: dict[str, Any] = {}

    def __call__(self, unit: UnitResult) -> UnitResult:
        if unit.status != "ok":
            return unit
        if unit.key in self.tasks:
            self.measured[unit.key] = self.tasks[unit.key](unit)
        elif unit.key in self.checks:
            check, data = self.checks[unit.key]
            self.verdicts[unit.key] = judge_within(check, data, outcome_of(unit), self.seconds)
        else:
            return unit
        return replace(unit, reply={**unit.reply, "output": None})

    def task(self, key: str, measure: Callable[[UnitResult], Any], unit: UnitResult) -> Any:
        """The measure of task unit ``key``: the one made on arrival, else ``measure(unit)``
        (a unit that timed out or crashed: nothing of an output to measure)."""
        return self.measured[key] if key in self.measured else measure(unit)

    def verdict(self, check: Check, data: Any, unit: UnitResult) -> CheckResult:
        """The verdict on ``check``: the one made on arrival, else one from ``unit`` (a timeout,
        a crash, a refused reply: nothing of an output to judge)."""
        kept = self.verdicts.get(unit.key)
        if kept is not None:
            return replace(kept)
        return judge_within(check, data, outcome_of(unit), self.seconds)
