"""The leaderboard store: one SQLite row per graded submission, written only by the grading process.

The file (default ``data/leaderboard.sqlite``) runs in WAL mode, so a reader (``challenge
leaderboard``) never blocks grading and grading never blocks a reader. Each submission is
recorded in one transaction: a kill leaves either the whole row (with its task results and
checks) or nothing. Per-example arrays for the bootstrap are stored as packed bits, compressed.
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

SCHEMA_VERSION = 2          # 2: checks keep their message (a failed check's reason)
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
    UNIQUE (student, sha256, rubric_hash));
CREATE TABLE task_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    task TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    quality_status TEXT NOT NULL, quality_reason TEXT NOT NULL,
    metrics TEXT NOT NULL,          -- JSON {"all": {...}, "public": {...}, "private": {...}}
    examples BLOB,                  -- encode_examples(); NULL when the report had none
    PRIMARY KEY (submission_id, task));
CREATE TABLE checks (
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    task TEXT NOT NULL, part TEXT NOT NULL, name TEXT NOT NULL,
    passed INTEGER NOT NULL, status TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
    message TEXT NOT NULL DEFAULT '');
CREATE INDEX submissions_student ON submissions (student);
"""


def default_db_path() -> Path:
    """``<data folder>/leaderboard.sqlite``."""
    return data_dir() / "leaderboard.sqlite"


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
    metrics: dict            # {"all": {...}, "public": {...}, "private": {...}, "part_points"}
    examples: dict | None = None   # decode_examples() output, when loaded

    def points_on(self, part: str) -> float:
        """The task's points with its quality scored on ``part`` ("public", "private") of the
        hidden set alone; the stored points where the row has no per-part points (graded
        before they were kept, or no quality)."""
        parts = self.metrics.get("part_points") or {}
        if part not in parts or "all" not in parts:
            return self.points
        return round(self.points - parts["all"] + parts[part], 6)


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
        elif version == 1 and not self.readonly:   # a board from before messages were kept
            self._con.executescript("BEGIN; ALTER TABLE checks ADD COLUMN message TEXT NOT NULL "
                                    f"DEFAULT ''; PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        elif version == 0:
            raise ChallengeError(f"{self.path} is not a leaderboard database: pass another --db")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Leaderboard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def record(self, report: dict, *, kind: str = "student", student: str | None = None,
               sha256: str | None = None, graded_at: str | None = None) -> int | None:
        """Store one report (the ``GradeReport.to_dict()`` shape) in one transaction.

        ``kind`` "baseline"/"reference" stores the row under ``__baseline__``/``__reference__``.
        Returns the new row id, or None when this (student, sha256, rubric) is already stored.
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
               report.get("rubric_hash", ""), report.get("grader_version", ""), report.get("torch_version", ""))
        with self._con:   # one transaction: the whole row or nothing
            cur = self._con.execute(
                "INSERT OR IGNORE INTO submissions (student, kind, submission, sha256, mode, graded_at,"
                " status, reason, points, max_points, rubric_hash, grader_version, torch_version)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row)
            if cur.rowcount == 0:
                return None
            sid = cur.lastrowid
            for task, t in (report.get("tasks") or {}).items():
                q = t.get("quality") or {}
                metrics = {"all": q.get("metrics") or {}, "public": q.get("public") or {},
                           "private": q.get("private") or {}}
                if q.get("part_points"):
                    metrics["part_points"] = q["part_points"]
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

    def _has_messages(self) -> bool:
        """Schema 1 boards (opened read-only, so not upgraded) have no check messages."""
        return any(row[1] == "message" for row in self._con.execute("PRAGMA table_info(checks)"))

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
        """Stored rows (oldest first), filtered; ``examples``/``checks`` load those too."""
        where, args = [], []
        for column, value in (("student", student), ("status", status), ("rubric_hash", rubric_hash)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = ("SELECT id, student, kind, submission, sha256, mode, graded_at, status, reason, points,"
               " max_points, rubric_hash, grader_version FROM submissions"
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
                    tasks[sid][task] = TaskEntry(p, mp, qs, qr, json.loads(m), decode_examples(ex))
            check_rows: dict[int, list] = {i: [] for i in ids}
            if checks:
                message = "message" if self._has_messages() else "''"
                for sid, task, part, name, passed, st, p, mp, msg in self._con.execute(
                        "SELECT submission_id, task, part, name, passed, status, points, max_points,"
                        f" {message} FROM checks"):
                    if sid in ids:
                        check_rows[sid].append({"task": task, "part": part, "name": name,
                                                "passed": bool(passed), "status": st,
                                                "points": p, "max_points": mp, "message": msg})
        return [Entry(*r, tasks=tasks[r[0]], checks=check_rows[r[0]]) for r in base]
