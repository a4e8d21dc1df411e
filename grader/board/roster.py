"""The class roster: one CSV format, read by :func:`read_roster` for the folder grade
(``grade --roster``), the gradebook (``leaderboard --roster``) and the live server's tokens
(``serve --roster``).

A header row comes first, with ``student`` as its first column: the id a student's submission
file and token carry, normalised like every submission name (:func:`~grader.board.names.student_id`:
``Alice`` is ``alice``). Any of ``name`` (the display name), ``sis_id`` (the id the LMS knows),
``section``, ``email`` and ``extension`` may follow, in any order; any other column is an
error, so a typo never drops a column in silence. ``extension`` gives one student more time
under the rubric's ``[late]`` policy: a number of days, or an ISO time with its UTC offset
(:mod:`grader.board.late`)::

    student,name,sis_id,section,email,extension
    alice,Alice Liddell,1001,A,alice@example.org,2
    bob,,1002,B,,
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ChallengeError
from grader.board.late import extension_problem
from grader.board.names import id_problem, lookalike_problem, student_id

COLUMNS = ("student", "name", "sis_id", "section", "email", "extension")
MAX_CELL = 200
# Header words of the old layouts: a first line holding one of them is a header, not a student.
_OLD_ID_COLUMNS = ("id", "student_id", "login", "username", "submission_name")
_FORMAT = ("a header row with `student` first, then any of name, sis_id, section, email, "
           "extension")
_HINT = ("columns: student first, then any of name, sis_id, section, email, extension; "
         "docs/instructors.md")


@dataclass(frozen=True)
class RosterRow:
    """One student of a roster; ``line`` is where the row stands in the file."""

    student: str
    name: str = ""
    sis_id: str = ""
    section: str = ""
    email: str = ""
    extension: str = ""    # grader.board.late: days, or the student's own deadline
    line: int = 0

    @property
    def display(self) -> str:
        """The name to show: ``name``, else the student id."""
        return self.name or self.student

    @property
    def lms_id(self) -> str:
        """The id a gradebook import matches on: ``sis_id``, else the student id."""
        return self.sis_id or self.student


@dataclass(frozen=True)
class Roster:
    """The rows of one roster file, in its order; ``"alice" in roster`` asks by student id."""

    path: Path
    rows: tuple[RosterRow, ...]
    _by_student: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_student", {r.student: r for r in self.rows})

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, student: object) -> bool:
        return student in self._by_student

    @property
    def students(self) -> list[str]:
        return [r.student for r in self.rows]

    def get(self, student: str) -> RosterRow | None:
        return self._by_student.get(student)


def read_roster(path: str | os.PathLike) -> Roster:
    """The roster at ``path`` (module docstring), or a :class:`ChallengeError` that names the
    file, the line and the fix: an old layout (no header, ``id,student``, ``student`` not first),
    an unknown column, an empty, unsafe, duplicate or look-alike student id, a duplicate sis_id."""
    path = Path(path)
    lines = _csv_lines(path)
    if not lines:
        raise ChallengeError(f"roster {path} is empty; write {_FORMAT}, then one student a "
                             f"line (docs/instructors.md)")
    columns = _header(path, *lines[0])
    rows: list[RosterRow] = []
    for number, cells in lines[1:]:
        if len(cells) > len(columns):
            raise ChallengeError(f"roster {path}, line {number}: {len(cells)} fields but the "
                                 f"header has {len(columns)}; quote a field that holds a comma")
        values = {c: cells[i].strip() if i < len(cells) else "" for i, c in enumerate(columns)}
        row = _row(path, number, values)
        _check_unique(path, row, rows)
        rows.append(row)
    if not rows:
        raise ChallengeError(f"roster {path} lists no students; add one a line under the header")
    return Roster(path, tuple(rows))


def _csv_lines(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of every row that is not blank."""
    if not path.is_file():
        raise ChallengeError(f"roster {path} does not exist; pass a CSV file with {_FORMAT} "
                             f"(docs/instructors.md)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ChallengeError(f"roster {path} is not UTF-8 text; save it as a UTF-8 CSV") from None
    except OSError as e:
        raise ChallengeError(f"cannot read roster {path}: {e.strerror or e}") from None
    reader = csv.reader(io.StringIO(text), strict=True)
    lines = []
    try:
        for cells in reader:
            if any(c.strip() for c in cells):
                lines.append((reader.line_num, cells))
    except csv.Error as e:
        raise ChallengeError(f"roster {path}, line {reader.line_num}: not valid CSV ({e}); "
                             f"close the quoted field") from None
    return lines


def _header(path: Path, number: int, cells: list[str]) -> list[str]:
    """The column names of the header row, or the error that says which old layout it is."""
    found = ",".join(cells)
    columns = [c.strip().lower() for c in cells]
    if "student" not in columns:
        if not set(columns) & set(COLUMNS + _OLD_ID_COLUMNS):
            example = "student" if len(cells) == 1 else "student,name"
            raise ChallengeError(f"roster {path} has no header row (line {number} is {found!r}); add a "
                                 f"header row `{example}` above the students ({_HINT})")
        raise ChallengeError(f"roster {path} has no 'student' column (header {found!r}); name "
                             f"the column of student ids `student` and put it first ({_HINT})")
    if columns[0] != "student":
        fixed = ["student"] + ["sis_id" if c in _OLD_ID_COLUMNS else c
                               for c in columns if c != "student"]
        raise ChallengeError(f"roster {path}: the header {found!r} starts with {cells[0]!r}, not "
                             f"'student'; write it as `{','.join(fixed)}` (student first, an "
                             f"LMS id under sis_id)")
    for i, c in enumerate(columns):
        if c not in COLUMNS:
            raise ChallengeError(f"roster {path}: unknown column {cells[i]!r} in the header "
                                 f"{found!r}; the columns are {', '.join(COLUMNS)} (student "
                                 f"first): rename or remove it")
        if columns.index(c) != i:
            raise ChallengeError(f"roster {path}: column {c!r} appears twice in the header "
                                 f"{found!r}; keep one")
    return columns


def _row(path: Path, number: int, values: dict[str, str]) -> RosterRow:
    """One row's values, checked: the student id by :func:`student_id`'s rules, the other
    cells safe to write into a gradebook spreadsheet."""
    where = f"roster {path}, line {number}"
    raw = values["student"]
    if not raw:
        raise ChallengeError(f"{where}: no student id; fill in the student column or remove "
                             f"the line")
    problem = id_problem(raw)
    if problem:
        raise ChallengeError(f"{where}: student id {raw!r}: {problem}; use the name the "
                             f"student's submission file carries (ASCII letters, digits, '.', "
                             f"'_' or '-', e.g. alice for alice.zip)")
    for column in COLUMNS[1:]:
        problem = _cell_problem(column, values.get(column, ""))
        if problem:
            raise ChallengeError(f"{where}: {column} {values[column]!r} {problem}")
    return RosterRow(student_id(raw), line=number,
                     **{c: values.get(c, "") for c in COLUMNS[1:]})


def _cell_problem(column: str, value: str) -> str:
    if not value:
        return ""
    if len(value) > MAX_CELL:
        return f"is longer than {MAX_CELL} characters; shorten it"
    if any(not c.isprintable() for c in value):
        return "holds a control character or a line break; remove it"
    if value[0] in "=+-@":
        return (f"starts with {value[0]!r}, which a spreadsheet reads as a formula; "
                f"remove that character")
    if column == "email" and "@" not in value:
        return "is not an email address; give name@host or leave it empty"
    if column == "extension":
        return extension_problem(value)
    return ""


def _check_unique(path: Path, row: RosterRow, earlier: list[RosterRow]) -> None:
    """A student, or an LMS id, on two lines; or a student id that looks like an earlier one."""
    where = f"roster {path}, line {row.line}"
    for other in earlier:
        if other.student == row.student:
            raise ChallengeError(f"{where}: student {row.student!r} is already on line "
                                 f"{other.line} (ids ignore case); keep one row per student")
        if row.sis_id and other.sis_id == row.sis_id:
            raise ChallengeError(f"{where}: sis_id {row.sis_id!r} is already on line "
                                 f"{other.line} (student {other.student!r}); give each student "
                                 f"their own LMS id")
    problem = lookalike_problem(row.student, [r.student for r in earlier], "earlier on the roster",
                                "keep one spelling per student, or ids that cannot be mistaken "
                                "for one another")
    if problem:
        raise ChallengeError(f"{where}: {problem}")
