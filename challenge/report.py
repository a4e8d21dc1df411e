"""The grade report: typed results per task (checks, quality, examples) with ``to_dict()`` in the
shape of docs/interfaces.md ("Grade reports") and ``summary()``, a table for people."""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field

from challenge.checks.base import CheckResult
from challenge.text import printable


# "raised ValueError at tokenizer.py:42 in encode (`code`): <message>" (checks.base): on the
# hidden sets a student sees the type and the place; the message may echo a hidden input
_RAISED = re.compile(r"raised [A-Za-z_][\w.]*(?: at [^\s]+:\d+ in [^\s(:]+)?|"
                     r"not implemented yet(?=: )")
WITHHELD = " (the error's message is withheld on the hidden sets: it may show hidden inputs)"

#: The three numbers of a grade on the hidden sets, each with one name everywhere (reports,
#: JSON, the board, the gradebook, the live server): the key in JSON and options, and the words.
PART_NAMES = {"public": "public part", "private": "private part", "whole": "whole hidden set"}
PARTS = tuple(PART_NAMES)


def part_name(part: str) -> str:
    """The words for ``part`` ("public" -> "public part", "whole" -> "whole hidden set")."""
    return PART_NAMES.get(part, part)


def withhold_error_text(message: str) -> str:
    """``message`` cut after the first exception it names (type and the student's file:line),
    so that nothing the student's code put in an exception's text reaches the student."""
    found = _RAISED.search(message or "")
    return message if found is None else message[:found.end()] + WITHHELD


@dataclass
class QualityResult:
    """A trained model's metrics on a set, and the points they earned."""

    points: float
    max_points: float
    status: str = "ok"          # "ok" | "missing" | "error" | "not_implemented" | "timeout" | ...
    reason: str = ""
    metrics: dict = field(default_factory=dict)     # the whole set
    public: dict = field(default_factory=dict)      # the public part
    private: dict = field(default_factory=dict)     # the private part (empty on dev sets)
    components: list = field(default_factory=list)  # per rubric band: metric, value, points, ...
    review: list = field(default_factory=list)      # evidence for the instructor to look at
    notes: list = field(default_factory=list)       # where the band came from, the corpus, ...
    part_points: dict = field(default_factory=dict)  # {"whole", "public", "private"}: band points

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TaskResult:
    name: str
    points: float
    max_points: float
    checks: list[CheckResult] = field(default_factory=list)
    quality: QualityResult | None = None
    examples: dict | None = None    # y_true, y_pred, private: one entry per example

    def to_dict(self) -> dict:
        return {"points": self.points, "max_points": self.max_points,
                "checks": [c.to_dict() for c in self.checks],
                "quality": self.quality.to_dict() if self.quality else None,
                "examples": self.examples}


@dataclass
class GradeReport:
    student: str
    submission: str
    sha256: str
    mode: str                    # "code" | "predictions" | "impl"
    status: str                  # "ok" | "failed"
    reason: str
    points: float
    max_points: float
    tasks: dict[str, TaskResult]
    rubric_hash: str
    grader_version: str
    torch_version: str
    sets: str = "dev"            # "hidden" or "dev": what the quality was measured on
    isolation: dict = field(default_factory=dict)
    log: str = ""                # the tail of the submission's captured output
    device: str = "cpu"          # where the checks and the models ran while grading
    late: dict = field(default_factory=dict)   # the deadline that applied and any penalty
    part: str = ""               # what ``points`` measure on the hidden sets: a key of PARTS

    @property
    def scores(self) -> dict[str, float]:
        """The total on each part of the hidden sets this report holds (PARTS keys): the
        public and private parts from each task's per-part quality points, and ``points``
        itself for the part it measures. Empty on the dev sets."""
        if self.sets != "hidden":
            return {}
        out = {}
        for part in PARTS:
            if part == (self.part or "whole"):
                out[part] = round(self.points, 6)
                continue
            qs = [t.quality for t in self.tasks.values() if t.quality is not None]
            if qs and all(part in q.part_points for q in qs):
                out[part] = round(self.points + sum(q.part_points[part] - q.points for q in qs), 6)
        return {p: out[p] for p in PARTS if p in out}

    @property
    def review(self) -> list[str]:
        """What the grader could not prove either way, for the instructor: ``task: evidence``."""
        return [f"{name}: {item}" for name, t in self.tasks.items() if t.quality
                for item in t.quality.review]

    def public_view(self) -> "GradeReport":
        """The report a student may read while the challenge runs: every quality measured on
        the public part of the hidden set alone (its metrics, and the points its bands give
        there), nothing of the private part, no per-example data. Reports without a private
        part come back unchanged but for the examples."""
        view = copy.deepcopy(self)
        if view.sets == "hidden":
            view.part = "public"
        for task in view.tasks.values():
            task.examples = None
            q = task.quality
            if q is None or not q.private or "public" not in q.part_points:
                continue
            delta = q.part_points["public"] - q.points
            q.points, task.points = round(q.points + delta, 6), round(task.points + delta, 6)
            q.metrics, q.private = dict(q.public), {}
            for c in q.components:    # each band's points from the public value alone: the
                c["value"] = q.public.get(c["metric"])    # whole set's would give the private away
                c["points"] = _band_score(c)
            q.part_points = {"public": q.part_points["public"]}
            q.review = []             # the instructor's evidence may quote whole-set figures
            q.notes = [*q.notes, f"measured on the {part_name('public')} of the hidden set"]
        view.points = round(sum(t.points for t in view.tasks.values()), 6)
        return view._without_hidden_text()

    def _without_hidden_text(self) -> "GradeReport":
        """On the hidden sets: no child log, and of an error raised by student code only its
        type and place (:func:`withhold_error_text`); on the dev sets, unchanged."""
        if self.sets != "hidden":
            return self
        self.log = ""
        for task in self.tasks.values():
            for check in task.checks:
                check.message = withhold_error_text(check.message)
            if task.quality is not None:
                task.quality.reason = withhold_error_text(task.quality.reason)
        return self

    def student_dict(self) -> dict:
        """The report a student may receive: no per-example labels, predictions or correctness
        (on the hidden sets those would give the labels away), and on the hidden sets no child
        log and no error message text of student code."""
        out = copy.deepcopy(self)._without_hidden_text().to_dict()
        for task in out["tasks"].values():
            task["examples"] = None
        return out

    def to_dict(self) -> dict:
        return {"student": self.student, "submission": self.submission, "sha256": self.sha256,
                "mode": self.mode, "status": self.status, "reason": self.reason,
                "points": self.points, "max_points": self.max_points,
                "tasks": {name: t.to_dict() for name, t in self.tasks.items()},
                "rubric_hash": self.rubric_hash, "grader_version": self.grader_version,
                "torch_version": self.torch_version, "sets": self.sets,
                "isolation": self.isolation, "log": self.log, "device": self.device,
                **({"part": self.part or "whole", "scores": self.scores}
                   if self.sets == "hidden" else {}),
                **({"late": self.late} if self.late else {})}

    def summary(self, verbose: bool = False) -> str:
        who = self.student or "-"
        bonus = sum(_bonus(t) for t in self.tasks.values())
        head = (f"{who}: {round(self.points - bonus, 2):g} / {self.max_points:g} points"
                + (f" + {round(bonus, 2):g} bonus " if bonus else " ")
                + f"({self.mode} mode, {self.sets} sets"
                + (f": {part_name(self.part or 'whole')}" if self.sets == "hidden" else "")
                + f", on {self.device}" + (f", {self.submission}" if self.submission else "") + ")")
        lines = [head]
        scores = self.scores
        if len(scores) > 1:
            lines.append("  " + ", ".join(f"{part_name(p)} {_fmt_num(v)}"
                                          for p, v in scores.items()) + f" / {self.max_points:g}")
        if self.late:
            lines.append(f"  {late_line(self.late)}")
        if self.status != "ok":
            lines.append(f"  FAILED: {self.reason}")
        width = max([len(n) for n in self.tasks] + [8])
        for name, task in self.tasks.items():
            extra = _bonus(task)
            lines.append(f"  {name:<{width}}  {task.points - extra:7.2f} / {task.max_points:g}"
                         + (f" + {extra:.2f} bonus" if extra else ""))
            if task.checks:
                passed = sum(c.passed for c in task.checks)
                got = sum(c.points for c in task.checks)
                top = sum(c.max_points for c in task.checks)
                lines.append(f"    {'checks':<{width - 2}}  {got:7.2f} / {top:g}   "
                             f"({passed}/{len(task.checks)} passed){_check_scale(task)}")
            q = task.quality
            if q is not None:
                detail = "; ".join(_component(c) for c in q.components)
                state = "" if q.status == "ok" else f"[{q.status}] {q.reason}"
                q_extra = f" + {extra:.2f} bonus" if extra else ""
                lines.append(f"    {'quality':<{width - 2}}  {q.points - extra:7.2f} / "
                             f"{q.max_points:g}{q_extra}   {detail or state}")
                if detail and state:
                    lines.append(f"      {state}")
                lines += [f"      note: {note}" for note in q.notes]
        if self.sets == "dev" and "sorter" in self.tasks and self.tasks["sorter"].quality:
            lines.append("  (sorter: measured on the rubric's public dev sequences, in range and "
                         "longer; `challenge train sorter` reports on its own dev set, other "
                         "sequences, so the two exact-match figures differ)")
        failed = [c for t in self.tasks.values() for c in t.checks if not c.passed]
        if failed:
            lines.append("Failed checks:")
            by_message: dict[tuple[str, str], list[str]] = {}   # one line per part and message
            for c in failed:
                by_message.setdefault((c.part, c.message), []).append(c.name)
            lines += [f"  {part}.{', '.join(names)}: {message}"
                      for (part, message), names in by_message.items()]
        if self.review:
            lines.append("REVIEW (the grader could not prove this either way; an instructor "
                         "should look):")
            lines += [f"  {item}" for item in self.review]
        if self.isolation and self.isolation.get("sandbox") != "bubblewrap":
            lines.append(f"NOT ISOLATED: {self.isolation.get('filesystem', 'no sandbox')}"
                         + ("" if self.sets == "hidden" else
                            " (fine for your own code; the grader isolates every submission)"))
        if self.sets == "hidden" and self.isolation.get("secret", "hidden") != "hidden":
            lines.append("WARNING: the hidden sets do not record which file holds their secret, so "
                         "the grader could not hide it; run `challenge hidden make --secret-file "
                         "FILE` again with the same file (the same secret makes the same sets)")
        if verbose and self.isolation:
            lines.append("Isolation achieved on this machine:")
            lines += [f"  {k}: {v}" for k, v in self.isolation.items()]
        return printable("\n".join(lines))


def _band_score(c: dict) -> float:
    """A component's points from its own value and band (floor, full, max_points)."""
    value, floor, full = c.get("value"), c.get("floor"), c.get("full")
    if value is None or floor is None or full is None or full <= floor or value != value:
        return 0.0
    return round(c["max_points"] * min(1.0, max(0.0, (value - floor) / (full - floor))), 6)


def _component(c: dict) -> str:
    """One band's line: ``f1 0.9450 -> 14.2/30``, and on a student's dev grade where the band
    holds and how noisy the dev figure is, e.g. ``(band 0.936 -> 0.956 on the hidden set; dev
    noise +-0.02)``."""
    text = (f"{c['metric']} {_fmt(c['value'])} -> {_fmt_num(c['points'])}/{c['max_points']:g}"
            + (" bonus" if c.get("bonus") else ""))
    if "on_hidden" not in c:
        return text
    where = (f"band {c['floor']:.3f} -> {c['full']:.3f} on the hidden set" if c["on_hidden"]
             else "the hidden set's band is measured by the instructor")
    noise = f"; dev noise +-{c['noise']:.2g}" if c.get("noise") else ""
    return f"{text} ({where}{noise})"


def late_line(note: dict) -> str:
    """One line about a ``late`` note (the rubric's [late] policy, applied by the grader): the
    deadline that applied, why, and any penalty."""
    penalty = note.get("penalty", 0.0)
    tail = f"; -{round(penalty, 2):g} points" if penalty else ""
    return f"deadline: {note.get('why', '')}{tail} (submitted {note.get('submitted', '?')})"


def _bonus(task: TaskResult) -> float:
    """The points a task earned from its bonus band: shown apart, never over the maximum."""
    if task.quality is None:
        return 0.0
    return round(sum(c.get("points", 0.0) for c in task.quality.components if c.get("bonus")), 6)


def _check_scale(task: TaskResult) -> str:
    """How ``challenge check``'s points (each check's own weight) map to this task's points."""
    from challenge.checks import all_checks

    weights = {c.key: c.points for c in all_checks(tuple(dict.fromkeys(c.part for c in task.checks)))}
    keys = [f"{c.part}.{c.name}" for c in task.checks]
    if not all(k in weights for k in keys):
        return ""
    earned = sum(weights[k] for k, c in zip(keys, task.checks) if c.passed)
    top = sum(weights[k] for k in keys)
    scaled = sum(c.max_points for c in task.checks)
    if round(top, 6) == round(scaled, 6):
        return ""
    return (f"; {_fmt_num(earned)} / {_fmt_num(top)} on `challenge check`'s scale, "
            f"x {_fmt_num(scaled / top)}")


def _fmt_num(x: float) -> str:
    return f"{round(x, 2):g}"


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
