"""The job queue of a live challenge, in the leaderboard's own SQLite file.

One row per upload (``serve_jobs``). A job is ``queued``, then ``running`` under a lease (an
owner and an expiry the owner renews by heartbeat), then ``graded`` or ``failed`` with a reason.
A job whose lease ran out (its dispatcher died) is taken again by the next :meth:`claim`; a
server that starts puts every running job back first (:meth:`release_running`), since it holds
the file's lock and no one else can be grading. A lost worker or an error of the grader puts the
job back too, until ``max_deaths`` / ``max_errors`` tries: then it fails with the reason and,
being no fault the student can fix, stops counting against the daily limit. Each operation opens
its own connection, so the web threads and the dispatcher never share one.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from challenge.errors import ChallengeError
from grader.board.leaderboard import Leaderboard

STATES = ("queued", "running", "graded", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS serve_jobs (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    filename TEXT NOT NULL,          -- the name the student uploaded (shown, escaped)
    stored TEXT NOT NULL,            -- the file's name in the uploads folder
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at TEXT NOT NULL,
    day TEXT NOT NULL,               -- UTC date of the upload: the daily limit's key
    counts INTEGER NOT NULL,         -- 1: counts against the daily limit
    deaths INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT, lease_until REAL,
    reason TEXT NOT NULL DEFAULT '',  -- what the student reads
    detail TEXT NOT NULL DEFAULT '',  -- the grader's own error, for the instructor only
    points REAL, max_points REAL,
    summary TEXT NOT NULL DEFAULT '',
    board_id INTEGER,                -- submissions.id of its leaderboard row
    finished_at TEXT,
    regrade_of INTEGER);
CREATE INDEX IF NOT EXISTS serve_jobs_state ON serve_jobs (state, id);
CREATE INDEX IF NOT EXISTS serve_jobs_student ON serve_jobs (student, day);
CREATE TABLE IF NOT EXISTS serve_tokens (
    student TEXT PRIMARY KEY, role TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS serve_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS serve_sessions (
    session_hash TEXT PRIMARY KEY, student TEXT NOT NULL, expires REAL NOT NULL);
"""

# columns added after the first release: (name, declaration), added to an older file on open
_ADDED = (("size", "INTEGER NOT NULL DEFAULT 0"),   # bytes of the upload (the storage quota)
          ("started_at", "REAL"),                     # when its last grade started (the estimate)
          ("final", "INTEGER NOT NULL DEFAULT 0"),    # 1: its student marked it final
          ("late", "TEXT NOT NULL DEFAULT ''"))       # JSON: the deadline that applied, penalty


@dataclass(frozen=True)
class Job:
    id: int
    student: str
    filename: str
    stored: str
    sha256: str
    state: str
    submitted_at: str
    day: str
    counts: int
    deaths: int
    errors: int
    lease_owner: str | None
    lease_until: float | None
    reason: str
    detail: str
    points: float | None
    max_points: float | None
    summary: str
    board_id: int | None
    finished_at: str | None
    regrade_of: int | None
    size: int = 0
    started_at: float | None = None
    final: int = 0
    late: str = ""

    @property
    def late_note(self) -> dict:
        """The late note its grade was recorded with (:func:`grader.board.late.late_note`
        and its ``penalty``), or {} without a late policy."""
        return json.loads(self.late) if self.late else {}

    def public(self) -> dict:
        """What the student may see of it (no file names of ours, no lease)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("id", "filename", "state", "submitted_at", "reason", "points",
                         "max_points", "regrade_of", "final")} | {"late": self.late_note or None}


class LimitReached(ChallengeError):
    """The student used up today's submissions."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class JobQueue:
    """The queue in the leaderboard file ``db`` (created with the leaderboard's schema)."""

    def __init__(self, db: str | Path, *, max_deaths: int = 3, max_errors: int = 3):
        with Leaderboard(db) as store:   # creates the leaderboard's tables, checks its version
            self.path = store.path
        self.max_deaths, self.max_errors = max_deaths, max_errors
        self.clock = time.time    # what leases are measured with (tests pass their own)
        with closing(sqlite3.connect(self.path, timeout=30)) as con:
            con.executescript(f"BEGIN; {_SCHEMA} COMMIT;")
            have = {r[1] for r in con.execute("PRAGMA table_info(serve_jobs)")}
            for name, declaration in _ADDED:
                if name not in have:
                    con.execute(f"ALTER TABLE serve_jobs ADD COLUMN {name} {declaration}")
            con.commit()

    @contextmanager
    def transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction on a fresh connection; ``immediate`` takes the write lock at once."""
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as con:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA synchronous=NORMAL")   # WAL: safe against a kill, fewer fsyncs
            con.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    # --- uploads ---------------------------------------------------------------------------

    def used_today(self, student: str) -> int:
        with self.transaction() as con:
            return con.execute("SELECT count(*) FROM serve_jobs WHERE student=? AND day=? AND "
                               "counts=1", (student, today())).fetchone()[0]

    def stored_bytes(self, student: str) -> int:
        """Bytes of ``student``'s uploads kept on disk (a regrade shares its upload's file)."""
        with self.transaction() as con:
            return con.execute("SELECT coalesce(sum(size), 0) FROM serve_jobs WHERE student=? "
                               "AND regrade_of IS NULL", (student,)).fetchone()[0]

    def enqueue(self, student: str, filename: str, stored: str, sha256: str, *,
                daily_limit: int | None = None, counts: bool = True,
                regrade_of: int | None = None, size: int = 0) -> int:
        """A new queued job; :class:`LimitReached` (nothing written) past ``daily_limit``."""
        with self.transaction(immediate=True) as con:
            if daily_limit is not None:
                used = con.execute("SELECT count(*) FROM serve_jobs WHERE student=? AND day=? "
                                   "AND counts=1", (student, today())).fetchone()[0]
                if used >= daily_limit:
                    raise LimitReached(f"daily limit reached: {used} of {daily_limit} submissions "
                                       f"today (UTC); submit again tomorrow (submissions that "
                                       f"failed for the grader's own reasons do not count)")
            cur = con.execute(
                "INSERT INTO serve_jobs (student, filename, stored, sha256, state, submitted_at,"
                " day, counts, regrade_of, size) VALUES (?,?,?,?,'queued',?,?,?,?,?)",
                (student, filename, stored, sha256, now_iso(), today(), int(counts), regrade_of,
                 size))
            return cur.lastrowid

    # --- the dispatcher's side ---------------------------------------------------------------

    def release_running(self) -> int:
        """Put every running job back in the queue (a server starting: no one else grades)."""
        with self.transaction(immediate=True) as con:
            return con.execute("UPDATE serve_jobs SET state='queued', lease_owner=NULL, "
                               "lease_until=NULL WHERE state='running'").rowcount

    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Lease the oldest queued job (or a running one whose lease ran out) to ``owner``."""
        now = self.clock()
        with self.transaction(immediate=True) as con:
            row = con.execute("SELECT * FROM serve_jobs WHERE state='queued' OR "
                              "(state='running' AND lease_until < ?) ORDER BY id LIMIT 1",
                              (now,)).fetchone()
            if row is None:
                return None
            con.execute("UPDATE serve_jobs SET state='running', lease_owner=?, lease_until=?, "
                        "started_at=? WHERE id=?", (owner, now + lease_s, now, row["id"]))
        return Job(**{**dict(row), "state": "running", "lease_owner": owner,
                      "lease_until": now + lease_s, "started_at": now})

    def heartbeat(self, job_ids: list[int], owner: str, lease_s: float) -> set[int]:
        """Renew ``owner``'s leases; returns the ids it still holds."""
        if not job_ids:
            return set()
        with self.transaction(immediate=True) as con:
            marks = ",".join("?" * len(job_ids))
            con.execute(f"UPDATE serve_jobs SET lease_until=? WHERE state='running' AND "
                        f"lease_owner=? AND id IN ({marks})", (self.clock() + lease_s, owner, *job_ids))
            return {r[0] for r in con.execute(
                f"SELECT id FROM serve_jobs WHERE state='running' AND lease_owner=? AND "
                f"id IN ({marks})", (owner, *job_ids))}

    def retry(self, job_id: int, owner: str, *, reason: str, death: bool,
              final: bool = False) -> str:
        """The grade was lost (``death``: the worker died) or hit an error of the grader's:
        back to the queue, or failed after too many tries (at once when ``final``: the engine
        retried it already). Returns the new state."""
        with self.transaction(immediate=True) as con:
            row = con.execute("SELECT deaths, errors FROM serve_jobs WHERE id=? AND "
                              "state='running' AND lease_owner=?", (job_id, owner)).fetchone()
            if row is None:
                return "lost"   # no longer ours: another dispatcher took it over
            deaths, errors = row["deaths"] + death, row["errors"] + (not death)
            if final:
                deaths = max(deaths, self.max_deaths)
            if deaths >= self.max_deaths:
                state, why = "failed", (f"the grading worker died {deaths} times on this "
                                        f"submission; it is not graded and does not count "
                                        f"against your daily limit")
            elif errors >= self.max_errors:
                state, why = "failed", (f"grader error, {errors} tries; the instructor can see "
                                        f"the details, and this submission does not count "
                                        f"against your daily limit")
            else:
                state, why = "queued", ""
            con.execute("UPDATE serve_jobs SET state=?, deaths=?, errors=?, reason=?, detail=?, "
                        "lease_owner=NULL, lease_until=NULL, counts=CASE WHEN ?='failed' THEN 0 "
                        "ELSE counts END, finished_at=? WHERE id=?",
                        (state, deaths, errors, why, reason[:2000], state,
                         now_iso() if state == "failed" else None, job_id))
            return state

    def finish(self, job_id: int, owner: str, *, ok: bool, reason: str, points: float,
               max_points: float, summary: str, board_id: int | None,
               late: dict | None = None) -> bool:
        """Store the outcome of ``owner``'s job (``late``: its late note, if any); False
        (nothing written) when it lost the lease."""
        with self.transaction(immediate=True) as con:
            return con.execute(
                "UPDATE serve_jobs SET state=?, reason=?, points=?, max_points=?, summary=?, "
                "board_id=?, finished_at=?, late=?, lease_owner=NULL, lease_until=NULL "
                "WHERE id=? AND state='running' AND lease_owner=?",
                ("graded" if ok else "failed", reason, points, max_points, summary, board_id,
                 now_iso(), json.dumps(late, sort_keys=True) if late else "", job_id,
                 owner)).rowcount == 1

    def uploaded_at(self, job: Job) -> datetime:
        """When ``job``'s file was uploaded, as the server timed it: a regrade keeps the time
        of the upload it regrades (the late policy judges the upload, not the regrade)."""
        seen, current = set(), job
        with self.transaction() as con:
            while current.regrade_of is not None and current.regrade_of not in seen:
                seen.add(current.regrade_of)
                row = con.execute("SELECT * FROM serve_jobs WHERE id=?",
                                  (current.regrade_of,)).fetchone()
                if row is None:
                    break
                current = Job(**dict(row))
        return datetime.fromisoformat(current.submitted_at)

    def extensions(self) -> dict[str, str]:
        """Each student's extension (the roster's ``extension`` cell, kept by
        :meth:`set_extensions`), for the late policy."""
        return json.loads(self.setting("extensions", "{}"))

    def set_extensions(self, extensions: dict[str, str]) -> None:
        self.set_setting("extensions", json.dumps(extensions, sort_keys=True))

    # --- reading and the instructor's actions ---------------------------------------------

    def jobs(self, student: str | None = None) -> list[Job]:
        with self.transaction() as con:
            rows = con.execute("SELECT * FROM serve_jobs" + (" WHERE student=?" if student else "")
                               + " ORDER BY id", (student,) if student else ()).fetchall()
        return [Job(**dict(r)) for r in rows]

    def find(self, *, student: str = "", state: str = "", limit: int = 50,
             offset: int = 0) -> tuple[list[Job], int]:
        """The newest jobs first, filtered by ``student`` and ``state`` when given: one page
        of ``limit`` from ``offset``, and how many match in all."""
        where = " AND ".join(w for w, v in (("student=?", student), ("state=?", state)) if v)
        args = tuple(v for v in (student, state) if v)
        sql = " FROM serve_jobs" + (f" WHERE {where}" if where else "")
        with self.transaction() as con:
            total = con.execute("SELECT count(*)" + sql, args).fetchone()[0]
            rows = con.execute("SELECT *" + sql + " ORDER BY id DESC LIMIT ? OFFSET ?",
                               (*args, limit, offset)).fetchall()
        return [Job(**dict(r)) for r in rows], total

    def mark_final(self, job: Job, on: bool, most: int) -> None:
        """Mark ``job`` final (or not); a student may mark at most ``most`` distinct files."""
        with self.transaction(immediate=True) as con:
            marked = {r[0] for r in con.execute("SELECT sha256 FROM serve_jobs WHERE student=? "
                                                "AND final=1", (job.student,))}
            if on and job.sha256 not in marked and len(marked) >= most:
                raise LimitReached(f"you marked {len(marked)} submission(s) final already, the "
                                   f"most this challenge counts; unmark one first")
            con.execute("UPDATE serve_jobs SET final=? WHERE student=? AND sha256=?",
                        (int(on), job.student, job.sha256))

    def finals(self) -> dict[str, frozenset[str]]:
        """The file hashes each student marked final (students who marked none are absent)."""
        out: dict[str, set[str]] = {}
        with self.transaction() as con:
            for student, sha in con.execute("SELECT DISTINCT student, sha256 FROM serve_jobs "
                                            "WHERE final=1"):
                out.setdefault(student, set()).add(sha)
        return {s: frozenset(v) for s, v in out.items()}

    def queued_ids(self) -> list[int]:
        """The queued jobs' ids, in the order they will be graded."""
        with self.transaction() as con:
            return [r[0] for r in con.execute("SELECT id FROM serve_jobs WHERE state='queued' "
                                              "ORDER BY id")]

    def mean_grade_seconds(self, last: int = 20) -> float | None:
        """The mean time of the ``last`` grades (None before the first)."""
        with self.transaction() as con:
            rows = con.execute("SELECT started_at, finished_at FROM serve_jobs WHERE state="
                               "'graded' AND started_at IS NOT NULL AND finished_at IS NOT NULL "
                               "ORDER BY id DESC LIMIT ?", (last,)).fetchall()
        times = [max(0.0, datetime.fromisoformat(f).timestamp() - s) for s, f in rows]
        return sum(times) / len(times) if times else None

    def job(self, job_id: int) -> Job | None:
        with self.transaction() as con:
            row = con.execute("SELECT * FROM serve_jobs WHERE id=?", (job_id,)).fetchone()
        return Job(**dict(row)) if row else None

    def counts_by_state(self) -> dict[str, int]:
        with self.transaction() as con:
            found = dict(con.execute("SELECT state, count(*) FROM serve_jobs GROUP BY state"))
        return {s: found.get(s, 0) for s in STATES}

    def regrade_all(self, student: str | None = None) -> int:
        """Queue every distinct upload again (say after a rubric change), or ``student``'s
        alone; these never count against a daily limit. Uploads already waiting are not
        queued twice. Each regrade is a new job pointing at the one it regrades: the old
        grade stays for the instructor, the board takes the newest."""
        one = " WHERE student=?" if student is not None else ""
        args = (student,) if student is not None else ()
        with self.transaction(immediate=True) as con:
            waiting = {(r[0], r[1]) for r in con.execute(
                "SELECT student, sha256 FROM serve_jobs WHERE state IN ('queued','running')")}
            latest = con.execute(
                "SELECT student, sha256, max(id) AS id, filename, stored FROM serve_jobs"
                + one + " GROUP BY student, sha256 ORDER BY id", args).fetchall()
            n = 0
            for r in latest:
                if (r["student"], r["sha256"]) in waiting:
                    continue
                con.execute("INSERT INTO serve_jobs (student, filename, stored, sha256, state, "
                            "submitted_at, day, counts, regrade_of) VALUES (?,?,?,?,'queued',?,?,0,?)",
                            (r["student"], r["filename"], r["stored"], r["sha256"], now_iso(),
                             today(), r["id"]))
                n += 1
            return n

    def setting(self, key: str, default: str = "") -> str:
        with self.transaction() as con:
            row = con.execute("SELECT value FROM serve_settings WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction(immediate=True) as con:
            con.execute("INSERT OR REPLACE INTO serve_settings VALUES (?,?)", (key, value))
