"""``challenge check``: the public checks on the student's modules, part by part, with a
summary table.

Failing checks are feedback, not errors: :func:`check` returns a report whatever the checks say.
``challenge submit`` lives in :mod:`challenge.submit`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from challenge.errors import ChallengeError


@dataclass
class PartSummary:
    """The checks of one part: how many passed, the points, and what failed."""

    part: str
    passed: int
    total: int
    points: float
    max_points: float
    status: str          # "passed" | "failed" | "not_implemented" | "no_checks"
    checks: list = field(default_factory=list)   # CheckResult.to_dict() of each check

    def failures(self) -> list[dict]:
        return [c for c in self.checks if not c["passed"]]


@dataclass
class CheckReport:
    """What ``challenge check`` found: one :class:`PartSummary` per part."""

    impl: str
    parts: list[PartSummary]
    seconds: float

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def max_points(self) -> float:
        return sum(p.max_points for p in self.parts)

    def to_dict(self) -> dict:
        return {"impl": self.impl, "points": self.points, "max_points": self.max_points,
                "seconds": round(self.seconds, 3), "parts": [asdict(p) for p in self.parts]}

    def summary(self) -> str:
        """A table: part, checks passed, points, and under each part the failed checks' messages."""
        rows = [("part", "status", "checks", "points")]
        for p in self.parts:
            rows.append((p.part, p.status.replace("_", " "), f"{p.passed}/{p.total}",
                         f"{p.points:g}/{p.max_points:g}"))
        rows.append(("total", "", f"{sum(p.passed for p in self.parts)}/"
                     f"{sum(p.total for p in self.parts)}", f"{self.points:g}/{self.max_points:g}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]

        def line(r: tuple) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

        out = [line(rows[0]), line(tuple("-" * w for w in widths))]
        for p, row in zip(self.parts, rows[1:-1]):
            out.append(line(row))
            by_message: dict[str, list[str]] = {}   # one line per distinct message
            for c in p.failures():
                by_message.setdefault(c["message"], []).append(c["name"])
            for message, names in by_message.items():
                out.append(f"    x {', '.join(names)}: {message}")
        out += [line(tuple("-" * w for w in widths)), line(rows[-1])]
        todo = [p.part for p in self.parts if p.status not in ("passed", "no_checks")]
        out.append(f"checked impl {self.impl!r} in {self.seconds:.1f}s; "
                   + (f"to do: {', '.join(todo)}" if todo else "every check passed"))
        return "\n".join(out)


def _part_status(results: list) -> str:
    if not results:
        return "no_checks"
    if all(r.passed for r in results):
        return "passed"
    if all(r.status == "not_implemented" for r in results):
        return "not_implemented"
    return "failed"


def check(part: str | None = None, *, impl: str = "challenge", seed: int = 0) -> CheckReport:
    """Run the public checks of ``part`` (every part when None) on ``impl``.

    Raises :class:`ChallengeError` only for an unknown part or implementation; failing,
    crashing or unwritten student code is reported in the result, never raised.
    """
    from grader.checks import PARTS, run_local

    if part is not None and part not in PARTS:
        raise ChallengeError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    parts = [part] if part else list(PARTS)
    start = time.monotonic()
    summaries = []
    for name in parts:
        results = run_local(impl, [name], seed=seed)
        summaries.append(PartSummary(
            part=name, passed=sum(r.passed for r in results), total=len(results),
            points=sum(r.points for r in results), max_points=sum(r.max_points for r in results),
            status=_part_status(results), checks=[r.to_dict() for r in results]))
    return CheckReport(impl=impl, parts=summaries, seconds=time.monotonic() - start)
