"""The leaderboard as a gradebook CSV: one row per student of the roster (those who did not
submit, or whose submissions all failed, get empty scores), an id column for the LMS, points
rounded to 2 decimals and a fixed maximum beside every points column.

A roster is a CSV with a header naming an id column (``id``, ``student_id``, ``sis_id``,
``login``) and a name column (``student``, ``name``), or a plain list of names, one a line
(each its own id). Students graded but missing from the roster come last, with an empty id.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from challenge.errors import ChallengeError
from grader.board.names import check_student_name
from grader.board.ranking import Board

ID_NAMES = ("id", "student_id", "sis_id", "login", "username")
NAME_NAMES = ("student", "name", "submission_name")


def read_roster(path: str | os.PathLike) -> list[tuple[str, str]]:
    """``(id, student)`` per roster line, in the roster's order."""
    path = Path(path)
    if not path.is_file():
        raise ChallengeError(f"roster {path} does not exist; pass a CSV with id and student "
                             f"columns, or a file of names one a line")
    text = path.read_text(encoding="utf-8-sig")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise ChallengeError(f"roster {path} is empty; list the students, one a line")
    header = [h.strip().lower() for h in rows[0]]
    name_col = next((header.index(n) for n in NAME_NAMES if n in header), None)
    if name_col is None:
        if len(header) > 1:
            raise ChallengeError(f"roster {path}: no student column (columns: "
                                 f"{', '.join(rows[0])}); name one {' or '.join(NAME_NAMES)}")
        return [(r[0].strip(), check_student_name(r[0].strip())) for r in rows]
    id_col = next((header.index(n) for n in ID_NAMES if n in header), name_col)
    out = []
    for n, r in enumerate(rows[1:], 2):
        if len(r) <= max(name_col, id_col):
            raise ChallengeError(f"roster {path}, line {n}: {len(r)} fields, the header has "
                                 f"{len(header)}; fix that line")
        out.append((r[id_col].strip(), check_student_name(r[name_col].strip())))
    return out


def _points(v) -> str:
    return "" if v is None else f"{round(float(v), 2):.2f}"


def gradebook_csv(board: Board, students: list[str], task_max: dict[str, float],
                  roster: list[tuple[str, str]] | None = None) -> str:
    """The board as an LMS gradebook (module docstring): every roster student (else every
    student graded), student rows only, ranks split into rank and tie; ``task_max``: each
    task's maximum points (the rubric's)."""
    by_name = {r.student: r for r in board.rows if r.kind == "student"}
    order = roster if roster is not None else [(s, s) for s in students]
    listed = {name for _, name in order}
    order += [("", s) for s in students if s not in listed]
    top = max((r.max_points for r in board.rows), default=None)
    task_cols = [c for c in board.columns if c.endswith(".points")] if board.task is None else []
    metric_cols = [c for c in board.columns if c not in ("points", "max_points")
                   and c not in task_cols]
    header = ["id", "student", "points", "max_points"]
    header += [h for c in task_cols for h in (c.replace(".", "_"),
                                              c.replace(".points", "_max_points"))]
    header += [c.replace(".", "_") for c in metric_cols] + ["rank", "tie", "submission"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for sid, name in order:
        r = by_name.get(name)
        cells = [sid, name, _points(r.points if r else None), _points(top)]
        for c in task_cols:
            cells += [_points(r.metrics.get(c) if r else None),
                      _points(task_max.get(c.split(".")[0]))]
        for c in metric_cols:
            v = r.metrics.get(c) if r else None
            cells.append("" if v is None else v if isinstance(v, int) else f"{v:.4f}")
        cells += ([r.rank, int(r.tie), r.submission] if r else ["", "", ""])
        w.writerow(cells)
    return buf.getvalue()
