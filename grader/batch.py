"""Batch grading: every submission of a class, in parallel worker processes, resumable after a kill.

Each ``*.zip`` / ``*.csv`` of a folder is graded by ``grade_fn`` (default :func:`grade_hidden`:
``grader.grade.grade`` on the hidden sets, which isolates the student's code itself) in a spawned worker process; only this parent
process writes the leaderboard, one transaction per finished submission, so a kill loses at
most the submissions in flight. A submission already stored with the same student, file
hash and rubric hash is skipped, which is what makes a re-run resume.

Student identity comes from the file name, as in :mod:`challenge.submission`: everything before
the first double underscore, so ``alice.zip``, ``alice.csv`` and ``alice__2.zip`` (a second
attempt) are all ``alice``; the manifest's own name is not trusted for the row. Unsafe names
(see :func:`grader.board.names.check_student_name`), and names that look like another student's
(``Alice`` beside ``alice``), are not graded; they are listed in
``BatchResult.rejected`` with the reason. A grader error (our bug, not the student's) stores
nothing and is listed in ``BatchResult.crashed``; a submission that earns zero is a row.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import sqlite3
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from challenge.errors import ChallengeError
from challenge.progress import bar
from grader.board.leaderboard import Leaderboard
from grader.board.names import lookalike_problem, student_id
from challenge.text import printable

SUFFIXES = (".zip", ".csv")


@dataclass(frozen=True)
class Pending:
    path: Path
    student: str
    sha256: str


@dataclass
class BatchResult:
    db: Path
    graded: list[str] = field(default_factory=list)     # file names recorded by this run
    failed: list[str] = field(default_factory=list)     # recorded with status "failed" (a zero)
    skipped: list[str] = field(default_factory=list)    # already stored: same student, hash, rubric
    rejected: list[tuple[str, str]] = field(default_factory=list)   # (file, why): unsafe names
    crashed: list[tuple[str, str]] = field(default_factory=list)    # (file, error): nothing stored
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "db": str(self.db)}

    def summary(self) -> str:
        text = (f"graded {len(self.graded)} ({len(self.failed)} failed), skipped {len(self.skipped)} "
                f"already graded, rejected {len(self.rejected)}, grader errors {len(self.crashed)} "
                f"in {self.seconds:.1f} s -> {self.db}")
        lines = [text] + [f"  rejected {f}: {why}" for f, why in self.rejected]
        return printable("\n".join(lines + [f"  grader error on {f}: {err}"
                                             for f, err in self.crashed]))


def student_from_filename(path: str | Path) -> str:
    """``alice.zip`` -> ``alice``; ``alice__2.csv`` -> ``alice``; unsafe -> ChallengeError."""
    name = Path(path).name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return student_id(name.split("__", 1)[0] if not name.startswith("__") else name)


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


def _store_files(path: Path) -> list[Path]:
    """The leaderboard file and SQLite's files beside it."""
    return [path] + [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal"))
                     if p.exists()]


def _default_rubric_hash(kwargs: dict) -> str:
    """The hash of the rubric ``grade_hidden`` grades with: ``kwargs["rubric"]`` or the default."""
    from challenge.rubric import Rubric, load_rubric
    rubric = kwargs.get("rubric")
    return (rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=kwargs.get("data_dir"))).hash


def _watch_parent(parent: int) -> None:
    while True:   # a killed parent must not leave workers grading into the void
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(parent: int) -> None:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _grade_one(grade_fn: Callable, path: str, kwargs: dict) -> dict:
    report = grade_fn(path, **kwargs)
    return report.to_dict() if hasattr(report, "to_dict") else dict(report)


@contextlib.contextmanager
def _worker_env(workers: int) -> Iterator[None]:
    """Spawned workers inherit this: passive OpenMP waits (spin-waiting made shared-core steps
    up to 40x slower) and the cores split between workers unless the user chose a count."""
    wanted = {"OMP_WAIT_POLICY": "PASSIVE"}
    if "OMP_NUM_THREADS" not in os.environ:
        wanted["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def plan(paths: Iterable[str | Path], done: set, rubric_hash: str,
         result: BatchResult, roster: dict[str, str] | None = None) -> list[Pending]:
    """What to grade: safe names that look like no other student's, not yet stored, each
    (student, hash) once.

    A new name that looks like one on the board is refused. Two new names of one batch that look
    alike (``alice`` and ``a1ice``) are both refused: which came first in file order says
    nothing about who is the real student, so the instructor renames one.
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
    new = {student for _, student in named} - on_board
    todo, seen = [], set()
    for p, student in named:
        problem = lookalike_problem(student, on_board)
        if not problem and student in new:
            problem = lookalike_problem(
                student, new - {student}, "also in this batch, so neither is graded",
                "rename one of the two files (to the same name if they are one student)")
        if problem:
            result.rejected.append((p.name, problem))
            continue
        sha = sha256_file(p)
        if (student, sha, rubric_hash) in done or (student, sha) in seen:
            result.skipped.append(p.name)
            continue
        seen.add((student, sha))
        todo.append(Pending(p, student, sha))
    return todo


def grade_many(paths: str | Path | Iterable[str | Path], *, workers: int = 2,
               db: str | Path | None = None, grade_fn: Callable | None = None,
               rubric_hash: str | None = None, grade_kwargs: dict | None = None,
               retries: int = 1, roster: dict[str, str] | None = None,
               watchdog_seconds: float | None = None) -> BatchResult:
    """Grade a folder (or a list) of submissions in ``workers`` processes into the store ``db``.

    ``grade_fn(path, **grade_kwargs)`` returns a GradeReport (or its dict); it must be picklable
    (a module-level function). ``rubric_hash`` is the hash of the rubric the run grades with
    (default: that of ``grade_kwargs["rubric"]``, else of the default rubric); rows stored under
    it are skipped, and a report graded under another rubric is a grader error. A worker process that
    dies is retried ``retries`` times, alone, before its submission counts as a grader error.
    ``roster`` (student id -> display name): files of students not on it are listed as
    rejected and not graded. ``watchdog_seconds``: a submission still grading after that long
    (default: the rubric's wall-clock limit plus ten minutes) has its worker killed, and counts
    as a grader error after its retry; the batch goes on.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ChallengeError(f"workers must be a whole number >= 1, got {workers!r}")
    if isinstance(paths, (str, Path)):   # a folder (or one file)
        files = collect_submissions(paths) if Path(paths).is_dir() or not Path(paths).suffix \
            else [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    kwargs = dict(grade_kwargs or {})
    rubric_hash = rubric_hash if rubric_hash is not None else _default_rubric_hash(kwargs)
    start = time.perf_counter()
    with Leaderboard(db) as store:
        hidden_sets = grade_fn is None
        if grade_fn is None:
            grade_fn = grade_hidden
        from grader.sandbox import clean_stale
        clean_stale()      # what a killed run left: staging folders, extractions, cgroups
        result = BatchResult(store.path)
        todo = plan(files, store.graded_keys(), rubric_hash, result, roster)
        if todo and hidden_sets:   # without them every file would fail alike: say it once
            from grader.hidden import require_hidden_sets
            require_hidden_sets(kwargs.get("data_dir"))
        with _worker_env(workers), bar(total=len(todo), desc="grading", unit="sub") as progress:
            if watchdog_seconds is None:
                watchdog_seconds = _default_watchdog(kwargs)
            _run(todo, store, result, progress, workers, grade_fn, kwargs, retries, rubric_hash,
                 watchdog_seconds)
    result.seconds = time.perf_counter() - start
    return result


def _default_watchdog(kwargs: dict) -> float:
    """The rubric's wall-clock limit plus ten minutes (an hour where there is no rubric)."""
    from challenge.rubric import Rubric, load_rubric
    rubric = kwargs.get("rubric")
    try:
        rub = rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=kwargs.get("data_dir"))
    except ChallengeError:
        return 3600.0
    return rub.limits.wall_seconds + 600.0


def _run(todo, store, result, progress, workers, grade_fn, kwargs, retries, rubric_hash,
         watchdog_seconds: float = 3600.0) -> None:
    queue, tries, suspects = deque(todo), {}, set()
    context = multiprocessing.get_context("spawn")
    while queue:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                   initargs=(os.getpid(),))
        inflight: dict = {}
        started: dict = {}
        try:
            while queue or inflight:
                # a suspect (in flight when a worker died) runs alone, so its retry blames no one else
                while (queue and len(inflight) < workers and not suspects.intersection(inflight.values())
                       and not (inflight and queue[0] in suspects)):
                    item = queue.popleft()
                    future = pool.submit(_grade_one, grade_fn, str(item.path), kwargs)
                    inflight[future], started[future] = item, time.monotonic()
                finished, _ = wait(inflight, timeout=1.0, return_when=FIRST_COMPLETED)
                if not finished:
                    if any(time.monotonic() - started[f] > watchdog_seconds for f in inflight):
                        for process in list(getattr(pool, "_processes", {}).values()):
                            process.kill()   # a hung grade: its worker goes, the batch goes on
                    continue
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    break
                for future in finished:
                    item = inflight.pop(future)
                    try:
                        report = future.result()
                    except Exception as e:   # the grader's own error: record nothing
                        result.crashed.append((item.path.name, f"{type(e).__name__}: {e}"))
                    else:
                        _record(store, report, item, result, rubric_hash)
                    progress.update(1)
                    progress.set_postfix(failed=len(result.failed), errors=len(result.crashed))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        for future, item in inflight.items():   # the pool broke: every in-flight grade is lost
            if future.cancelled():
                queue.appendleft(item)
                continue
            error = future.exception()
            if error is None:
                _record(store, future.result(), item, result, rubric_hash)   # finished just before the break
            elif not isinstance(error, BrokenProcessPool):
                result.crashed.append((item.path.name, f"{type(error).__name__}: {error}"))
            else:
                tries[item] = tries.get(item, 0) + 1
                if tries[item] <= retries:
                    suspects.add(item)
                    queue.appendleft(item)
                    continue
                result.crashed.append((item.path.name, "the grading worker process died"))
            progress.update(1)


def _record(store: Leaderboard, report: dict, item: Pending, result: BatchResult,
            rubric_hash: str) -> None:
    if report.get("rubric_hash") != rubric_hash:   # else a re-run could never skip it
        result.crashed.append((item.path.name, f"the grader used rubric {report.get('rubric_hash')}, "
                                               f"not {rubric_hash}"))
        return
    try:
        sid = store.record(report, student=item.student, sha256=item.sha256)
    except sqlite3.Error:
        raise                      # the store itself is broken (disk full...): stop the batch
    except Exception as e:         # a report the store refuses is the grader's bug: no row
        result.crashed.append((item.path.name, f"report not stored: {type(e).__name__}: {e}"))
        return
    if sid is None:
        result.skipped.append(item.path.name)   # stored meanwhile (e.g. by another run)
        return
    result.graded.append(item.path.name)
    if report.get("status") != "ok":
        result.failed.append(item.path.name)
