"""The one engine interface for grading many submissions, and what every engine shares.

An :class:`Engine` takes submissions (:meth:`Engine.submit`), grades each with
:func:`grade_task` wherever it runs its workers, and reports how each ended as an
:class:`Outcome` (:meth:`Engine.poll`, :meth:`Engine.wait`). Its one watchdog stops a job still
grading after :attr:`Work.job_seconds`. Folder grades (:mod:`grader.batch`) and the live
server (:mod:`grader.serve.dispatch`) are its two callers; :func:`record_result` is the one
path from a finished report to the leaderboard.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import time
from abc import ABC, abstractmethod
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from challenge.errors import ChallengeError
from grader.board.leaderboard import Leaderboard
from grader.board.names import check_student_name


@dataclass(frozen=True)
class Work:
    """What an engine runs on each submission: ``grade_fn(path, **kwargs)`` (module level, so
    a spawned process or a Dask worker can import it) and how long one grade may take."""

    grade_fn: Callable
    kwargs: dict = field(default_factory=dict)
    job_seconds: float = 3600.0


@dataclass(frozen=True)
class Outcome:
    """How one job ended: ``ok`` (``result`` is :func:`grade_task`'s dict), ``error`` (the
    grader raised: ours, not the student's) or ``died`` (its worker was lost or stopped;
    ``final`` when the engine itself gave up after repeated losses)."""

    job_id: int
    kind: str
    result: dict | None = None
    reason: str = ""
    final: bool = False


@contextmanager
def _staged(path: str, content: bytes | None) -> Iterator[str]:
    """``path`` itself, or (``content`` given: a worker that may not share our disk) a copy
    written to a fresh private folder, removed afterwards."""
    if content is None:
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="challenge-grade-"))
    try:
        staged = folder / Path(path).name
        staged.write_bytes(content)
        yield str(staged)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def grade_task(grade_fn: Callable, path: str, kwargs: dict, content: bytes | None = None) -> dict:
    """Grade one submission, in whichever worker runs this: the whole report as a dict (for
    the board), and the text and points a student may read (the public part of the hidden set
    only: :meth:`GradeReport.public_view`). ``content``: the file's bytes, when they travelled
    to a worker that cannot read ``path``."""
    with _staged(path, content) as where:
        report = grade_fn(where, **kwargs)
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    view = report.public_view() if hasattr(report, "public_view") else report
    summary = view.summary() if hasattr(view, "summary") else str(data.get("reason", ""))
    points = float(getattr(view, "points", data.get("points", 0.0)))
    return {"report": data, "summary": summary, "points": points}


def watch_parent(parent: int, every: float = 0.5) -> None:
    """Run in a worker's thread: a killed parent must not leave its workers grading into the
    void, so the worker ends itself when its parent is gone."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


class Engine(ABC):
    """Where grades run. ``free()`` says how many more jobs fit now; ``submit`` starts one;
    ``poll`` returns the jobs that ended since; ``cancel`` stops one (it ends as ``died``);
    ``close`` stops everything. Job ids are the caller's, unique among its running jobs."""

    name = "an engine"

    def __init__(self, work: Work):
        self.work = work
        self._started: dict[int, float] = {}
        self._overdue: set[int] = set()

    @abstractmethod
    def free(self) -> int:
        """How many more jobs may be submitted now."""

    @abstractmethod
    def _start(self, job_id: int, path: Path) -> None:
        """Start grading ``path`` as ``job_id``."""

    @abstractmethod
    def _collect(self) -> list[Outcome]:
        """The jobs that ended since the last call."""

    @abstractmethod
    def cancel(self, job_id: int) -> None:
        """Stop ``job_id``'s grade; it is reported as ``died``."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker; what was running is lost."""

    def submit(self, job_id: int, path: str | Path) -> None:
        """Grade the file at ``path`` as ``job_id``; raises when it cannot start (a missing
        file, an unreachable cluster), and then nothing runs."""
        self._start(job_id, Path(path))
        self._started[job_id] = time.monotonic()

    def running(self) -> list[int]:
        return list(self._started)

    def poll(self) -> list[Outcome]:
        """The jobs that ended; first the watchdog stops each one that ran past its time."""
        now = time.monotonic()
        for job_id, since in list(self._started.items()):
            if now - since > self.work.job_seconds and job_id not in self._overdue:
                self._overdue.add(job_id)
                self.cancel(job_id)   # a hung grade: its worker goes, the rest go on
        out = []
        for outcome in self._collect():
            self._started.pop(outcome.job_id, None)
            if outcome.job_id in self._overdue:
                self._overdue.discard(outcome.job_id)
                if outcome.kind == "died":
                    outcome = replace(outcome, reason=f"still grading after "
                                      f"{self.work.job_seconds:g} s, so its worker was stopped")
            out.append(outcome)
        return out

    def wait(self, timeout: float, every: float = 0.02) -> list[Outcome]:
        """:meth:`poll` until some job ends or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.poll()
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(every)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class Recorded:
    board_id: int       # the row's ``submissions.id``
    new: bool           # False: the row was stored before (a resumed or repeated grade)


def record_result(store: Leaderboard, report: dict, *, student: str, sha256: str,
                  rubric_hash: str | None = None, regrade: bool = False) -> Recorded:
    """Store ``report`` as ``student``'s grade of the file with ``sha256``, or find the row
    stored before: the board keeps one row per (student, file hash, rubric), so recording
    twice (a grade repeated after a crash) changes nothing. ``rubric_hash``: the rubric the
    caller grades with; a report graded under another is refused (else a re-run could never
    skip it). ``regrade``: a new attempt of a file already stored (``challenge regrade``).
    The store's own refusals raise ChallengeError; sqlite3 errors pass through."""
    if rubric_hash is not None and report.get("rubric_hash") != rubric_hash:
        raise ChallengeError(f"the grader used rubric {report.get('rubric_hash')}, not "
                             f"{rubric_hash}")
    sid = store.record(report, student=student, sha256=sha256, regrade=regrade)
    if sid is not None:
        return Recorded(sid, True)
    with closing(sqlite3.connect(store.path, timeout=30)) as con:
        key = (check_student_name(student), sha256, report.get("rubric_hash", ""))
        row = con.execute("SELECT id FROM submissions WHERE student=? AND sha256=? AND "
                          "rubric_hash=?", key).fetchone()
    if row is None:   # the store refused it silently: never expected, never a lost grade
        raise ChallengeError(f"the leaderboard neither stored nor holds {student}'s report")
    return Recorded(row[0], False)
