"""Ranking: each student's best submission, ordered, with ties where bootstrap intervals overlap.

A task board ranks on the task's primary metric (spam ``f1``, sorter ``exact_match``) on one
part of the hidden set (public during the challenge, private at the end); the overall board
ranks on points. Each student's submission is picked on the *public* part by default, so the
private part stays an unbiased final score (picking the best of many attempts on the private
part itself would reward attempts, not skill); ``select="part"`` picks on the ranked part.
A student ties with the one above when their bootstrap confidence intervals overlap, and
the interval also overlaps that of the first student of the tie group, so that a long run of
small steps does not chain the whole board into one tie.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from challenge.errors import ChallengeError
from challenge.report import PARTS, part_name
from grader.board.leaderboard import Entry, Leaderboard, newest

PRIMARY = {"spam": "f1", "sorter": "exact_match"}
SELECTS = ("public", "part")


def task_order(task: str) -> tuple:
    """spam, sorter, then the tasks without a quality metric (e.g. foundations), by name."""
    return (list(PRIMARY).index(task) if task in PRIMARY else len(PRIMARY), task)


@dataclass(frozen=True)
class BoardRow:
    rank: int | None            # None for the baseline/reference rows
    tie: bool                   # shares its rank: its interval overlaps a neighbour's
    student: str
    kind: str                   # "student" | "baseline" | "reference"
    submission: str
    graded_at: str
    attempts: int
    score: float                # the ranking value (primary metric on the part, or points)
    ci_low: float | None
    ci_high: float | None
    points: float
    max_points: float
    metrics: dict[str, float]   # column name -> value, as in Board.columns (counts stay int)

    @property
    def rank_label(self) -> str:
        if self.rank is None:
            return self.kind
        return f"={self.rank}" if self.tie else str(self.rank)


@dataclass(frozen=True)
class CheckRate:
    task: str
    part: str
    name: str
    passed: int
    total: int

    @property
    def rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Board:
    task: str | None            # None: the overall board, ranked on points
    part: str
    score_name: str
    columns: list[str]
    rows: list[BoardRow]
    checks: list[CheckRate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        ranked = sum(r.rank is not None for r in self.rows)
        return (f"{self.task or 'overall'} leaderboard ({part_name(self.part)}, by {self.score_name}): "
                f"{ranked} students")


def bootstrap_intervals(metric: str, examples: list[tuple[np.ndarray, np.ndarray]], *,
                        resamples: int = 1000, seed: int = 0, level: float = 0.95) -> np.ndarray:
    """Percentile intervals ``(R, 2)`` of ``metric`` ("f1" or an accuracy) for R example sets.

    Sets of equal size share the same resamples (drawn from ``seed`` and the size), so the
    result does not depend on which other rows are on the board.
    """
    out = np.zeros((len(examples), 2))
    by_size: dict[int, list[int]] = {}
    for i, (y_true, _) in enumerate(examples):
        by_size.setdefault(len(y_true), []).append(i)
    alpha = (1.0 - level) / 2
    for n, rows in by_size.items():
        if n == 0:
            out[rows] = np.nan
            continue
        rng = np.random.default_rng([seed, n])
        idx = rng.integers(0, n, size=(resamples, n)) + (np.arange(resamples) * n)[:, None]
        weights = np.bincount(idx.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)
        yt = np.stack([examples[i][0] for i in rows], axis=1)   # (n, R)
        yp = np.stack([examples[i][1] for i in rows], axis=1)   # (n, R)
        if metric == "f1":
            tp, fp, fn = weights @ (yt * yp), weights @ ((1 - yt) * yp), weights @ (yt * (1 - yp))
            denom = 2 * tp + fp + fn
            values = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)   # (B, R)
        else:
            values = weights @ (yt == yp).astype(float) / n                           # (B, R)
        out[rows] = np.quantile(values, [alpha, 1 - alpha], axis=0).T
    return out


def build_board(entries: list[Entry], *, task: str | None = None, part: str = "public",
                select: str = "public", resamples: int = 1000, seed: int = 0,
                level: float = 0.95) -> Board:
    """Rank stored entries (one rubric); failed rows never rank, baselines are marked rows."""
    if part not in PARTS:
        raise ChallengeError(f"unknown part {part!r}: use one of {', '.join(PARTS)}")
    if select not in SELECTS:
        raise ChallengeError(f"unknown selection {select!r}: use public or part")
    if task is not None and task not in PRIMARY:
        raise ChallengeError(f"unknown task {task!r}: use one of {', '.join(PRIMARY)}")
    pick_part = part if select == "part" else "public"
    attempts: dict[str, int] = {}
    for e in entries:
        attempts[e.student] = attempts.get(e.student, 0) + 1
    ok = [e for e in entries if e.status == "ok"]
    tasks = sorted({t for e in ok for t in e.tasks}, key=task_order)

    if task is None:
        score_name = "points"
        columns = ["points", "max_points"] + [c for t in tasks for c in
                                              [f"{t}.points"] + ([f"{t}.{PRIMARY[t]}"] if t in PRIMARY else [])]
        candidates = ok
        shares = len({e.max_points for e in ok}) > 1    # predictions rows beside code rows
        if shares:
            score_name = "share of points"

        def value(e: Entry, p: str) -> float:   # quality on the ranked part alone, less any
            kept = e.late.get("kept", 1.0)       # late penalty (grader.board.late)
            got = round(sum(t.points_on(p) for t in e.tasks.values()) * kept, 6)
            return round(got / e.max_points, 6) if shares and e.max_points else got
    else:
        metric = PRIMARY[task]
        score_name = f"{task} {metric} ({part})"
        names = sorted({m for e in ok if task in e.tasks for m in e.tasks[task].metrics.get(part, {})},
                       key=lambda m: (m != metric, m == "n" or m.startswith("n_"), m))
        columns = ["points", "max_points"] + names
        candidates = [e for e in ok if task in e.tasks
                      and metric in e.tasks[task].metrics.get("public", {})
                      and metric in e.tasks[task].metrics.get(part, {})]
        def value(e: Entry, p: str) -> float:
            return float(e.tasks[task].metrics[p][metric])

    best: dict[str, Entry] = {}
    for e in sorted(candidates, key=lambda e: (e.submission, e.sha256)):
        if e.student not in best or value(e, pick_part) > value(best[e.student], pick_part):
            best[e.student] = e
    chosen = sorted(best.values(), key=lambda e: (-value(e, part), e.student))

    if task is None:
        intervals = np.array([[value(e, part)] * 2 for e in chosen]).reshape(-1, 2)
    else:
        sets = [_part_examples(e, task, part) for e in chosen]
        has = [s is not None for s in sets]
        intervals = np.array([[value(e, part)] * 2 for e in chosen]).reshape(-1, 2)
        if any(has):
            ci = bootstrap_intervals(PRIMARY[task], [s for s in sets if s is not None],
                                     resamples=resamples, seed=seed, level=level)
            intervals[np.flatnonzero(has)] = ci

    rows = _rank(chosen, intervals, task, part, columns, attempts, value)
    checks = _check_rates([e for e in chosen if e.kind == "student"], task)
    notes = []   # each only when it says something true of this board
    if any(r.tie for r in rows):
        notes.append("ties (=N): equal points" if task is None else
                     f"ties (=N): {level:.0%} bootstrap intervals of {PRIMARY[task]} on the "
                     f"{part_name(part)} overlap ({resamples} resamples, seed {seed})")
    if task is None and score_name == "share of points":
        notes.append("rows graded out of different maxima (predictions and code) are ranked on "
                     "their share of their own maximum")
    if any(r.kind != "student" for r in rows):
        notes.append("shaded rows are the baseline and reference rows: graded like students, "
                     "not ranked")
    if task is not None:
        if part != "public" and select == "public":
            notes.append(f"each student's submission is the best on the {part_name('public')}")
    failed = sum(e.status != "ok" for e in entries)
    if failed:
        notes.append(f"{failed} failed submission(s) not ranked (see --student NAME for reasons)")
    return Board(task, part, score_name, columns, rows, checks, notes)


def _part_examples(e: Entry, task: str, part: str) -> tuple[np.ndarray, np.ndarray] | None:
    ex = e.tasks[task].examples
    if not ex or len(ex["y_true"]) == 0:
        return None
    mask = {"private": ex["private"], "public": ~ex["private"]}.get(
        part, np.ones_like(ex["private"]))
    return ex["y_true"][mask], ex["y_pred"][mask]


def _rank(chosen, intervals, task, part, columns, attempts, value) -> list[BoardRow]:
    rows: list[BoardRow] = []
    ranks: list[int | None] = []
    ties = [False] * len(chosen)
    prev = lead = None   # the student row above, and the first row of its tie group
    count = 0
    for i, e in enumerate(chosen):
        if e.kind != "student":
            ranks.append(None)
            continue
        count += 1
        if prev is not None and _overlap(intervals[i], intervals[prev]) \
                and _overlap(intervals[i], intervals[lead]) \
                and _points(chosen[i], task, part) == _points(chosen[prev], task, part):
            ties[i] = ties[prev] = True
            ranks.append(ranks[prev])
        else:
            ranks.append(count)
            lead = i
        prev = i
    for i, e in enumerate(chosen):
        metrics = {}
        for c in columns:
            if c in ("points", "max_points"):
                continue
            if task is None:
                t, m = c.split(".", 1)
                te = e.tasks.get(t)
                v = (te.points_on(part) if m == "points" else te.metrics.get(part, {}).get(m)) \
                    if te else None
            else:
                v = e.tasks[task].metrics.get(part, {}).get(c)
            if v is not None:   # counts (e.g. "n") stay whole numbers
                metrics[c] = v if isinstance(v, int) and not isinstance(v, bool) else float(v)
        points, max_points = ((_points(e, None, part, digits=6), e.max_points)
                              if task is None
                              else (e.tasks[task].points_on(part), e.tasks[task].max_points))
        lo, hi = intervals[i]
        rows.append(BoardRow(ranks[i], ties[i], e.student, e.kind, e.submission, e.graded_at,
                             attempts.get(e.student, 0), value(e, part),
                             None if np.isnan(lo) else float(lo), None if np.isnan(hi) else float(hi),
                             float(points), float(max_points), metrics))
    return rows


def _points(e: Entry, task: str | None, part: str, digits: int = 2) -> float:
    """The points of a row on ``part`` (a task's, or the total less any late penalty), to
    ``digits``: a tie must share them to 0.01, since overlapping intervals alone would tie
    0 points with full points where the band's width is under the interval's."""
    got = e.tasks[task].points_on(part) if task else \
        sum(t.points_on(part) for t in e.tasks.values()) * e.late.get("kept", 1.0)
    return round(got, digits)


def _overlap(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _check_rates(chosen: list[Entry], task: str | None) -> list[CheckRate]:
    counts: dict[tuple[str, str, str], list[int]] = {}
    for e in chosen:
        for c in e.checks:
            if task is None or c["task"] == task:
                n = counts.setdefault((c["task"], c["part"], c["name"]), [0, 0])
                n[0] += c["passed"]
                n[1] += 1
    rates = [CheckRate(t, p, n, a, b) for (t, p, n), (a, b) in counts.items()]
    return sorted(rates, key=lambda r: (r.rate, r.task, r.part, r.name))


def load_board(db: str | Path | None = None, *, task: str | None = None, part: str = "public",
               select: str = "public", rubric_hash: str | None = None, resamples: int = 1000,
               seed: int = 0, keep=None) -> Board:
    """Read the store and rank the rows of one rubric (default: that of the newest row), each
    file's newest attempt (a regrade supersedes the grade before it); ``keep(entry)``, when
    given, says which rows may count (the live server's final marks)."""
    with Leaderboard(db, readonly=True) as store:
        rubric = rubric_hash or store.latest_rubric()
        entries = newest(store.entries(examples=task is not None, checks=True))
    current = [e for e in entries if e.rubric_hash == rubric]
    stale = len(entries) - len(current)
    if keep is not None:
        current = [e for e in current if keep(e)]
    board = build_board(current, task=task, part=part, select=select, resamples=resamples, seed=seed)
    if stale:
        board.notes.append(f"{stale} row(s) graded under another rubric left out: regrade them "
                           "(challenge regrade --all)")
    return board
