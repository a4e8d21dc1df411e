"""Late work: the deadline that applies to one student (the rubric's ``[late]`` table moved by
the roster's ``extension``) and the penalty a submission's time earns, written into its report.

An extension is a whole number of days (``2``: two days after the course deadline) or an ISO
time with its UTC offset (``2026-12-20T12:00:00+00:00``: that student's own deadline). A
submission ``d`` days late (a day begun counts as a day) keeps ``1 - d * penalty_per_day`` of
its points, never less than nothing; one more than ``last_day`` days late earns zero, with the
reason. Every graded report then carries ``late`` (:func:`apply_late`), so each report, board
row and feedback file can say which deadline applied and why.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from challenge.errors import ChallengeError
from challenge.rubric import LatePolicy

MAX_EXTENSION_DAYS = 365


def extension_problem(text: str) -> str:
    """Why ``text`` is not an extension (days, or an ISO time with its offset); "" if it is."""
    if not text:
        return ""
    try:
        _parse_extension(text)
    except ValueError as e:
        return str(e)
    return ""


def _parse_extension(text: str) -> int | datetime:
    if text.isdigit():
        days = int(text)
        if days > MAX_EXTENSION_DAYS:
            raise ValueError(f"is more than {MAX_EXTENSION_DAYS} days; give a number of days "
                             "up to that")
        return days
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("is neither a number of days (2) nor an ISO time with its UTC offset "
                         "(2026-12-20T12:00:00+00:00)") from None
    if when.tzinfo is None:
        raise ValueError("has no UTC offset; add one (2026-12-20T12:00:00+00:00), a bare time "
                         "is ambiguous across time zones")
    return when


@dataclass(frozen=True)
class Deadline:
    """The deadline that applies to one student, and why."""

    when: datetime
    why: str                       # "the course deadline" or "an extension of 2 days"

    def days_late(self, submitted: datetime) -> int:
        """Whole days (a day begun counts) ``submitted`` is after this deadline; 0 when on time."""
        late = (submitted - self.when).total_seconds()
        return max(0, math.ceil(late / 86400))


def deadline_for(policy: LatePolicy, extension: str = "") -> Deadline:
    """The course deadline, moved by ``extension`` (the roster's cell) where there is one."""
    base = policy.when
    if not extension:
        return Deadline(base, "the course deadline")
    try:
        moved = _parse_extension(extension)
    except ValueError as e:
        raise ChallengeError(f"extension {extension!r} {e}") from None
    if isinstance(moved, int):
        unit = "day" if moved == 1 else "days"
        return Deadline(base + timedelta(days=moved), f"an extension of {moved} {unit}")
    return Deadline(moved, "an extension to the student's own deadline")


def file_time(timestamp: float) -> datetime:
    """A file's modification time as an aware UTC time (what a folder grade takes as the
    submission's time: docs/instructors.md, "Extensions and late work")."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


def late_note(policy: LatePolicy, deadline: Deadline, submitted: datetime) -> dict:
    """What :func:`apply_late` records: the deadline, the time, the days late, the share kept."""
    days = deadline.days_late(submitted)
    if days > policy.last_day:
        kept = 0.0
    else:
        kept = max(0.0, round(1.0 - days * policy.penalty_per_day, 6))
    when = deadline.when.isoformat(timespec="minutes")
    if days == 0:
        why = f"on time: submitted before {when} ({deadline.why})"
    elif days > policy.last_day:
        why = (f"{days} days late for {when} ({deadline.why}); work more than "
               f"{policy.last_day} days late earns no points")
    else:
        unit = "day" if days == 1 else "days"
        why = (f"{days} {unit} late for {when} ({deadline.why}): "
               f"{policy.penalty_per_day:.0%} a day, {round(1 - kept, 6):.0%} of the points taken")
    return {"deadline": deadline.when.isoformat(), "deadline_why": deadline.why,
            "submitted": submitted.isoformat(timespec="seconds"), "days_late": days,
            "kept": kept, "why": why}


def apply_late(report: dict, policy: LatePolicy | None, submitted: datetime,
               extension: str = "") -> dict:
    """``report`` (a ``GradeReport.to_dict()``) with its ``late`` note and its points cut by
    the penalty; unchanged without a policy. Work past the last day becomes a zero the
    submission caused (status "failed", the reason says why)."""
    if policy is None:
        return report
    note = late_note(policy, deadline_for(policy, extension), submitted)
    out = copy.deepcopy(report)
    before = float(out.get("points", 0.0))
    out["points"] = round(before * note["kept"], 6)
    note["penalty"] = round(before - out["points"], 6)
    if out.get("scores"):      # each part's total (challenge.report.PARTS) loses the same share
        out["scores"] = {p: round(v * note["kept"], 6) for p, v in out["scores"].items()}
    out["late"] = note
    if note["days_late"] > policy.last_day and out.get("status") == "ok":
        out["status"], out["reason"] = "failed", note["why"]
    return out


def shown_note(note: dict, points: float) -> dict:
    """``note`` as a student may read it beside ``points``, the total on the part they are
    shown (the public part while the challenge runs): the penalty is that total's share, never
    the recorded one, which the whole hidden set's points give and would give away."""
    if not note:
        return {}
    return {**note, "penalty": round(points * (1 - note.get("kept", 1.0)), 6)}
