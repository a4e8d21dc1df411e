"""``challenge regrade``: grade stored submissions again under the current grader and rubric,
keeping history.

Every file the board holds a grade of was kept beside it by the folder grade
(:func:`grader.board.leaderboard.files_dir`, named by its sha256); ``--from DIR`` also looks in
another folder (the submissions folder, the live server's uploads) for files stored before
files were kept. Each regraded file adds a row, its next ``attempt``: the board ranks the
newest attempt, and ``challenge leaderboard --student NAME`` shows the older ones. A file that
cannot be found is listed, never a zero; the rest are regraded.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from challenge.errors import ChallengeError
from grader.batch import BatchResult, Pending, Term, default_job_seconds, grade_hidden, run
from grader.batch import rubric_of, sha256_file
from grader.board.late import file_time
from grader.board.leaderboard import Entry, Leaderboard, files_dir
from grader.board.names import SUFFIXES
from grader.engines import open_engine
from grader.engines.base import Work


def stored_files(entries: list[Entry], db: Path, extra: str | Path | None = None) -> dict[str, Path]:
    """sha256 -> the file with that content: kept beside the board (and unaltered since),
    else found in ``extra``."""
    folder = files_dir(db)
    found = {}
    for sha in {e.sha256 for e in entries}:
        for suffix in SUFFIXES:
            candidate = folder / f"{sha}{suffix}"
            if candidate.is_file() and sha256_file(candidate) == sha:   # not altered since
                found[sha] = candidate
    wanted = {e.sha256 for e in entries} - set(found)
    if wanted and extra is not None:
        extra = Path(extra)
        if not extra.is_dir():
            raise ChallengeError(f"--from {extra} is not a folder; pass the folder that holds "
                                 "the submission files")
        for p in sorted(extra.iterdir()):
            if p.is_file() and p.suffix.lower() in SUFFIXES and (sha := sha256_file(p)) in wanted:
                found[sha] = p
                wanted.discard(sha)
    return found


def regrade_plan(db: str | Path | None, students: list[str], every: bool,
                 extra: str | Path | None = None) -> tuple[list[Pending], list[tuple[str, str]], Path]:
    """The files to grade again: each distinct file of ``students`` (or of every student with
    ``every``), and ``(file, why)`` for those that cannot be found."""
    if every == bool(students):
        raise ChallengeError("name the students to regrade (challenge regrade alice bob), or "
                             "pass --all, not both")
    with Leaderboard(db, readonly=True) as store:
        path = store.path
        known = store.students()
        unknown = [s for s in students if s not in known]
        if unknown:
            raise ChallengeError(f"no graded submissions of {', '.join(map(repr, unknown))} on "
                                 f"{path}; known: {', '.join(known[:20]) or 'none yet'}")
        rows = [e for e in store.entries() if e.kind == "student"
                and (every or e.student in students)]
    files = stored_files(rows, path, extra)
    todo, missing, seen = [], [], set()
    for e in rows:
        if (e.student, e.sha256) in seen:
            continue
        seen.add((e.student, e.sha256))
        if e.sha256 not in files:
            missing.append((e.submission, f"file not kept (sha256 {e.sha256[:12]}); pass --from "
                                          "the folder that holds it"))
            continue
        p = files[e.sha256]
        todo.append(Pending(p, e.student, e.sha256, file_time(p.stat().st_mtime),
                            e.submission))
    return todo, missing, path


def regrade(students: list[str] | tuple = (), *, every: bool = False,
            db: str | Path | None = None, source: str | Path | None = None,
            grade_fn: Callable | None = None, grade_kwargs: dict | None = None,
            rubric_hash: str | None = None, roster=None, **engine) -> BatchResult:
    """Grade ``students``' stored files again (``every``: all students), each as a new attempt,
    on the engine ``engine`` names (``workers=2`` local processes, or ``dask=ADDRESS``);
    ``source``: a folder to look in for files not kept beside the board. ``grade_fn``,
    ``grade_kwargs``, ``rubric_hash`` and ``roster`` are :func:`grader.batch.grade_many`'s; the
    late policy is the rubric's (none where ``rubric_hash`` is given)."""
    todo, missing, path = regrade_plan(db, list(students), every, source)
    kwargs = dict(grade_kwargs or {})
    late = None
    if rubric_hash is None:
        rubric = rubric_of(kwargs)
        rubric_hash, late = rubric.hash, rubric.late
    work = Work(grade_fn or grade_hidden, kwargs, job_seconds=default_job_seconds(kwargs))
    start = time.perf_counter()
    result = BatchResult(path, crashed=list(missing))
    with open_engine(work, workers=engine.get("workers", 2), dask=engine.get("dask")) as runner, \
            Leaderboard(path) as store:
        if engine.get("dask") is None:
            from grader.sandbox import clean_stale
            clean_stale()   # what a killed run left here: staging folders, extractions, cgroups
        run(store, todo, runner, result, rubric_hash, Term.of(late, roster, regrade=True))
    result.seconds = time.perf_counter() - start
    return result
