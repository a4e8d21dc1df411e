"""``challenge serve``: the queue, the tokens, the grading engine and the web app in one process.

The leaderboard file holds everything (rows, jobs, token hashes, settings); its uploads, the new
tokens CSV and the instructor's token sit in ``<its folder>/serve/``, private to the instructor.
One server per file: a lock beside it refuses a second. On start every job a killed server left
running goes back to the queue.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from challenge.errors import ChallengeError
from challenge.rubric import load_rubric
from grader.board.leaderboard import default_db_path
from grader.board.roster import read_roster
from grader.serve.queue import JobQueue
from grader.serve.tokens import Tokens
from grader.serve.uploads import ServeConfig


@dataclass
class Prepared:
    queue: JobQueue
    tokens: Tokens
    folder: Path
    released: int                  # running jobs put back in the queue
    tokens_csv: Path | None        # new student tokens, to mail out
    instructor_file: Path | None   # the instructor's token, when new


def parse_deadline(text: str | None) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ChallengeError(f"--deadline {text!r} is not an ISO 8601 time; e.g. "
                             f"2026-12-18T23:59+01:00 (no zone: UTC)") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


@contextmanager
def server_lock(db: Path) -> Iterator[None]:
    path = db.with_name(db.name + ".serve-lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ChallengeError(f"another `challenge serve` is already running on {db}; stop "
                                 f"it first, or pass another --db") from None
        yield
    finally:
        os.close(fd)


def prepare(db: str | Path | None = None, roster: str | Path | None = None) -> Prepared:
    """Open the store and its queue, put back what a killed server left running, and issue the
    tokens the roster's new students (and the instructor) need."""
    db = Path(db) if db is not None else default_db_path()
    rows = read_roster(roster) if roster is not None else None
    names = rows.students if rows is not None else None
    queue = JobQueue(db)
    if rows is not None:   # kept in the store: a restart without --roster keeps them
        queue.set_extensions({r.student: r.extension for r in rows if r.extension})
    folder = queue.path.parent / "serve"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    released = queue.release_running()
    tokens = Tokens(queue)
    csv_path, instructor = tokens.issue(names or [], folder)
    if not tokens.students():
        raise ChallengeError("no student has a token yet: pass --roster roster.csv (a CSV whose "
                             "header row starts with `student`)")
    return Prepared(queue, tokens, folder, released, csv_path, instructor)


def uploads_folder(db: str | Path) -> Path:
    """The folder where the server on leaderboard file ``db`` keeps its uploads (each named
    ``STUDENT__ID.zip|csv``, the uploader's id first)."""
    db = Path(db)
    folder = db.parent / "serve" / "uploads"
    if not db.is_file() or not folder.is_dir():
        raise ChallengeError(f"no uploads of a live server beside {db}: pass the --db that "
                             f"`challenge serve` uses")
    return folder


def default_grade_kwargs(db: Path, uploads: Path, rubric=None, data_dir=None) -> dict:
    """What :func:`grader.batch.grade_hidden` needs. The store and the uploads need no hiding:
    the sandbox shows the student's code an allow list that names neither."""
    return {"rubric": rubric, "data_dir": data_dir}


@dataclass(frozen=True)
class ServeOptions:
    """How to run the live challenge (each field is the `challenge serve` option of that name)."""

    host: str = "127.0.0.1"
    port: int = 8000
    db: str | Path | None = None
    roster: str | Path | None = None
    deadline: str | None = None
    daily_limit: int | None = 5
    workers: int = 2
    dask: str | None = None
    rubric: str | None = None
    data_dir: str | None = None
    max_upload_mb: float = 120.0
    job_seconds: float = 3600.0
    quota_mb: float | None = 500.0
    forwarded_allow_ips: str | None = None
    final_submissions: int | None = None   # None: the rubric's [live] final_submissions


def serve_config(o: ServeOptions, uploads: Path, workers: int) -> ServeConfig:
    """The app's rules from the options (``workers``: grading slots, for the estimates)."""
    if o.final_submissions is not None and o.final_submissions < 0:
        raise ChallengeError(f"--final-submissions must be 0 (the best on the public part "
                             f"counts) or more, got {o.final_submissions}")
    if o.quota_mb is not None and o.quota_mb < o.max_upload_mb:
        raise ChallengeError(f"--quota-mb {o.quota_mb:g} is below --max-upload-mb "
                             f"{o.max_upload_mb:g}: no upload of the largest size could ever "
                             f"be stored; raise --quota-mb")
    rubric = load_rubric(o.rubric, data_dir=o.data_dir)
    late = rubric.late
    finals = (rubric.live.final_submissions if o.final_submissions is None
              else o.final_submissions)   # the option, where given, overrides the rubric
    return ServeConfig(uploads=uploads, deadline=parse_deadline(o.deadline), late=late,
                       daily_limit=o.daily_limit, max_upload_bytes=int(o.max_upload_mb * (1 << 20)),
                       quota_bytes=None if o.quota_mb is None else int(o.quota_mb * (1 << 20)),
                       forwarded_allow_ips=o.forwarded_allow_ips, workers=max(1, workers),
                       final_submissions=finals)


def rotate_tokens(students, db: str | Path | None = None) -> list[tuple[str, Path]]:
    """New tokens for ``students`` (:meth:`Tokens.rotate`); ``(student, new CSV)`` each."""
    db = Path(db) if db is not None else default_db_path()
    if not db.is_file():
        raise ChallengeError(f"no leaderboard file at {db}: pass the --db that `challenge "
                             f"serve` uses")
    queue = JobQueue(db)
    folder = queue.path.parent / "serve"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokens = Tokens(queue)
    return [(s, tokens.rotate(s, folder)) for s in students]


def serve(options: ServeOptions | None = None, *, grade_fn: Callable | None = None,
          grade_kwargs: dict | None = None, echo: Callable[[str], None] = print,
          **fields) -> None:
    """Run the live challenge until interrupted (Ctrl-C), with ``options`` (or the fields of
    :class:`ServeOptions` given by name). ``grade_fn`` defaults to grading on the hidden sets
    (:func:`grader.batch.grade_hidden`)."""
    import uvicorn

    from grader.engines import open_engine
    from grader.engines.base import Work
    from grader.serve.app import create_app
    from grader.serve.dispatch import Dispatcher

    o = options or ServeOptions(**fields)
    host, port, db, roster, data_dir = o.host, o.port, o.db, o.roster, o.data_dir
    daily_limit, workers, dask = o.daily_limit, o.workers, o.dask
    if daily_limit is not None and daily_limit < 1:
        raise ChallengeError(f"--daily-limit must be at least 1, got {daily_limit}")
    if dask and workers != 2:
        raise ChallengeError("pass either --workers (local processes) or --dask, not both")
    serve_config(o, Path("."), 1)    # bad options are named before anything is written
    if roster is not None:
        read_roster(roster)         # a bad roster is named before anything is written
    if grade_fn is None:
        from grader.hidden import require_hidden_sets

        require_hidden_sets(data_dir)   # else every upload would fail alike: say it first
    db = Path(db) if db is not None else default_db_path()
    db.parent.mkdir(parents=True, exist_ok=True)
    with server_lock(db):
        ready = prepare(db, roster)
        uploads = ready.folder / "uploads"
        if grade_fn is None:
            from grader.batch import grade_hidden

            grade_fn = grade_hidden
            kwargs = default_grade_kwargs(ready.queue.path, uploads, o.rubric, data_dir)
        else:
            kwargs = dict(grade_kwargs or {})
        engine = open_engine(Work(grade_fn, kwargs, o.job_seconds), workers=workers, dask=dask)
        config = serve_config(o, uploads, engine.free())
        dispatcher = Dispatcher(ready.queue, engine, uploads, late=config.late)
        app = create_app(ready.queue, ready.tokens, config, status=dispatcher.status)
        _announce(ready, host, port, engine.name, echo)
        dispatcher.start()
        try:   # the proxy's headers are trusted only through --forwarded-allow-ips (the app)
            uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                          access_log=False, proxy_headers=False)).run()
        except KeyboardInterrupt:   # some uvicorn versions re-raise Ctrl-C after shutting down
            pass
        finally:
            dispatcher.stop()
            engine.close()
            echo("challenge serve: stopped; a restart picks up every queued submission")


def _announce(ready: Prepared, host: str, port: int, engine: str, echo) -> None:
    echo(f"challenge serve: http://{host}:{port}/ grading on {engine}; store {ready.queue.path}")
    if ready.released:
        echo(f"  {ready.released} submission(s) left running by the last server are queued again")
    if ready.tokens_csv:
        echo(f"  new student tokens: {ready.tokens_csv} (mail each student their line; keep the "
             f"file private)")
    if ready.instructor_file:
        echo(f"  your instructor token: {ready.instructor_file}")
