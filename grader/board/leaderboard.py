"""The leaderboard store: one SQLite row per graded submission, written only by the grading process.

The file (default ``data/leaderboard.sqlite``) runs in WAL mode, so a reader (``challenge
leaderboard``) never blocks grading and grading never blocks a reader. Each submission is
recorded in one transaction: a kill leaves either the whole row (with its task results and
checks) or nothing. Per-example arrays for the bootstrap are stored as packed bits, compressed.

A regrade (``challenge regrade``) adds a row; it never overwrites one. Rows of one (student,
file hash, rubric) are numbered by ``attempt`` (0 for the first grade), so the board ranks the
newest attempt of each file and the older ones stay in the student's history. Each graded file
is kept beside the database (:func:`files_dir`, by its sha256) so that it can be regraded.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from challenge.errors import ChallengeError
from challenge.paths import data_dir
from grader.board.names import check_student_name, lookalike_problem

SCHEMA_VERSION = 3          # 2: checks keep their message; 3: regrade attempts, late work
KINDS = ("student", "baseline", "reference")
MAX_MESSAGE = 500           # characters of a failed check's message kept for the board

_SCHEMA = """
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL, kind TEXT NOT NULL, submission TEXT NOT NULL,
    sha256 TEXT NOT NULL, mode TEXT NOT NULL, graded_at TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL,
    points REAL NOT NULL, max_points REAL NOT NULL,
    rubric_hash TEXT NOT NULL, grader_version TEXT NOT NULL, torch_version TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,  -- 0: the first grade of this file; n: the n-th regrade
    late TEXT NOT NULL DEFAULT '',       -- JSON: the deadline that applied and any penalty
    UNIQUE (student, sha256, rubric_hash, attempt));
CREATE TABLE task_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    task TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    quality_status TEXT NOT NULL, quality_reason TEXT NOT NULL,
    metrics TEXT NOT NULL,          -- JSON {"whole": {...}, "public": {...}, "private": {...}}
    examples BLOB,                  -- encode_examples(); NULL when the report had none
    PRIMARY KEY (submission_id, task));
CREATE TABLE checks (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    task TEXT NOT NULL, part TEXT NOT NULL, name TEXT NOT NULL,
    passed INTEGER NOT NULL, status TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    message TEXT NOT NULL DEFAULT '');
CREATE INDEX submissions_student ON submissions (student);
"""
_COLUMNS = ("id, student, kind, submission, sha256, mode, graded_at, status, reason, points, "
            "max_points, rubric_hash, grader_version, torch_version")
# Schema 2 -> 3: a UNIQUE constraint cannot be altered in SQLite, so the table is rebuilt
# (the steps of sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema Changes").
_TO_3 = f"""
CREATE TABLE submissions_3 ({_SCHEMA.split("CREATE TABLE submissions (", 1)[1].split(");", 1)[0]});
INSERT INTO submissions_3 ({_COLUMNS}) SELECT {_COLUMNS} FROM submissions;
DROP TABLE submissions;
ALTER TABLE submissions_3 RENAME TO submissions;
CREATE INDEX submissions_student ON submissions (student);
"""


def default_db_path() -> Path:
    """``<data folder>/leaderboard.sqlite``."""
    return data_dir() / "leaderboard.sqlite"


def files_dir(db: str | Path | None = None) -> Path:
    """Where the graded files of the board ``db`` are kept for regrades: beside it, named
    ``<db name>.files/`` (``leaderboard.sqlite`` -> ``leaderboard.files/``)."""
    path = Path(db) if db is not None else default_db_path()
    return path.with_name(path.stem + ".files")


def named_parts(metrics: dict) -> dict:
    """Task metrics under the one vocabulary (challenge.report.PARTS): rows stored before it
    called the whole hidden set "all", in the metrics and in their per-part points."""
    out = dict(metrics)
    if "all" in out:
        out.setdefault("whole", out.pop("all"))
    if "all" in (out.get("part_points") or {}):
        points = dict(out["part_points"])
        points.setdefault("whole", points.pop("all"))
        out["part_points"] = points
    return out


def encode_examples(examples: dict | None) -> bytes | None:
    """Pack ``{"y_true", "y_pred", "private"}`` compactly: bits when all binary, else JSON."""
    if not examples:
        return None
    arrays = [np.asarray(examples.get(k, []), dtype=np.float64) for k in ("y_true", "y_pred", "private")]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ChallengeError("report examples: y_true, y_pred and private must have the same length")
    if all(np.isin(a, (0.0, 1.0)).all() for a in arrays):
        bits = np.packbits(np.stack(arrays).astype(bool), axis=1)
        return b"B" + n.to_bytes(8, "little") + zlib.compress(bits.tobytes(), 6)
    return b"J" + zlib.compress(json.dumps([a.tolist() for a in arrays]).encode(), 6)


def decode_examples(blob: bytes | None) -> dict[str, np.ndarray] | None:
    """Inverse of :func:`encode_examples`: float arrays ``y_true``, ``y_pred``; bool ``private``."""
    if blob is None:
        return None
    if blob[:1] == b"B":
        n = int.from_bytes(blob[1:9], "little")
        packed = np.frombuffer(zlib.decompress(blob[9:]), dtype=np.uint8).reshape(3, -1)
        arrays = np.unpackbits(packed, axis=1, count=n).astype(np.float64)
    else:
        arrays = [np.asarray(a, dtype=np.float64) for a in json.loads(zlib.decompress(blob[1:]))]
    return {"y_true": arrays[0], "y_pred": arrays[1], "private": np.asarray(arrays[2], dtype=bool)}


@dataclass(frozen=True)
class TaskEntry:
    points: float
    max_points: float
    quality_status: str
    quality_reason: str
    metrics: dict            # {"whole": {...}, "public": {...}, "private": {...}, "part_points"}
    examples: dict | None = None   # decode_examples() output, when loaded

    def points_on(self, part: str) -> float:
        """The task's points with its quality scored on ``part`` ("public", "private", "whole":
        challenge.report.PARTS) of the hidden set; the stored points (the whole set's) where the
        row has no per-part points (graded before they were kept, or no quality)."""
        parts = self.metrics.get("part_points") or {}
        if part not in parts or "whole" not in parts:
            return self.points
        return round(self.points - parts["whole"] + parts[part], 6)


@dataclass(frozen=True)
class Entry:
    """One stored, graded submission."""

    id: int
    student: str
    kind: str
    submission: str
    sha256: str
    mode: str
    graded_at: str
    status: str
    reason: str
    points: float
    max_points: float
    rubric_hash: str
    grader_version: str
    tasks: dict[str, TaskEntry] = field(default_factory=dict)
    checks: list[dict] = field(default_factory=list)
    attempt: int = 0                  # 0: the first grade of this file, n: its n-th regrade
    late: dict = field(default_factory=dict)   # grader.board.late: the deadline that applied


class Leaderboard:
    """The SQLite store. ``Leaderboard(path)`` opens for writing (creating the file);
    ``Leaderboard(path, readonly=True)`` for reading (:class:`ChallengeError` if missing).
    Use as a context manager."""

    def __init__(self, path: str | Path | None = None, *, readonly: bool = False):
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self._con = None
        try:
            self._open()
        except BaseException as e:
            if self._con is not None:
                self._con.close()
            if isinstance(e, sqlite3.DatabaseError):  # not an SQLite file, a folder, no access
                raise ChallengeError(f"{self.path} is not a leaderboard database this can open "
                                     f"({e}): pass another --db") from None
            raise

    def _open(self) -> None:
        if self.readonly:
            if not self.path.is_file():
                raise ChallengeError(f"no leaderboard database at {self.path}: grade submissions "
                                     "first (challenge grade --hidden DIR) or pass the right --db")
            self._con = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                        timeout=30)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, timeout=30)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
        self._con.execute("PRAGMA foreign_keys=ON")
        self._check_schema()

    def _check_schema(self) -> None:
        version = self._con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ChallengeError(f"{self.path} has leaderboard schema {version}, newer than this "
                                 f"kit's {SCHEMA_VERSION}: upgrade the kit")
        if version == 0 and not self.readonly:
            tables = self._con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise ChallengeError(f"{self.path} is not a leaderboard database: pass another --db")
            self._con.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        elif version in (1, 2) and not self.readonly:   # an older board: upgrade it in place
            self._upgrade(version)
        elif version == 0:
            raise ChallengeError(f"{self.path} is not a leaderboard database: pass another --db")

    def _upgrade(self, version: int) -> None:
        """Schema 1 (no check messages) and 2 (one row per file and rubric) to 3, in one
        transaction; foreign keys are off while the table is rebuilt, as SQLite requires."""
        steps = ("ALTER TABLE checks ADD COLUMN message TEXT NOT NULL DEFAULT '';"
                 if version == 1 else "") + _TO_3
        self._con.execute("PRAGMA foreign_keys=OFF")
        self._con.executescript(f"BEGIN; {steps} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        self._con.execute("PRAGMA foreign_keys=ON")

    def _has_column(self, table: str, column: str) -> bool:
        """Older boards opened read-only are not upgraded: what they lack reads as empty."""
        return any(row[1] == column for row in self._con.execute(f"PRAGMA table_info({table})"))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Leaderboard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def record(self, report: dict, *, kind: str = "student", student: str | None = None,
               sha256: str | None = None, graded_at: str | None = None,
               regrade: bool = False) -> int | None:
        """Store one report (the ``GradeReport.to_dict()`` shape) in one transaction.

        ``kind`` "baseline"/"reference" stores the row under ``__baseline__``/``__reference__``.
        Returns the new row id, or None when this (student, sha256, rubric) is already stored;
        with ``regrade`` a stored one is kept and the report becomes its next attempt.
        """
        if kind not in KINDS:
            raise ChallengeError(f"unknown row kind {kind!r}: use one of {', '.join(KINDS)}")
        if report.get("sets", "hidden") != "hidden":
            raise ChallengeError(f"report of {report.get('submission') or report.get('student')!r} "
                                 "was graded on the dev sets; grade it with --hidden (or "
                                 "--on-hidden) before it goes on the leaderboard")
        if kind == "student":
            name = check_student_name(student or report.get("student", ""))
        else:   # "__baseline__", or one baseline of several: "__baseline__ ComplementNB"
            name = student if student and student.startswith(f"__{kind}__") else f"__{kind}__"
        if kind == "student" and (problem := lookalike_problem(name, self.students())):
            raise ChallengeError(problem)
        row = (name, kind, str(report.get("submission", "")), sha256 or report.get("sha256", ""),
               report.get("mode", ""), graded_at or datetime.now(timezone.utc).isoformat(timespec="seconds"),
               report.get("status", "failed"), report.get("reason", ""),
               float(report.get("points", 0.0)), float(report.get("max_points", 0.0)),
               report.get("rubric_hash", ""), report.get("grader_version", ""), report.get("torch_version", ""),
               json.dumps(report["late"], sort_keys=True) if report.get("late") else "")
        with self._con:   # one transaction: the whole row or nothing
            attempt = self._con.execute(
                "SELECT coalesce(max(attempt) + 1, 0) FROM submissions WHERE student=? AND "
                "sha256=? AND rubric_hash=?", (row[0], row[3], row[10])).fetchone()[0]
            cur = self._con.execute(
                "INSERT OR IGNORE INTO submissions (student, kind, submission, sha256, mode, graded_at,"
                " status, reason, points, max_points, rubric_hash, grader_version, torch_version,"
                " late, attempt) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row + (attempt if regrade else 0,))
            if cur.rowcount == 0:
                return None
            sid = cur.lastrowid
            for task, t in (report.get("tasks") or {}).items():
                q = t.get("quality") or {}
                metrics = {"whole": q.get("metrics") or {}, "public": q.get("public") or {},
                           "private": q.get("private") or {}}
                if q.get("part_points"):
                    metrics["part_points"] = q["part_points"]
                metrics = named_parts(metrics)
                self._con.execute(
                    "INSERT INTO task_results VALUES (?,?,?,?,?,?,?,?)",
                    (sid, task, float(t.get("points", 0.0)), float(t.get("max_points", 0.0)),
                     q.get("status", "missing"), q.get("reason", ""), json.dumps(metrics),
                     encode_examples(t.get("examples"))))
                self._con.executemany(
                    "INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?)",
                    [(sid, task, c.get("part", ""), c.get("name", ""), int(bool(c.get("passed"))),
                      c.get("status", ""), float(c.get("points", 0.0)), float(c.get("max_points", 0.0)),
                      "" if c.get("passed") else str(c.get("message", ""))[:MAX_MESSAGE])
                     for c in t.get("checks") or []])
        return sid

    # --- reading ---------------------------------------------------------------------------

    def graded_keys(self) -> set[tuple[str, str, str]]:
        """Every stored ``(student, sha256, rubric_hash)``: what a resumed batch skips."""
        return set(self._con.execute("SELECT student, sha256, rubric_hash FROM submissions"))

    def latest_rubric(self) -> str | None:
        """The rubric hash of the most recently stored row (None when empty)."""
        row = self._con.execute("SELECT rubric_hash FROM submissions ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def students(self) -> list[str]:
        return [r[0] for r in self._con.execute(
            "SELECT DISTINCT student FROM submissions WHERE kind='student' ORDER BY student")]

    def entries(self, *, student: str | None = None, status: str | None = None,
                rubric_hash: str | None = None, examples: bool = False,
                checks: bool = False) -> list[Entry]:
        """Stored rows (oldest first, regrades included), filtered; ``examples``/``checks``
        load those too. :func:`newest` keeps the rows a board ranks."""
        where, args = [], []
        for column, value in (("student", student), ("status", status), ("rubric_hash", rubric_hash)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        extra = ", ".join(c if self._has_column("submissions", c) else z
                          for c, z in (("attempt", "0"), ("late", "''")))
        sql = ("SELECT id, student, kind, submission, sha256, mode, graded_at, status, reason, points,"
               f" max_points, rubric_hash, grader_version, {extra} FROM submissions"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id")
        with self._con:   # one read transaction: a consistent snapshot while grading goes on
            self._con.execute("BEGIN")
            base = self._con.execute(sql, args).fetchall()
            ids = {r[0] for r in base}
            tasks: dict[int, dict] = {i: {} for i in ids}
            cols = "submission_id, task, points, max_points, quality_status, quality_reason, metrics"
            cols += ", examples" if examples else ", NULL"
            for sid, task, p, mp, qs, qr, m, ex in self._con.execute(f"SELECT {cols} FROM task_results"):
                if sid in ids:
                    tasks[sid][task] = TaskEntry(p, mp, qs, qr, named_parts(json.loads(m)),
                                                 decode_examples(ex))
            check_rows: dict[int, list] = {i: [] for i in ids}
            if checks:
                message = "message" if self._has_column("checks", "message") else "''"
                for sid, task, part, name, passed, st, p, mp, msg in self._con.execute(
                        "SELECT submission_id, task, part, name, passed, status, points, max_points,"
                        f" {message} FROM checks"):
                    if sid in ids:
                        check_rows[sid].append({"task": task, "part": part, "name": name,
                                                "passed": bool(passed), "status": st,
                                                "points": p, "max_points": mp, "message": msg})
        return [Entry(*r[:13], tasks=tasks[r[0]], checks=check_rows[r[0]], attempt=r[13],
                      late=json.loads(r[14]) if r[14] else {}) for r in base]


def newest(entries: list[Entry]) -> list[Entry]:
    """The newest attempt of each (student, file hash, rubric): what a board ranks; the older
    attempts are history (``challenge leaderboard --student``)."""
    last: dict[tuple, Entry] = {}
    for e in entries:
        key = (e.student, e.sha256, e.rubric_hash)
        if key not in last or e.attempt > last[key].attempt:
            last[key] = e
    return [e for e in entries if last[(e.student, e.sha256, e.rubric_hash)] is e]
