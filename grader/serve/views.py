"""What the pages of a live challenge show, computed in Python (the pages run no script): where a
waiting submission stands in the queue with an estimate, the deadline in words with what is
left, and the board as a page shows it (human headers, the caller's own row marked)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from grader.board.late import deadline_for
from grader.serve.queue import Job, JobQueue
from grader.serve.uploads import ServeConfig, closing_time

# the columns a page leaves out: the file name is long and the student's own; the maximum
# joins the points ("87.5 / 100")
_HIDDEN = {"submission", "max_points"}
_WORDS = {"lstm": "LSTM", "bptt": "BPTT", "lstm_cell": "LSTM cell", "f1": "F1", "roc_auc": "ROC AUC", "exact": "exact match", "n": "n", "ci_low": "CI low",
          "ci_high": "CI high", "max_points": "max"}


def duration(seconds: float | None) -> str:
    """``seconds`` in the largest two units a person reads (``2 d 3 h``, ``4 min 10 s``)."""
    if seconds is None:
        return "unknown"
    s = max(0, int(round(seconds)))
    for big, big_name, small, small_name in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"),
                                             (60, "min", 1, "s")):
        if s >= big:
            rest = (s % big) // small
            return f"{s // big} {big_name}" + (f" {rest} {small_name}" if rest else "")
    return f"{s} s"


@dataclass(frozen=True)
class Progress:
    """Where one unfinished submission stands."""

    position: int | None      # 1: graded next (queued only)
    elapsed: str              # since the upload (queued) or since its grade started (running)
    estimate: str             # until its report, from the recent grades' mean time


def progress(queue: JobQueue, jobs: list[Job], workers: int) -> dict[int, Progress]:
    """:class:`Progress` of each queued or running job of ``jobs``."""
    waiting = [j for j in jobs if j.state in ("queued", "running")]
    if not waiting:
        return {}
    now = queue.clock()
    ahead = queue.queued_ids()
    mean = queue.mean_grade_seconds()
    out = {}
    for job in waiting:
        if job.state == "running" and job.started_at is not None:
            left = None if mean is None else max(0.0, mean - (now - job.started_at))
            out[job.id] = Progress(None, duration(now - job.started_at), _about(left))
            continue
        position = ahead.index(job.id) + 1 if job.id in ahead else None
        since = now - datetime.fromisoformat(job.submitted_at).timestamp()
        left = None if mean is None or position is None else \
            math.ceil(position / max(1, workers)) * mean
        out[job.id] = Progress(position, duration(since), _about(left))
    return out


def _about(seconds: float | None) -> str:
    if seconds is None:
        return "unknown yet"
    return "a few seconds" if seconds < 5 else f"about {duration(seconds)}"


def deadline_view(deadline: datetime | None, now: datetime | None = None) -> dict | None:
    """The deadline as a page shows it: in the course's own time zone (the one it was given
    in) and in UTC, whether uploads are closed, and the time left in words."""
    if deadline is None:
        return None
    now = now or datetime.now(timezone.utc)
    zone = deadline.strftime("%z")
    zone = "UTC" if zone in ("", "+0000") else f"UTC{zone[:3]}:{zone[3:]}"
    utc = f"{deadline.astimezone(timezone.utc):%a %d %b %Y, %H:%M} UTC"
    return {"iso": deadline.isoformat(), "closed": now >= deadline,
            "local": utc if zone == "UTC" else f"{deadline:%a %d %b %Y, %H:%M} ({zone})",
            "utc": utc,
            "left": duration((deadline - now).total_seconds())}


def own_deadline(config: ServeConfig, student: str, extensions: dict[str, str],
                 now: datetime | None = None) -> dict | None:
    """The deadline a page shows ``student`` (:func:`deadline_view`). Under the rubric's [late]
    policy it is theirs (the course deadline moved by their extension) with why it applies,
    and the time late uploads close with the penalty a day; else the server's --deadline."""
    if config.late is None:
        return deadline_view(config.deadline, now)
    now = now or datetime.now(timezone.utc)
    own = deadline_for(config.late, extensions.get(student, ""))
    closes = deadline_view(closing_time(config, student, extensions), now)
    return {**deadline_view(own.when, now), "why": own.why, "passed": now >= own.when,
            "closed": closes["closed"], "closes": closes["local"],
            "penalty": f"{config.late.penalty_per_day:.0%}"}


def header(column: str) -> str:
    """``spam.points`` -> ``Spam points``; ``sorter.exact`` -> ``Sorter exact match``."""
    words = [_WORDS.get(part, part.replace("_", " ")) for part in column.split(".")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def web_board(board: dict, student: str | None) -> dict:
    """``board`` (:func:`grader.serve.boards.board_cells`) for a page: human headers, the
    points with their maximum, no file names, and the row and rank of ``student``."""
    columns = board["columns"]
    keep = [i for i, c in enumerate(columns) if c not in _HIDDEN]
    at = {c: i for i, c in enumerate(columns)}
    rows, mine = [], None
    for row, kind in zip(board["rows"], board["kinds"]):
        cells = [row[i] for i in keep]
        if "points" in at and "max_points" in at and row[at["points"]]:
            cells[keep.index(at["points"])] = f"{row[at['points']]} / {row[at['max_points']]}"
        is_mine = student is not None and kind == "student" and row[at["student"]] == student
        if is_mine:
            mine = {"rank": row[at["rank"]], "of": sum(k == "student" for k in board["kinds"])}
        rows.append({"cells": cells, "kind": kind, "mine": is_mine})
    notes = [n.replace(" (see --student NAME for reasons)", "") for n in board["notes"]]
    return {**board, "headers": [header(columns[i]) for i in keep], "web_rows": rows,
            "mine": mine, "notes": notes,
            "wraps": [columns[i] == "student" for i in keep]}   # the rest never wrap
