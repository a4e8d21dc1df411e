"""Tokens and browser sessions of a live challenge: one token per roster student (the roster is
read by :func:`grader.board.roster.read_roster`), one for the instructor.

A token is 32 random bytes (URL-safe text); only its SHA-256 is stored, which is enough for a
secret that long (no password to guess). :class:`Tokens` compares a presented token with every
stored hash in constant time. New tokens are written once, to a private CSV for the instructor
to mail out; they cannot be read back from the store. :meth:`Tokens.rotate` replaces one.

A browser logs in with the token once and then holds a session: another random value, stored
hashed in ``serve_sessions`` with its expiry, which logging out or rotating the token deletes.
The long-lived token itself never sits in a cookie.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.paths import atomic_write
from grader.board.names import lookalike_problem
from grader.serve.queue import JobQueue, now_iso

INSTRUCTOR = "__instructor__"
RELOAD_S = 1.0     # how stale the identities may be (a rotation by another process)


@dataclass(frozen=True)
class Identity:
    student: str          # the student's name, or INSTRUCTOR
    role: str             # "student" | "instructor"
    token_hash: str

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Tokens:
    """The identities the store knows, checked in constant time."""

    def __init__(self, queue: JobQueue):
        self.queue = queue
        self.reload()

    def reload(self) -> None:
        with self.queue.transaction() as con:
            rows = con.execute("SELECT student, role, token_hash FROM serve_tokens").fetchall()
        self._rows = [Identity(*r) for r in rows]
        self._loaded = time.monotonic()

    def _current(self) -> list[Identity]:
        if time.monotonic() - self._loaded > RELOAD_S:
            self.reload()
        return self._rows

    def identify(self, token: str | None) -> Identity | None:
        if not token or len(token) > 200:
            return None
        presented = hash_token(token).encode()
        found = None
        for ident in self._current():   # no early exit: the time does not say which matched
            if hmac.compare_digest(presented, ident.token_hash.encode()):
                found = ident
        return found

    def students(self) -> list[str]:
        return [i.student for i in self._current() if i.role == "student"]

    # --- sessions ----------------------------------------------------------------------------

    def open_session(self, ident: Identity, seconds: float) -> str:
        """A new session of ``ident`` for ``seconds``; the value for the cookie."""
        value = secrets.token_urlsafe(32)
        with self.queue.transaction(immediate=True) as con:
            now = self.queue.clock()
            con.execute("DELETE FROM serve_sessions WHERE expires < ?", (now,))
            con.execute("INSERT INTO serve_sessions VALUES (?,?,?)",
                        (hash_token(value), ident.student, now + seconds))
        return value

    def session(self, value: str | None) -> Identity | None:
        """The identity whose live session ``value`` is (None: unknown, expired or revoked)."""
        if not value or len(value) > 200:
            return None
        with self.queue.transaction() as con:
            row = con.execute("SELECT student FROM serve_sessions WHERE session_hash=? AND "
                              "expires > ?", (hash_token(value), self.queue.clock())).fetchone()
        if row is None:
            return None
        return next((i for i in self._current() if i.student == row[0]), None)

    def close_session(self, value: str | None) -> None:
        if value:
            with self.queue.transaction(immediate=True) as con:
                con.execute("DELETE FROM serve_sessions WHERE session_hash=?", (hash_token(value),))

    def rotate(self, student: str, folder: Path) -> Path:
        """A new token for ``student`` (the old one and every session of it stop working),
        written to a new private CSV in ``folder``, whose path is returned."""
        if not any(i.student == student for i in self._current()):
            known = ", ".join(sorted(self.students())[:5])
            raise ChallengeError(f"no token for {student!r} to rotate; students with one: "
                                 f"{known or 'none'} (add a new student with --roster)")
        token = new_token()
        path = _write_tokens(folder, [(student, token)])
        with self.queue.transaction(immediate=True) as con:
            con.execute("UPDATE serve_tokens SET token_hash=? WHERE student=?",
                        (hash_token(token), student))
            con.execute("DELETE FROM serve_sessions WHERE student=?", (student,))
        self.reload()
        return path

    def issue(self, students: list[str], folder: Path) -> tuple[Path | None, Path | None]:
        """Tokens for the roster students (and the instructor) who have none yet.

        Returns the CSV of new student tokens and the instructor's token file (None when
        nothing new). Files are written before the hashes are stored, so a token in the store
        was always handed to the instructor.
        """
        known = {i.student for i in self._rows}
        if problem := next((p for s in students if s not in known
                            for p in [lookalike_problem(s, known - {INSTRUCTOR}, "who already has a token",
                                                        "use that name on the roster, or one that "
                                                        "cannot be mistaken for it")]
                            if p), None):
            raise ChallengeError(f"roster: {problem}")
        new = [(s, new_token()) for s in students if s not in known]
        rows, csv_path, instructor_path = [], None, None
        if new:
            csv_path = _write_tokens(folder, new)
            rows += [(s, "student", hash_token(t)) for s, t in new]
        if INSTRUCTOR not in known:
            token = new_token()
            instructor_path = _free_name(folder / "instructor-token.txt")
            with atomic_write(instructor_path, "w", encoding="utf-8") as f:
                f.write(token + "\n")
            rows.append((INSTRUCTOR, "instructor", hash_token(token)))
        if rows:
            with self.queue.transaction(immediate=True) as con:   # all or none
                con.executemany("INSERT INTO serve_tokens VALUES (?,?,?,?)",
                                [(*r, now_iso()) for r in rows])
            self.reload()
        return csv_path, instructor_path


def _write_tokens(folder: Path, rows: list[tuple[str, str]]) -> Path:
    """A new private CSV ``student,token`` in ``folder`` (tokens.csv, tokens-2.csv, ...)."""
    path = _free_name(folder / "tokens.csv")
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "token"])
        writer.writerows(rows)
    return path


def _free_name(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3... before its suffix when taken (never overwrite a
    file of tokens already mailed out)."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
