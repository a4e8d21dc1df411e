"""The leaderboard as a gradebook CSV: one row per student of the roster (those who did not
submit, or whose submissions all failed, get empty scores), an id column for the LMS, points
rounded to 2 decimals and a fixed maximum beside every points column.

Every score column's header names the part of the hidden set it holds (``points (private
part)``, ``spam_f1 (whole hidden set)``: challenge.report.PART_NAMES), so a file in the LMS
says which number it is; ids, maxima, rank and submission carry none.

The roster is the one roster (:mod:`grader.board.roster`): a row's ``sis_id`` is its LMS id
(the student id where it has none) and its ``name`` the name shown. Students graded but
missing from the roster come last, with an empty id. Without a roster every graded student
is listed, the student id as the LMS id.
"""

from __future__ import annotations

import csv
import io

from challenge.report import part_name
from grader.board.ranking import Board
from grader.board.roster import Roster


def _points(v) -> str:
    return "" if v is None else f"{round(float(v), 2):.2f}"


def named(column: str, part: str) -> str:
    """A score column's header with the part it holds: ``points (public part)``."""
    return f"{column} ({part_name(part)})"


def gradebook_csv(board: Board, students: list[str], task_max: dict[str, float],
                  roster: Roster | None = None) -> str:
    """The board as an LMS gradebook (module docstring): every roster student (else every
    student graded), student rows only, ranks split into rank and tie; ``task_max``: each
    task's maximum points (the rubric's)."""
    by_name = {r.student: r for r in board.rows if r.kind == "student"}
    if roster is None:
        order = [(s, s, s) for s in students]
    else:
        order = [(r.lms_id, r.student, r.display) for r in roster]
        order += [("", s, s) for s in students if s not in roster]
    top = max((r.max_points for r in board.rows), default=None)
    task_cols = [c for c in board.columns if c.endswith(".points")] if board.task is None else []
    metric_cols = [c for c in board.columns if c not in ("points", "max_points")
                   and c not in task_cols]
    header = ["id", "student", "name", named("points", board.part), "max_points"]
    header += [h for c in task_cols for h in (named(c.replace(".", "_"), board.part),
                                              c.replace(".points", "_max_points"))]
    header += [named(c.replace(".", "_"), board.part) for c in metric_cols]
    header += ["rank", "tie", "submission"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for lms_id, student, name in order:
        r = by_name.get(student)
        cells = [lms_id, student, name, _points(r.points if r else None), _points(top)]
        for c in task_cols:
            cells += [_points(r.metrics.get(c) if r else None),
                      _points(task_max.get(c.split(".")[0]))]
        for c in metric_cols:
            v = r.metrics.get(c) if r else None
            cells.append("" if v is None else v if isinstance(v, int) else f"{v:.4f}")
        cells += ([r.rank, int(r.tie), r.submission] if r else ["", "", ""])
        w.writerow(cells)
    return buf.getvalue()


LMS_FORMATS = ("canvas", "moodle")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("ID number", "Email address", "Full name")
DEFAULT_ASSIGNMENT = "RNN challenge"


def lms_csv(board: Board, students: list[str], roster: Roster | None, fmt: str, *,
            assignment: str = DEFAULT_ASSIGNMENT, cap_bonus: bool = False,
            possible: float | None = None) -> str:
    """The board as a file ``fmt`` ("canvas" or "moodle") imports as it is: one row per roster
    student (else per student graded), the score in one column named ``assignment`` exactly
    (the LMS matches its assignment by that name: any suffix would make a new assignment; the
    command's notice says which part of the hidden set the column holds), empty for a student
    with no graded submission; ``cap_bonus`` caps a score at the maximum.

    Canvas: its gradebook columns (``Student, ID, SIS User ID, SIS Login ID, Section``), the
    assignment column, and the "Points Possible" row it writes in its own exports; Canvas
    matches on SIS User ID (the roster's ``sis_id``) or SIS Login ID (the student id) and
    leaves its own ID empty. Moodle: ``ID number`` (the roster's ``sis_id``, else the student
    id), ``Email address``, ``Full name`` and the assignment; in the import, map from
    "ID number" to the user's idnumber (or from the email). ``possible``: the Points Possible
    where the board has no row to take it from (no grade yet)."""
    by_name = {r.student: r for r in board.rows if r.kind == "student"}
    top = max((r.max_points for r in board.rows), default=possible)
    people = list(roster) if roster is not None else []
    people += [_Unlisted(s) for s in students if roster is None or s not in roster]

    def score(student: str) -> str:
        r = by_name.get(student)
        if r is None:
            return ""
        return _points(min(r.points, r.max_points) if cap_bonus else r.points)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if fmt == "canvas":
        w.writerow(CANVAS_COLUMNS + (assignment,))
        w.writerow(["    Points Possible", "", "", "", "", _points(top)])
        for p in people:
            w.writerow([p.display, "", p.sis_id, p.student, p.section, score(p.student)])
    else:
        w.writerow(MOODLE_COLUMNS + (assignment,))
        for p in people:
            w.writerow([p.lms_id, p.email, p.display, score(p.student)])
    return buf.getvalue()


class _Unlisted:
    """A student graded but not on the roster (or no roster): the student id for every id."""

    def __init__(self, student: str):
        self.student = self.display = self.lms_id = student
        self.sis_id = self.section = self.email = ""
