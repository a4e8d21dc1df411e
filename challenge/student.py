"""``challenge check``: the public checks on the student's modules, part by part, with a
summary table (``verbose``: every check, and for each failed one a snippet to reproduce it).

Failing checks are feedback, not errors: :func:`check` returns a report whatever the checks say.
In a notebook, ``from challenge import check; check("lstm_cell")`` shows the report as a table.
``challenge submit`` lives in :mod:`challenge.submit`.
"""

from __future__ import annotations

import ast
import html
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
    seed: int = 0
    verbose: bool = False
    scale: dict = field(default_factory=dict)   # task -> {parts, check_points, grade_points}
    device: str = "cpu"                         # where the model parts' checks ran

    @property
    def points(self) -> float:
        return sum(p.points for p in self.parts)

    @property
    def max_points(self) -> float:
        return sum(p.max_points for p in self.parts)

    def to_dict(self) -> dict:
        return {"impl": self.impl, "points": self.points, "max_points": self.max_points,
                "seconds": round(self.seconds, 3), "seed": self.seed, "scale": self.scale,
                "device": self.device,
                "parts": [asdict(p) for p in self.parts]}

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
                if self.verbose:
                    out += [f"      {ln}" for ln in self.snippet(p.part, names[0]).splitlines()]
            if self.verbose:
                out += [f"    ok {c['name']}" for c in p.checks if c["passed"]]
        out += [line(tuple("-" * w for w in widths)), line(rows[-1])]
        if self.scale:
            out.append("`challenge grade` scales these points per task: " + "; ".join(
                f"{task} ({', '.join(s['parts'])}) {s['check_points']:g} -> {s['grade_points']:g}"
                for task, s in self.scale.items()))
        todo = [p.part for p in self.parts if p.status not in ("passed", "no_checks")]
        where = "" if self.device == "cpu" else f" (model parts on {self.device})"
        out.append(f"checked impl {self.impl!r}{where} in {self.seconds:.1f}s; "
                   + (f"to do: {', '.join(todo)}" if todo else "every check passed"))
        return "\n".join(out)


    def snippet(self, part: str, name: str) -> str:
        """Python to paste to run one check again on your module and see its inputs."""
        impl = "" if self.impl == "challenge" else f", impl={self.impl!r}"
        return (f">>> from challenge import reproduce\n"
                f">>> data, output = reproduce({f'{part}.{name}'!r}, seed={self.seed}{impl})"
                f"  # prints the inputs, calls your code, raises the check's message")

    def _repr_html_(self) -> str:
        """The report as an HTML table, for Jupyter."""
        def cell(text: str, tag: str = "td") -> str:
            return f"<{tag} style='text-align:left'>{html.escape(str(text))}</{tag}>"

        rows = ["<tr>" + "".join(cell(h, "th") for h in ("part", "check", "result", "points",
                                                           "message")) + "</tr>"]
        for p in self.parts:
            for c in p.checks:
                rows.append("<tr>" + "".join(cell(v) for v in (
                    p.part, c["name"], "pass" if c["passed"] else c["status"].replace("_", " "),
                    f"{c['points']:g}/{c['max_points']:g}", "" if c["passed"] else c["message"]))
                    + "</tr>")
        rows.append("<tr>" + cell("total", "th") + cell("") + cell(
            f"{sum(p.passed for p in self.parts)}/{sum(p.total for p in self.parts)} passed")
            + cell(f"{self.points:g}/{self.max_points:g}") + cell("") + "</tr>")
        return "<table>" + "".join(rows) + "</table>"


def _import_rule(impl: str, part: str) -> str:
    """The import rule of ``challenge submit`` (torch, numpy, the standard library), applied
    before a part's checks run: the message, or "" when the module keeps to it."""
    from challenge.submit import check_imports, modules_dir

    path = modules_dir(impl) / f"{part}.py"
    if not path.is_file():
        return ""      # run_local reports the missing module
    try:
        ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError, UnicodeDecodeError):
        return ""      # and a module that does not parse, with its line
    try:
        check_imports(path)
    except ChallengeError as e:
        return f"{e} (`challenge submit` refuses it, and the grader could not import it)"
    return ""


def _grade_scale(parts: list[str], summaries: list[PartSummary]) -> dict:
    """Per task of the shipped rubric whose parts were all checked: check points -> grade's."""
    from challenge.rubric import load_rubric

    try:
        rubric = load_rubric(None)
    except ChallengeError:
        return {}
    by_part = {s.part: s.max_points for s in summaries}
    return {t.name: {"parts": list(t.parts), "check_points": sum(by_part[p] for p in t.parts),
                     "grade_points": t.checks}
            for t in rubric.tasks if t.parts and all(p in by_part for p in t.parts)}


def _part_status(results: list) -> str:
    if not results:
        return "no_checks"
    if all(r.passed for r in results):
        return "passed"
    if all(r.status == "not_implemented" for r in results):
        return "not_implemented"
    return "failed"


def check(part: str | None = None, *, impl: str = "challenge", seed: int = 0,
          verbose: bool = False, device: str | None = "cpu") -> CheckReport:
    """Run the public checks of ``part`` (every part when None) on ``impl``; ``verbose``
    lists the passed checks too and a snippet to reproduce each failed one. ``device``
    ("auto", "cpu", "cuda", "mps"): where the checks of the model parts run (the same checks
    and tolerances everywhere: a model that works on the CPU and breaks on a GPU shows here).

    Raises :class:`ChallengeError` only for an unknown part or implementation; failing,
    crashing or unwritten student code is reported in the result, never raised.
    """
    from challenge.checks import PARTS, CheckResult, all_checks, run_local

    if part is not None and part not in PARTS:
        raise ChallengeError(f"unknown part {part!r}; expected one of {', '.join(PARTS)}")
    parts = [part] if part else list(PARTS)
    from challenge.device import describe, resolve_device

    where = resolve_device(device)           # an unavailable device: one line, before any check
    start = time.monotonic()
    summaries = []
    for name in parts:
        refused = _import_rule(impl, name)
        results = ([CheckResult(c.part, c.name, False, 0.0, c.points, refused, "error")
                    for c in all_checks([name])] if refused else
                   run_local(impl, [name], seed=seed, device=where))
        summaries.append(PartSummary(
            part=name, passed=sum(r.passed for r in results), total=len(results),
            points=sum(r.points for r in results), max_points=sum(r.max_points for r in results),
            status=_part_status(results), checks=[r.to_dict() for r in results]))
    return CheckReport(impl=impl, parts=summaries, seconds=time.monotonic() - start, seed=seed,
                       verbose=verbose, scale=_grade_scale(parts, summaries),
                       device=describe(where))


def reproduce(key: str, *, seed: int = 0, impl: str = "challenge", show: bool = True):
    """Run check ``key`` ("part.name") once on ``impl`` in this process: print its inputs,
    call your code, and raise the check's own message if it fails. Returns (inputs, output)."""
    from challenge.checks import all_checks, judge
    from challenge.checks.base import CheckFailure, RunOutcome
    from challenge.impl import load_module

    part = key.split(".", 1)[0]
    checks = {c.key: c for c in all_checks([part])} if "." in key else {}
    if key not in checks:
        raise ChallengeError(f"unknown check {key!r}; expected one of "
                             f"{', '.join(checks) or 'part.name, e.g. lstm_cell.parameters'}")
    chk = checks[key]
    data = chk.make_inputs(seed)
    if show:
        print(f"inputs of {key} (seed {seed}): {_describe(data)}")
    output = chk.run(load_module(impl, part), data)
    verdict = judge(chk, data, RunOutcome(output=output))
    if not verdict.passed:
        raise CheckFailure(verdict.message)
    return data, output


def _describe(x, depth: int = 0) -> str:
    """Inputs in a line: tensors by shape and dtype, containers by their items (trimmed)."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"tensor{tuple(x.shape)} {str(x.dtype).replace('torch.', '')}"
    if depth > 2:
        return "..."
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v, depth + 1)}" for k, v in
                               list(x.items())[:12]) + (", ..." if len(x) > 12 else "") + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(_describe(v, depth + 1) for v in x[:6])
        return f"[{inner}{', ...' if len(x) > 6 else ''}] ({len(x)} items)"
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
