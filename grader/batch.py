"""Folder grades: every submission of a class, through one grading engine, resumable after a kill.

Each ``*.zip`` / ``*.csv`` of a folder is handed to an engine (:mod:`grader.engines`: local
worker processes, or a Dask cluster with ``--dask``) that grades it with ``grade_fn`` (default
:func:`grade_hidden`: ``grader.grade.grade`` on the hidden sets, which isolates the student's
code itself). Only this process writes the leaderboard, one transaction per finished
submission, so a kill loses at most the submissions in flight. A submission already stored
with the same student, file hash and rubric hash is skipped, which is what makes a re-run
resume.

Student identity comes from the file name, as in :mod:`challenge.submission`: everything before
the first double underscore, so ``alice.zip``, ``alice.csv`` and ``alice__2.zip`` (a second
attempt) are all ``alice``; the manifest's own name is not trusted for the row. Unsafe names
(see :func:`grader.board.names.check_student_name`), and names that look like another student's
(``Alice`` beside ``alice``), are not graded; they are listed in
``BatchResult.rejected`` with the reason. A grader error (our bug, not the student's) stores
nothing and is listed in ``BatchResult.crashed``; a submission that earns zero is a row.

Each graded file is kept beside the store (:func:`grader.board.leaderboard.files_dir`) for
``challenge regrade``. Under a rubric's ``[late]`` policy a submission's time is its file's
modification time (:mod:`grader.board.late`; a manifest's time is written by the student's own
tool, so it is not trusted), moved by the roster's extension. Students whose files hold
byte-identical modules are listed in ``BatchResult.review`` for the instructor
(:mod:`grader.similarity` ranks the near copies); that is evidence, never a zero.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from challenge.errors import ChallengeError
from challenge.progress import bar
from challenge.text import printable
from grader.board.late import apply_late, file_time
from grader.board.leaderboard import Leaderboard, files_dir
from grader.board.names import SUFFIXES, imitators, lookalike_problem, student_from_filename
from grader.engines import open_engine
from grader.engines.base import Engine, Outcome, Work, record_result
from grader.similarity import identical_modules

__all__ = ["SUFFIXES", "grade_many", "grade_folder", "student_from_filename"]


@dataclass(frozen=True)
class Pending:
    path: Path
    student: str
    sha256: str
    submitted: datetime | None = None   # the file's time, for the rubric's [late] policy
    name: str = ""                      # the submission's own name, where the file is a kept copy

    @property
    def label(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class Term:
    """What the term adds to grading one file: the rubric's late policy, each student's
    extension (the roster's), and whether a stored grade is superseded (a regrade)."""

    late: object = None                      # challenge.rubric.LatePolicy | None
    extensions: dict = field(default_factory=dict)   # student -> the roster's extension cell
    regrade: bool = False

    @classmethod
    def of(cls, late, roster, regrade: bool = False) -> "Term":
        rows = list(roster) if roster is not None and hasattr(roster, "rows") else []
        return cls(late, {r.student: r.extension for r in rows if r.extension}, regrade)


@dataclass
class BatchResult:
    db: Path
    graded: list[str] = field(default_factory=list)     # file names recorded by this run
    failed: list[str] = field(default_factory=list)     # recorded with status "failed" (a zero)
    skipped: list[str] = field(default_factory=list)    # already stored: same student, hash, rubric
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (file, why): unsafe names
    crashed: list[tuple[str, str]] = field(default_factory=list)    # (file, error): nothing stored
    review: list[str] = field(default_factory=list)  # for the instructor: identical modules
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "db": str(self.db)}

    def summary(self) -> str:
        text = (f"graded {len(self.graded)} ({len(self.failed)} failed), skipped {len(self.skipped)} "
                f"already graded, rejected {len(self.rejected)}, grader errors {len(self.crashed)} "
                f"in {self.seconds:.1f} s -> {self.db}")
        lines = [text] + [f"  rejected {f}: {why}" for f, why in self.rejected]
        lines += [f"  REVIEW {note}" for note in self.review]
        return printable("\n".join(lines + [f"  grader error on {f}: {err}"
                                             for f, err in self.crashed]))


def collect_submissions(folder: str | Path) -> list[Path]:
    """The ``*.zip`` and ``*.csv`` files directly in ``folder`` (not hidden ones), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ChallengeError(f"submissions folder {folder} does not exist: pass a folder of "
                             "*.zip / *.csv submissions")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in SUFFIXES)
    if not files:
        raise ChallengeError(f"no *.zip or *.csv submissions in {folder}")
    return files


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def grade_hidden(path: str, **kwargs) -> object:
    """The default ``grade_fn``: ``grader.grade.grade`` on the hidden sets (imported lazily:
    the grader pulls in torch, and only the workers need it)."""
    from grader.grade import grade
    return grade(submission=path, hidden=True, **kwargs)


def rubric_of(kwargs: dict):
    """The rubric ``grade_hidden`` grades with: ``kwargs["rubric"]`` or the course's."""
    from challenge.rubric import Rubric, load_rubric
    rubric = kwargs.get("rubric")
    return rubric if isinstance(rubric, Rubric) else load_rubric(rubric,
                                                                 data_dir=kwargs.get("data_dir"))


def rubric_hash_of(kwargs: dict) -> str:
    """The hash of the rubric ``grade_hidden`` grades with: ``kwargs["rubric"]`` or the default."""
    return rubric_of(kwargs).hash


def default_job_seconds(kwargs: dict) -> float:
    """The watchdog's limit for one grade: the rubric's wall-clock limit plus ten minutes (an
    hour where there is no rubric)."""
    from challenge.rubric import Rubric, load_rubric
    rubric = kwargs.get("rubric")
    try:
        rub = rubric if isinstance(rubric, Rubric) else load_rubric(
            rubric, data_dir=kwargs.get("data_dir"))
    except ChallengeError:
        return 3600.0
    return rub.limits.wall_seconds + 600.0


def plan(paths: Iterable[str | Path], done: set, rubric_hash: str,
         result: BatchResult, roster: dict[str, str] | None = None) -> list[Pending]:
    """What to grade: safe names that look like no other student's, not yet stored, each
    (student, hash) once.

    A new name that looks like one on the board is refused. Of new names of one batch that look
    alike, the look-alike of a plain name (``a1ice`` or ``alice.`` beside ``alice``) is held
    back alone and the plain one is graded; look-alikes with no plain name among them are all
    held back (:func:`grader.board.names.imitators`), whatever their file order.
    """
    named = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ChallengeError(f"submission {p} does not exist")
        try:
            student = student_from_filename(p)
        except ChallengeError as e:
            result.rejected.append((p.name, str(e)))
            continue
        if roster is not None and student not in roster:
            result.rejected.append((p.name, f"student {student!r} is not on the roster; rename "
                                            f"the file to a roster id, or add the student"))
            continue
        named.append((p, student))
    on_board = {key[0] for key in done}
    held = imitators({student for _, student in named} - on_board)
    todo, seen = [], set()
    for p, student in named:
        problem = lookalike_problem(student, on_board) or held.get(student, "")
        if problem:
            result.rejected.append((p.name, problem))
            continue
        sha = sha256_file(p)
        if (student, sha, rubric_hash) in done or (student, sha) in seen:
            result.skipped.append(p.name)
            continue
        seen.add((student, sha))
        todo.append(Pending(p, student, sha, file_time(p.stat().st_mtime)))
    return todo



def grade_many(paths: str | Path | Iterable[str | Path], *, workers: int = 2,
               dask: str | None = None, db: str | Path | None = None,
               grade_fn: Callable | None = None, grade_kwargs: dict | None = None,
               rubric_hash: str | None = None, roster=None, late=None) -> BatchResult:
    """Grade a folder (or a list) of submissions into the store ``db``: on ``workers`` local
    processes, or on the Dask cluster whose scheduler is at ``dask``.

    ``grade_fn(path, **grade_kwargs)`` (default :func:`grade_hidden`) returns a GradeReport (or
    its dict); it must be importable by the workers (a module-level function). A grade still
    running after the rubric's wall-clock limit plus ten minutes has its worker stopped. The
    rest (``roster``, ``late``) is :func:`grade_folder`'s.
    """
    kwargs = dict(grade_kwargs or {})
    work = Work(grade_fn or grade_hidden, kwargs, job_seconds=default_job_seconds(kwargs))
    with open_engine(work, workers=workers, dask=dask) as engine:
        if dask is None:
            from grader.sandbox import clean_stale
            clean_stale()   # what a killed run left here: staging folders, extractions, cgroups
        return grade_folder(paths, engine, db=db, rubric_hash=rubric_hash, roster=roster,
                            late=late)


def grade_folder(paths: str | Path | Iterable[str | Path], engine: Engine, *,
                 db: str | Path | None = None, rubric_hash: str | None = None,
                 roster=None, retries: int = 1, late=None) -> BatchResult:
    """Grade a folder (or a list) of submissions on ``engine`` into the store ``db``.

    Only this process writes the store, one transaction per finished submission, so a kill
    loses at most the grades in flight; rows stored under ``rubric_hash`` (default: that of the
    engine's ``rubric`` keyword, else of the default rubric) are skipped, which makes a re-run
    resume. A report graded under another rubric is a grader error. A job whose worker died
    (or was stopped by the watchdog) is tried again ``retries`` times before it counts as a
    grader error; the batch goes on. ``roster`` (:class:`~grader.board.roster.Roster`):
    files of students not on it are listed as rejected and not graded, and its extensions move
    their deadlines under ``late`` (a LatePolicy; default: the rubric's ``[late]`` table, read
    where ``rubric_hash`` is not given).
    """
    if isinstance(paths, (str, Path)):   # a folder (or one file)
        files = collect_submissions(paths) if Path(paths).is_dir() or not Path(paths).suffix \
            else [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    if rubric_hash is None:
        rubric = rubric_of(engine.work.kwargs)
        rubric_hash, late = rubric.hash, late or rubric.late
    start = time.perf_counter()
    with Leaderboard(db) as store:
        result = BatchResult(store.path)
        todo = plan(files, store.graded_keys(), rubric_hash, result, roster)
        result.review += identical_modules([f for f in files
                                            if f.name not in dict(result.rejected)])
        run(store, todo, engine, result, rubric_hash, Term.of(late, roster), retries)
    result.seconds = time.perf_counter() - start
    return result


def run(store: Leaderboard, todo: list[Pending], engine: Engine, result: BatchResult,
        rubric_hash: str, term: Term, retries: int = 1) -> None:
    """Grade ``todo`` on ``engine`` into ``store``, with a progress bar (a folder grade and a
    regrade alike)."""
    if todo and engine.work.grade_fn is grade_hidden:   # else every file fails alike
        from grader.hidden import require_hidden_sets
        require_hidden_sets(engine.work.kwargs.get("data_dir"))
    with bar(total=len(todo), desc="grading", unit="sub") as progress:
        for item, outcome in hand_over(todo, engine, retries):
            settle(store, item, outcome, result, rubric_hash, term)
            progress.update(1)
            progress.set_postfix(failed=len(result.failed), errors=len(result.crashed))


def hand_over(todo: list[Pending], engine: Engine,
              retries: int = 1) -> Iterator[tuple[Pending, Outcome]]:
    """Every submission of ``todo`` through ``engine``, as many at once as it takes; yields
    each with how it ended, in the order they end. A death is tried again ``retries`` times
    (unless the engine gave up on it already); a file that cannot even start ends as an
    ``error``."""
    waiting, tries, running = deque(range(len(todo))), [0] * len(todo), 0
    while waiting or running:
        while waiting and engine.free() > 0:
            i = waiting.popleft()
            try:
                engine.submit(i, todo[i].path)
            except Exception as e:   # e.g. the file vanished since the plan
                yield todo[i], Outcome(i, "error", reason=f"not started: {type(e).__name__}: {e}")
                continue
            running += 1
        for outcome in engine.wait(1.0):
            running -= 1
            i = outcome.job_id
            if outcome.kind == "died" and not outcome.final and tries[i] < retries:
                tries[i] += 1
                waiting.appendleft(i)
                continue
            yield todo[i], outcome


def keep_file(store: Leaderboard, item: Pending) -> None:
    """Keep the graded file beside the store, named by its hash, with its time (for a regrade,
    which takes the same time for the late policy); written whole or not at all."""
    folder = files_dir(store.path)
    target = folder / f"{item.sha256}{item.path.suffix.lower()}"
    if target.is_file() and sha256_file(target) == item.sha256:
        return
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}.{os.getpid()}.part"
    shutil.copy2(item.path, partial)
    os.replace(partial, target)


def settle(store: Leaderboard, item: Pending, outcome: Outcome, result: BatchResult,
           rubric_hash: str, term: Term = Term()) -> None:
    """Record one ended grade in the store and in ``result``: a row (``graded``, and
    ``failed`` too for a zero), ``skipped`` when stored meanwhile, or a grader error that
    stores nothing (``crashed``). The late policy of ``term`` is applied first."""
    name = item.label
    if outcome.kind != "ok":
        result.crashed.append((name, outcome.reason))
        return
    report = outcome.result["report"]
    if item.name:   # a kept copy, named by its hash: record it under the name it came with
        report = {**report, "submission": item.name}
    try:
        if term.late is not None and item.submitted is not None:
            report = apply_late(report, term.late, item.submitted,
                                term.extensions.get(item.student, ""))
        keep_file(store, item)
        recorded = record_result(store, report, student=item.student, sha256=item.sha256,
                                 rubric_hash=rubric_hash, regrade=term.regrade)
    except sqlite3.Error:
        raise                      # the store itself is broken (disk full...): stop the batch
    except (ChallengeError, OSError) as e:   # another rubric, a refused name, no room: ours
        result.crashed.append((name, str(e)))
        return
    except Exception as e:         # a report the store cannot take is the grader's bug
        result.crashed.append((name, f"report not stored: {type(e).__name__}: {e}"))
        return
    if not recorded.new:
        result.skipped.append(name)   # stored meanwhile (e.g. by another run)
        return
    result.graded.append(name)
    if report.get("status") != "ok":
        result.failed.append(name)
