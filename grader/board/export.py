"""Leaderboard exports: a terminal table, a gradebook csv (grader/board/gradebook.py), Markdown, and one
self-contained HTML page (grader/board/page.py).

Boards and a student's history are first turned into a plain :class:`Table`; each format then
renders that table (the HTML page adds the per-check pass rates). Names are escaped in every
format; ``--out`` files are written atomically.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.paths import atomic_write
from challenge.report import PARTS, part_name
from grader.board.leaderboard import Entry, Leaderboard, default_db_path
from grader.board.ranking import PRIMARY, Board, build_board, load_board, task_order

FORMATS = ("table", "csv", "md", "html", "canvas", "moodle")
GRADEBOOKS = ("csv", "canvas", "moodle")      # one row per student: take --roster
LMS_FORMATS = ("canvas", "moodle")           # files those systems import as they are
PUBLIC_DETAILS = ("none", "points", "messages")   # what the HTML page says of each student


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list]              # cells: str, int, float or None
    kinds: list[str]              # per row: "student" | "baseline" | "reference" | a status
    notes: list[str] = field(default_factory=list)


def board_table(board: Board) -> Table:
    """Columns: rank, student, then the primary metric and its interval (task boards) or the
    points (overall), the other metrics, attempts and the submission file."""
    metric_cols = [c for c in board.columns if c not in ("points", "max_points")]
    if board.task is not None:
        lead = metric_cols[:1] + ["ci_low", "ci_high"] + metric_cols[1:] + ["points", "max_points"]
    else:
        lead = ["points", "max_points"] + metric_cols
    columns = ["rank", "student"] + lead + ["attempts", "submission"]
    rows = []
    for r in board.rows:
        known = {"points": r.points, "max_points": r.max_points, "ci_low": r.ci_low,
                 "ci_high": r.ci_high, **r.metrics}
        rows.append([r.rank_label, r.student] + [known.get(c) for c in lead]
                    + [r.attempts, r.submission])
    title = (f"{board.task or 'Overall'} leaderboard - {part_name(board.part)}, ranked by "
             f"{board.score_name}")
    return Table(title, columns, rows, [r.kind for r in board.rows], list(board.notes))


def history_table(entries: list[Entry], student: str, part: str = "public") -> Table:
    tasks = sorted({t for e in entries for t in e.tasks}, key=task_order)
    cols = [f"{t}.{PRIMARY.get(t, 'points')}" for t in tasks]
    rows = []
    for e in entries:
        vals = [None if t not in e.tasks else e.tasks[t].metrics.get(part, {}).get(PRIMARY[t])
                if t in PRIMARY else e.tasks[t].points for t in tasks]
        late = e.late.get("days_late", 0)
        rows.append([e.graded_at, e.submission, e.status, e.points, e.max_points] + vals
                    + [e.rubric_hash[:12], e.attempt,
                       f"{late}d -{e.late.get('penalty', 0):g}" if late else "", e.reason])
    return Table(f"Submissions of {student} ({part_name(part)}; attempt 1+: a regrade, the board "
                 f"ranks each file's newest)",
                 ["graded_at", "submission", "status", "points", "max_points"] + cols
                 + ["rubric", "attempt", "late", "reason"], rows, [e.status for e in entries])


def _text(v, column: str = "") -> str:
    """Metrics with 4 decimals, points with up to 2 (``87.5``, ``100``)."""
    if v is None:
        return ""
    if isinstance(v, float):
        if column.endswith("points"):
            return f"{v:.2f}".rstrip("0").rstrip(".")
        return f"{v:.4f}"
    return str(v)


def to_csv(table: Table) -> str:
    """csv for an LMS: student, points, max_points first, full precision, student rows only
    (the marked rows are not students); a board's rank is split into ``rank`` and ``tie``."""
    lead = [c for c in ("student", "points", "max_points") if c in table.columns]
    order = lead + [c for c in table.columns if c not in lead]
    header = [h for c in order for h in (("rank", "tie") if c == "rank" else (c,))]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for kind, row in zip(table.kinds, table.rows):
        if kind in ("baseline", "reference"):
            continue
        cells = dict(zip(table.columns, row))
        out = []
        for c in order:
            v = cells[c]
            if c == "rank":
                out += [str(v).lstrip("="), int(str(v).startswith("="))]
            else:
                out.append("" if v is None else repr(v) if isinstance(v, float) else v)
        w.writerow(out)
    return buf.getvalue()


def to_text(table: Table) -> str:
    cells = [table.columns] + [[_text(v, c) for c, v in zip(table.columns, row)] for row in table.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.columns))]
    lines = [table.title, ""]
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not table.rows:
        lines.append("(no graded submissions)")
    return "\n".join(lines + [""] + [f"* {n}" for n in table.notes]).rstrip() + "\n"


def _md(s: str) -> str:
    out = html.escape(s, quote=False)
    for c in "\\`*_[]|#":
        out = out.replace(c, "\\" + c)
    return out.replace("\n", " ")


def to_markdown(table: Table) -> str:
    lines = [f"## {_md(table.title)}", "", "| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    for kind, row in zip(table.kinds, table.rows):
        cells = [_md(_text(v, c)) for c, v in zip(table.columns, row)]
        if kind in ("baseline", "reference"):
            cells = [f"*{c}*" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if not table.rows:
        lines.append("\n_No graded submissions yet._")
    return "\n".join(lines + [""] + [f"- {_md(n)}" for n in table.notes]) + "\n"


def to_html(table: Table, board: Board | None = None, details: list[Entry] | None = None,
            options: PageOptions | None = None, names: dict[str, str] | None = None) -> str:
    """One self-contained page (:mod:`grader.board.page`): inline CSS, no scripts."""
    from grader.board.page import page

    return page(table, board, details, (options or PageOptions()).details, names)


def render(table: Table, fmt: str, board: Board | None = None,
           details: list[Entry] | None = None, options: PageOptions | None = None,
           names: dict[str, str] | None = None) -> str:
    if fmt == "csv":
        return to_csv(table)
    if fmt == "md":
        return to_markdown(table)
    if fmt == "html":
        return to_html(table, board, details, options, names)
    if fmt == "table":
        return to_text(table)
    raise ChallengeError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")


@dataclass(frozen=True)
class Shown:
    text: str                     # what to print (empty when written to a file)
    message: str = ""             # a one-line notice for stderr
    path: Path | None = None


def _board_extras(db, board: Board) -> tuple[list[str], dict[str, float], list[Entry]]:
    """Every student graded (failed ones too), each task's maximum points, and the entry
    behind each board row (for the HTML page's per-student detail)."""
    with Leaderboard(db, readonly=True) as store:
        entries = store.entries(checks=True)
    students = sorted({e.student for e in entries if e.kind == "student"})
    task_max: dict[str, float] = {}
    for e in entries:
        for t, te in e.tasks.items():
            task_max[t] = max(task_max.get(t, 0.0), te.max_points)
    by_key = {(e.student, e.submission, e.graded_at): e for e in entries}
    details = [by_key[k] for k in ((r.student, r.submission, r.graded_at) for r in board.rows)
               if k in by_key]
    return students, task_max, details


def leaderboard(*, db: str | Path | None = None, task: str | None = None, part: str = "public",
                fmt: str = "table", out: str | Path | None = None, student: str | None = None,
                select: str = "public", roster: str | Path | None = None,
                lms: LmsOptions | None = None, page: PageOptions | None = None) -> Shown:
    """The ``challenge leaderboard`` command: rank (or one student's history) and render.

    A missing default database is an empty board; a missing ``db`` that was given is an error.
    ``roster`` (:mod:`grader.board.roster`): every student of it gets a gradebook row
    (:mod:`grader.board.gradebook`); ``lms``: the assignment name and bonus cap of the
    ``canvas`` and ``moodle`` formats; ``page``: what the ``html`` page shows of each student
    (always on the board's part of the hidden set alone) and whether it names them; ``part``:
    which number ranks and fills the board (challenge.report.PARTS), default the public part.
    """
    from grader.board.roster import read_roster

    if fmt not in FORMATS:
        raise ChallengeError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if roster is not None and (fmt not in GRADEBOOKS or student is not None):
        raise ChallengeError("--roster shapes the gradebook of a board; use it with --format "
                             "csv, canvas or moodle and without --student")
    if student is not None and fmt in LMS_FORMATS:
        raise ChallengeError(f"--format {fmt} exports a board's grades; leave out --student")
    page = page or PageOptions()
    if not page.default and (fmt != "html" or student is not None):
        raise ChallengeError("--public-details and --anonymise shape the HTML page of a board; "
                             "use them with --format html and without --student")
    names = read_roster(roster) if roster is not None else None
    part = chosen_part(part)
    board, table, message = _board_or_history(db, task, part, select, student)
    if board is not None:
        text = _board_text(db, board, fmt, names, (lms or LmsOptions(), page))
        if names is not None and not board.rows:
            message += "; every roster student is listed with an empty score"
    else:
        text = render(table, fmt)
    if board is not None and fmt in LMS_FORMATS:      # the file's header cannot say it
        held = f"column {(lms or LmsOptions()).assignment!r} holds the {part_name(part)}'s points"
        message = f"{message}; {held}" if message else held
    if out is None:
        return Shown(text, message)
    with atomic_write(out, "w", encoding="utf-8", newline="", permissions=0o644) as f:
        f.write(text)
    return Shown("", f"{message}; wrote {out}" if message else f"wrote {out}", Path(out))



def chosen_part(part: str | None, private: bool = False) -> str:
    """The part of ``--part PART`` and its shorthand ``--private``: "public" by default."""
    if part is not None and part not in PARTS:
        raise ChallengeError(f"--part {part!r}: use one of {', '.join(PARTS)}")
    if private and part not in (None, "private"):
        raise ChallengeError(f"--private is --part private; leave it out with --part {part}")
    return "private" if private else part or "public"


@dataclass(frozen=True)
class PageOptions:
    """``--public-details`` and ``--anonymise`` of ``leaderboard --format html``: what each
    student's detail shows ("none", "points": points per task and part and the names of failed
    checks, "messages": their messages too) and whether names become "Student N"."""

    details: str = "points"
    anonymise: bool = False

    def __post_init__(self) -> None:
        if self.details not in PUBLIC_DETAILS:
            raise ChallengeError(f"--public-details {self.details!r}: use one of "
                                 f"{', '.join(PUBLIC_DETAILS)}")

    @property
    def default(self) -> bool:
        return self == PageOptions()


def anonymised(board: Board) -> tuple[Board, dict[str, str]]:
    """``board`` with each student row named "Student N" in board order and its submission's
    file name left out (it often carries the name); marked rows keep theirs. Also the map."""
    names: dict[str, str] = {}
    rows = []
    for r in board.rows:
        if r.kind == "student":
            names.setdefault(r.student, f"Student {len(names) + 1}")
            r = replace(r, student=names[r.student], submission="")
        rows.append(r)
    return replace(board, rows=rows), names


@dataclass(frozen=True)
class LmsOptions:
    """``--assignment`` and ``--cap-bonus`` of ``leaderboard --format canvas|moodle``."""

    assignment: str = "RNN challenge"
    cap_bonus: bool = False

    def __post_init__(self) -> None:
        name = self.assignment
        if not name.strip() or len(name) > 200 or not name.isprintable() or name[0] in "=+-@":
            raise ChallengeError(f"--assignment {name!r} is not a usable column name: give 1 to "
                                 "200 printable characters, not starting with = + - or @")


def _board_or_history(db, task, part, select, student) -> tuple[Board | None, Table | None, str]:
    """The board to show (or one student's history), and a notice for stderr."""
    if db is None and not default_db_path().is_file():
        message = f"no leaderboard yet at {default_db_path()}: grade with `challenge grade --hidden DIR`"
        if student is not None:
            return None, history_table([], student, part), message
        return build_board([], task=task, part=part, select=select), None, message
    if student is not None:
        with Leaderboard(db, readonly=True) as store:
            entries = store.entries(student=student)
            if not entries:
                known = ", ".join(store.students()[:20]) or "none yet"
                raise ChallengeError(f"no submissions for student {student!r}; known: {known}")
        return None, history_table(entries, student, part), ""
    board = load_board(db, task=task, part=part, select=select)
    return board, None, "" if board.rows else "the leaderboard is empty: no graded submissions yet"


def _points_possible(db, board: Board, students: list[str], names, fmt: str) -> float | None:
    """The maximum points for an LMS file's "Points Possible" row when no graded row gives it
    (the course's rubric); an error where the file would list nobody: no board, no graded
    student and no roster."""
    if board.rows:
        return None
    _someone_to_list(db, board, students, names, fmt)
    from challenge.rubric import load_rubric

    return load_rubric().max_points


def _someone_to_list(db, board: Board, students: list[str], names, fmt: str) -> None:
    """A gradebook (csv or an LMS file) of nobody is an error, not a header alone: no graded
    row, no student with a submission and no roster (a board not made yet, or a wrong folder)."""
    if board.rows or names is not None or students:
        return
    where = db if db is not None else default_db_path()
    raise ChallengeError(f"--format {fmt}: nobody to list, no student is graded in {where} "
                         f"yet; pass --roster roster.csv to list every student of the class "
                         f"with an empty score, or grade first (`challenge grade --hidden "
                         f"SUBS/`)")


def _board_text(db, board: Board, fmt: str, names, options: tuple) -> str:
    from grader.board.gradebook import gradebook_csv, lms_csv

    lms, page = options
    students: list[str] = []
    task_max: dict[str, float] = {}
    details: list[Entry] = []
    if board.rows or db is not None or default_db_path().is_file():
        students, task_max, details = _board_extras(db, board)
    if fmt == "csv":
        _someone_to_list(db, board, students, names, fmt)
        return gradebook_csv(board, students, task_max, names)
    if fmt in LMS_FORMATS:
        return lms_csv(board, students, names, fmt, assignment=lms.assignment,
                       cap_bonus=lms.cap_bonus, possible=_points_possible(db, board, students,
                                                                          names, fmt))
    aliases = None
    if page.anonymise:
        board, aliases = anonymised(board)
    return render(board_table(board), fmt, board, details, page, aliases)

