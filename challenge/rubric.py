"""The grading rubric: a TOML file the instructor owns (default ``challenge/rubric.toml``), validated
on load into frozen dataclasses, with a hash of its canonical content for every report.

A bad rubric is a :class:`ChallengeError` naming the key, what it holds and what it should hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from challenge import paths
from challenge.checks import PARTS
from challenge.errors import ChallengeError

DEFAULT_RUBRIC = Path(__file__).resolve().parent / "rubric.toml"
_UTC = timezone.utc

#: Quality metrics a band may use, per task with a trained model.
QUALITY_METRICS = {
    "spam": ("f1", "precision", "recall", "accuracy", "roc_auc"),
    "sorter": ("exact_match", "token_accuracy", "exact_match_long", "token_accuracy_long"),
}


@dataclass(frozen=True)
class Band:
    """``metric`` mapped to points linearly: ``floor`` or below -> 0, ``full`` or above -> ``points``.

    Without ``floor`` and ``full`` (spam only) the band is measured by ``challenge hidden make``
    on the course corpus (:mod:`grader.bands`) from the sampling noise of the hidden set: full
    marks about one noise sd (at least ``margin``) below the reference's mean, the zero line at
    least ``width_sd`` noise sd below the full line. ``corpus``: the corpus fixed thresholds
    were set for; on another course corpus the measured band is used instead ("" = these
    thresholds on every corpus). ``min_positives``: the fewest spam messages a hidden set may
    hold (`challenge hidden make` refuses a smaller one)."""

    metric: str
    floor: float | None
    full: float | None
    points: float
    margin: float = 0.01
    corpus: str = ""
    width_sd: float = 3.0
    min_positives: int = 100

    @property
    def fixed(self) -> bool:
        return self.floor is not None and self.full is not None

    def score(self, value: float | None) -> float:
        if value is None or not math.isfinite(value) or not self.fixed:
            return 0.0
        frac = (value - self.floor) / (self.full - self.floor)
        return round(self.points * min(1.0, max(0.0, frac)), 6)


@dataclass(frozen=True)
class TaskRubric:
    name: str
    parts: tuple[str, ...]
    checks: float                  # points of all the task's checks together
    quality: Band | None = None
    bonus: Band | None = None      # extra points on top of max_points

    @property
    def max_points(self) -> float:
        return self.checks + (self.quality.points if self.quality else 0.0)


@dataclass(frozen=True)
class Limits:
    """What one submission's sandboxed child may use."""

    wall_seconds: float = 600.0
    check_seconds: float = 60.0
    unit_seconds: float = 180.0
    cpu_seconds: int = 1200
    memory_mb: int = 6144
    max_processes: int = 64
    max_output_mb: int = 64
    max_scratch_mb: int = 512
    max_log_chars: int = 4000
    judge_seconds: float = 30.0   # the grader's verify of one check's output (in the parent)
    judge_mb: int = 256           # replies the grader holds for judging one submission


@dataclass(frozen=True)
class SubmissionLimits:
    max_files: int = 32
    max_unzipped_mb: float = 256.0
    max_predictions_mb: float = 8.0


@dataclass(frozen=True)
class HiddenSettings:
    public_fraction: float = 0.5
    spam_corpus: str = "spam"
    spam_scheme: str = "random"    # how `challenge hidden make` splits the corpus
    predictions: bool = True       # the course takes predictions files (Kaggle style)


@dataclass(frozen=True)
class SorterSettings:
    low: int = 0
    high: int = 99
    min_len: int = 1
    max_len: int = 20
    long_min_len: int = 21
    long_max_len: int = 30
    hidden_size: int = 2000
    dev_size: int = 500
    dev_seed: int = 20240601


@dataclass(frozen=True)
class LatePolicy:
    """The optional ``[late]`` table: work after ``deadline`` loses ``penalty_per_day`` of its
    points for each day (or part of one) it is late, and work more than ``last_day`` days late
    earns nothing. A student's extension (the roster's ``extension`` column) moves the deadline
    for that student alone."""

    deadline: str                  # ISO 8601 with a UTC offset, e.g. 2026-12-14T23:59:00+00:00
    penalty_per_day: float = 0.1   # share of the points earned, per day late (0..1)
    last_day: int = 7              # days after the deadline still accepted

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.deadline)


@dataclass(frozen=True)
class LiveSettings:
    """The optional ``[live]`` table: rules of the live server (``challenge serve``) that shape
    the private board, never a report's points. ``final_submissions``: how many graded
    submissions a student may mark final (the private board ranks them on the best of those);
    0: every student's best on the public part counts. ``challenge serve --final-submissions``
    overrides it for one server."""

    final_submissions: int = 0


@dataclass(frozen=True)
class Rubric:
    tasks: tuple[TaskRubric, ...]
    limits: Limits
    submission: SubmissionLimits
    hidden: HiddenSettings
    sorter: SorterSettings
    source: str = ""
    late: LatePolicy | None = None
    live: LiveSettings = LiveSettings()

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tasks)

    def task(self, name: str) -> TaskRubric | None:
        return next((t for t in self.tasks if t.name == name), None)

    def canonical(self) -> dict:
        d = asdict(self)
        d.pop("source")
        if d["late"] is None:   # rubrics without a [late] table keep the hash they had
            d.pop("late")
        d.pop("live")           # the live server's rules score nothing: the hash stays
        return d

    @property
    def hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


#: The course configuration: the rubric a course grades by, in the data folder. `challenge hidden
#: make` writes it from the rubric it was given, and `challenge release` ships it in the bundle,
#: so every later command (train, baseline, evaluate, grade) follows the course with no option.
COURSE_FILE = "course.toml"


def course_file(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the course configuration lives: ``<data folder>/course.toml``."""
    return paths.data_dir(data_dir) / COURSE_FILE


def rubric_path(path: str | os.PathLike | None = None,
                data_dir: str | os.PathLike | None = None) -> Path:
    """The rubric to read: ``path``, else the course's (``course.toml`` in the data folder),
    else the default one shipped with the kit."""
    if path is not None:
        return Path(path)
    course = course_file(data_dir)
    return course if course.is_file() else DEFAULT_RUBRIC


def load_rubric(path: str | os.PathLike | None = None, *,
                data_dir: str | os.PathLike | None = None) -> Rubric:
    """Read and validate a rubric file: ``path``, else the course's, else the default one
    (:func:`rubric_path`)."""
    path = rubric_path(path, data_dir)
    if not path.is_file():
        raise ChallengeError(f"rubric {path} does not exist; pass an existing TOML file or leave "
                             f"--rubric out for the default {DEFAULT_RUBRIC.name}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ChallengeError(f"rubric {path} is not valid TOML ({e}); fix the syntax") from None
    return parse_rubric(raw, source=str(path))


def parse_rubric(raw: dict, source: str = "<rubric>") -> Rubric:
    """Validate a rubric already read into a dict."""
    v = _Validator(source)
    v.keys(raw, "", {"limits", "submission", "hidden", "sorter", "tasks", "late", "live"})
    limits = Limits(**v.section(raw, "limits", Limits))
    submission = SubmissionLimits(**v.section(raw, "submission", SubmissionLimits))
    hidden = HiddenSettings(**v.section(raw, "hidden", HiddenSettings))
    sorter = SorterSettings(**v.section(raw, "sorter", SorterSettings))
    if not 0.0 < hidden.public_fraction < 1.0:
        v.fail("hidden.public_fraction", hidden.public_fraction, "a number between 0 and 1 (exclusive)")
    if sorter.high < sorter.low or sorter.low < 0:
        v.fail("sorter.high", sorter.high, f"an integer at least low ({sorter.low}), low >= 0")
    if sorter.max_len < sorter.min_len:
        v.fail("sorter.max_len", sorter.max_len, f"an integer at least min_len ({sorter.min_len})")
    if sorter.long_min_len <= sorter.max_len or sorter.long_max_len < sorter.long_min_len:
        v.fail("sorter.long_min_len", sorter.long_min_len,
               f"lengths above max_len ({sorter.max_len}) with long_max_len >= long_min_len")
    tasks = v.tasks(raw.get("tasks"))
    late = v.late(raw["late"]) if "late" in raw else None
    live = v.live(raw.get("live", {}))
    return Rubric(tasks=tasks, limits=limits, submission=submission, hidden=hidden,
                  sorter=sorter, source=source, late=late, live=live)


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, got: Any, expected: str) -> None:
        raise ChallengeError(f"rubric {self.source}: {key} = {got!r} is invalid; expected {expected}")

    def keys(self, table: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            self.fail(where or "<top level>", table, "a table")
        for key in table:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise ChallengeError(f"rubric {self.source}: unknown key {name!r}; expected one of "
                                     f"{', '.join(sorted(allowed))} (check the spelling)")

    def section(self, raw: dict, name: str, cls: type) -> dict:
        """The values of table ``name``, typed like ``cls``'s defaults (missing keys default)."""
        table = raw.get(name, {})
        defaults = asdict(cls())
        self.keys(table, name, set(defaults))
        out = {}
        for key, default in defaults.items():
            value = table.get(key, default)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    self.fail(f"{name}.{key}", value, "true or false")
                out[key] = value
                continue
            if isinstance(default, str):
                out[key] = self.string(value, f"{name}.{key}")
                continue
            # sizes and limits must be positive; sorter values and seeds may be 0
            zero_ok = name == "sorter" and key in ("low", "high", "dev_seed")
            checked = self.number(value, f"{name}.{key}", integer=isinstance(default, int),
                                  minimum=0 if zero_ok else None, positive=not zero_ok)
            out[key] = type(default)(checked)
        return out

    def number(self, value: Any, key: str, *, integer: bool = False, positive: bool = False,
               minimum: float | None = None) -> float | int:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (isinstance(value, int) or not integer) and math.isfinite(value)
        ok = ok and not (positive and value <= 0) and not (minimum is not None and value < minimum)
        if not ok:
            expected = "an integer" if integer else "a number"
            expected += " above 0" if positive else ""
            expected += f" >= {minimum:g}" if minimum is not None else ""
            self.fail(key, value, expected)
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, value, "a non-empty string")
        return value

    def late(self, table: Any) -> LatePolicy:
        """``[late]``: a deadline with a UTC offset (a TOML date-time or an ISO string; a bare
        date means its end, 23:59:59 UTC), a penalty share per day and a last day."""
        self.keys(table, "late", {"deadline", "penalty_per_day", "last_day"})
        if "deadline" not in table:
            raise ChallengeError(f"rubric {self.source}: [late] needs a 'deadline', e.g. "
                                 f"deadline = 2026-12-14T23:59:00Z")
        when = table["deadline"]
        if isinstance(when, str):
            try:
                when = datetime.fromisoformat(when)
            except ValueError:
                self.fail("late.deadline", when, "an ISO 8601 time such as 2026-12-14T23:59:00Z")
        if isinstance(when, date) and not isinstance(when, datetime):
            when = datetime.combine(when, datetime.max.time().replace(microsecond=0))
            when = when.replace(tzinfo=_UTC)
        if not isinstance(when, datetime) or when.tzinfo is None:
            self.fail("late.deadline", table["deadline"], "a time with its UTC offset, e.g. "
                      "2026-12-14T23:59:00Z or 2026-12-14T23:59:00+01:00 (a bare time is "
                      "ambiguous across time zones)")
        share = float(self.number(table.get("penalty_per_day", 0.1), "late.penalty_per_day",
                                  minimum=0))
        if share > 1:
            self.fail("late.penalty_per_day", share, "a share of the points from 0 to 1 "
                      "(0.1 takes 10% a day)")
        last = int(self.number(table.get("last_day", 7), "late.last_day", integer=True,
                               minimum=0))
        return LatePolicy(when.isoformat(), share, last)

    def live(self, table: Any) -> LiveSettings:
        """``[live]``: ``final_submissions``, a whole number from 0 (the best on the public part
        counts) up."""
        self.keys(table, "live", {"final_submissions"})
        most = table.get("final_submissions", 0)
        if isinstance(most, bool) or not isinstance(most, int) or most < 0:
            self.fail("live.final_submissions", most, "a whole number of submissions a student "
                      "may mark final, 0 or more (0: each student's best on the public part "
                      "counts), e.g. final_submissions = 2")
        return LiveSettings(final_submissions=most)

    def band(self, table: Any, key: str, task: str) -> Band:
        self.keys(table, key, {"metric", "floor", "full", "points", "margin", "corpus",
                               "width_sd", "min_positives"})
        for needed in ("metric", "points"):
            if needed not in table:
                raise ChallengeError(f"rubric {self.source}: {key} needs a {needed!r} key")
        if ("floor" in table) != ("full" in table):
            raise ChallengeError(f"rubric {self.source}: {key} needs both 'floor' and 'full' "
                                 f"(fixed thresholds) or neither (bands measured by `challenge "
                                 f"hidden make`)")
        if "floor" not in table and task != "spam":
            raise ChallengeError(f"rubric {self.source}: {key} needs 'floor' and 'full'; only "
                                 f"the spam task has measured bands")
        metrics = QUALITY_METRICS.get(task)
        if metrics is None:
            raise ChallengeError(f"rubric {self.source}: {key}: task {task!r} has no trained model "
                                 f"to measure; quality and bonus exist only for "
                                 f"{', '.join(QUALITY_METRICS)}")
        if table["metric"] not in metrics:
            self.fail(f"{key}.metric", table["metric"], f"one of {', '.join(metrics)}")
        points = float(self.number(table["points"], f"{key}.points", minimum=0))
        margin = float(self.number(table.get("margin", 0.01), f"{key}.margin", minimum=0))
        if margin >= 0.5:
            self.fail(f"{key}.margin", margin, "a number from 0 to 0.5 (a metric's share)")
        corpus = table.get("corpus", "")
        if not isinstance(corpus, str):
            self.fail(f"{key}.corpus", corpus, "a corpus name (\"\" for every corpus)")
        width = float(self.number(table.get("width_sd", 3.0), f"{key}.width_sd", minimum=1))
        least = int(self.number(table.get("min_positives", 100), f"{key}.min_positives",
                                integer=True, minimum=1))
        extra = {"width_sd": width, "min_positives": least}
        if "floor" not in table:
            return Band(table["metric"], None, None, points, margin, corpus, **extra)
        floor = float(self.number(table["floor"], f"{key}.floor"))
        full = float(self.number(table["full"], f"{key}.full"))
        if full <= floor:
            self.fail(f"{key}.full", full, f"a value greater than floor ({floor:g})")
        return Band(table["metric"], floor, full, points, margin, corpus, **extra)

    def tasks(self, raw: Any) -> tuple[TaskRubric, ...]:
        if not isinstance(raw, dict) or not raw:
            self.fail("tasks", raw, "tables [tasks.<name>], e.g. [tasks.spam]")
        seen: dict[str, str] = {}
        tasks = []
        for name, table in raw.items():
            key = f"tasks.{name}"
            self.keys(table, key, {"parts", "checks", "quality", "bonus"})
            parts = table.get("parts", [])
            if not isinstance(parts, list) or not all(isinstance(p, str) for p in parts):
                self.fail(f"{key}.parts", parts, f"a list of part names ({', '.join(PARTS)})")
            for part in parts:
                if part not in PARTS:
                    self.fail(f"{key}.parts", part, f"one of {', '.join(PARTS)}")
                if part in seen:
                    self.fail(f"{key}.parts", part, f"a part in one task only (already in {seen[part]})")
                seen[part] = name
            checks = float(self.number(table.get("checks", 0), f"{key}.checks", minimum=0))
            quality = self.band(table["quality"], f"{key}.quality", name) if "quality" in table else None
            bonus = self.band(table["bonus"], f"{key}.bonus", name) if "bonus" in table else None
            tasks.append(TaskRubric(name, tuple(parts), checks, quality, bonus))
        if sum(t.max_points for t in tasks) <= 0:
            self.fail("tasks", "0 points", "at least one task with points")
        return tuple(tasks)
