"""Tokens of a live challenge: one per roster student (the roster is read by
:func:`grader.board.roster.read_roster`), one for the instructor.

A token is 32 random bytes (URL-safe text); only its SHA-256 is stored, which is enough for a
secret that long (no password to guess). :class:`Tokens` compares a presented token with every
stored hash in constant time. New tokens are written once, to a private CSV for the instructor
to mail out; they cannot be read back from the store.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.paths import atomic_write
from grader.board.names import lookalike_problem
from grader.serve.queue import JobQueue

INSTRUCTOR = "__instructor__"


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
        self._rows = [Identity(s, r, h) for s, r, h in self.queue.token_hashes()]

    def identify(self, token: str | None) -> Identity | None:
        if not token or len(token) > 200:
            return None
        presented = hash_token(token).encode()
        found = None
        for ident in self._rows:   # no early exit: the time does not depend on which matched
            if hmac.compare_digest(presented, ident.token_hash.encode()):
                found = ident
        return found

    def students(self) -> list[str]:
        return [i.student for i in self._rows if i.role == "student"]

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
            csv_path = _free_name(folder / "tokens.csv")
            with atomic_write(csv_path, "w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["student", "token"])
                writer.writerows(new)
            rows += [(s, "student", hash_token(t)) for s, t in new]
        if INSTRUCTOR not in known:
            token = new_token()
            instructor_path = _free_name(folder / "instructor-token.txt")
            with atomic_write(instructor_path, "w", encoding="utf-8") as f:
                f.write(token + "\n")
            rows.append((INSTRUCTOR, "instructor", hash_token(token)))
        if rows:
            self.queue.add_tokens(rows)
            self.reload()
        return csv_path, instructor_path


def _free_name(path: Path) -> Path:
    """``path``, or ``path`` with -2, -3... before its suffix when taken (never overwrite a
    file of tokens already mailed out)."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate
