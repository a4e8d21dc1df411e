"""Uploads of a live challenge: the rules an upload must pass (deadline, type, size, rate,
daily limit, storage quota, free disk) and storing it so that a failure leaves nothing behind.

The rules that depend on the student (one upload every few seconds, the daily limit, the
quota) are checked by :meth:`UploadDesk.admit` from the request's head, before any byte of the
body is read, under one lock: an admitted upload holds its place (a slot of the day, its bytes
of the quota) until it is stored or refused, so ten parallel uploads cannot all pass.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from challenge.rubric import LatePolicy
from grader.board.late import deadline_for
from grader.serve.queue import JobQueue, LimitReached
from grader.serve.tokens import Identity

SUFFIXES = (".zip", ".csv")


@dataclass(frozen=True)
class ServeConfig:
    """The rules of one running challenge."""

    uploads: Path                        # where uploads are kept (never served)
    deadline: datetime | None = None     # uploads refused from then on
    daily_limit: int | None = 5          # uploads counted per student per UTC day
    max_upload_bytes: int = 120 << 20
    upload_interval_s: float = 5.0       # at most one upload per student this often
    requests_per_minute: int = 240       # per token (or per address, without one)
    min_free_bytes: int = 64 << 20       # disk space kept free after an upload
    board_cache_s: float = 2.0
    quota_bytes: int | None = 500 << 20  # uploads kept per student, all days together
    session_seconds: float = 12 * 3600   # a browser's login lasts this long
    login_failures_per_minute: int = 30  # failed logins per client address
    forwarded_allow_ips: str | None = None   # proxies trusted for X-Forwarded-For
    workers: int = 1                     # grading slots, for the queue's estimate
    final_submissions: int = 0           # how many a student may mark final (0: best public)
    late: LatePolicy | None = None       # the rubric's [late] policy (grader.board.late)


def closing_time(config: ServeConfig, student: str, extensions: dict[str, str]) -> datetime | None:
    """When ``student``'s uploads close: ``--deadline`` for everybody; under a [late] policy
    also the student's own deadline (the extension's) plus the last day late work is taken,
    whichever comes first. None: never."""
    times = [config.deadline] if config.deadline is not None else []
    if config.late is not None:
        own = deadline_for(config.late, extensions.get(student, ""))
        times.append(own.when + timedelta(days=config.late.last_day))
    return min(times) if times else None


class HTTPProblem(Exception):
    """A refusal: the HTTP status and the one-line reason shown to the user; ``retry_after``
    (seconds) when trying again later will work (sent as ``Retry-After``)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


class RateWindow:
    """A sliding one-minute window of request times per key."""

    def __init__(self, per_minute: int):
        self.per_minute, self._hits, self._lock = per_minute, {}, threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(key, []) if now - t < 60.0]
            ok = len(hits) < self.per_minute
            self._hits[key] = hits + [now] if ok else hits
            return ok


def shown_name(raw: str, limit: int = 200) -> str:
    """A file name as we keep and show it: its last path part, without control or format
    characters (bidi overrides such as U+202E reorder what the instructor reads), cut to
    ``limit`` characters after its suffix was read, so the suffix survives the cut."""
    name = Path(raw.replace("\\", "/")).name
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 10:
        return name[:limit]
    return stem[:max(1, limit - len(suffix) - 1)] + "." + suffix


class UploadDesk:
    """Checks and stores uploads for :class:`JobQueue` ``queue``."""

    def __init__(self, queue: JobQueue, config: ServeConfig):
        self.queue, self.config = queue, config
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._pending: Counter = Counter()      # admitted uploads not stored yet, per student
        self._pending_bytes: Counter = Counter()

    def check_open(self, ident: Identity) -> None:
        """What refuses any upload of ``ident`` (the instructor's, after the deadline)."""
        if ident.instructor:
            raise HTTPProblem(403, "the instructor's token cannot submit; use a student's")
        closes = closing_time(self.config, ident.student, self.queue.extensions())
        if closes is not None and datetime.now(timezone.utc) >= closes:
            raise HTTPProblem(403, f"the deadline ({closes.isoformat()}) has passed; "
                                   f"uploads are closed")

    @contextmanager
    def admit(self, ident: Identity, length: int) -> Iterator[None]:
        """Hold a place for ``ident``'s upload of about ``length`` bytes (the request's
        Content-Length) while its body is read and stored, or refuse it now: deadline,
        interval, daily limit, quota, all before the body is read and under one lock."""
        self.check_open(ident)
        student = ident.student
        with self._lock:
            self._check_rules(student, length)
            self._last[student] = time.monotonic()
            self._pending[student] += 1
            self._pending_bytes[student] += length
        try:
            yield
        finally:
            with self._lock:
                self._pending[student] -= 1
                self._pending_bytes[student] -= length

    def _check_rules(self, student: str, length: int) -> None:
        config = self.config
        limit = config.daily_limit
        if limit is not None and self.queue.used_today(student) + self._pending[student] >= limit:
            raise HTTPProblem(429, f"daily limit reached: {limit} submissions today (UTC); "
                                   f"submit again tomorrow")
        quota = config.quota_bytes
        if quota is not None:
            used = self.queue.stored_bytes(student) + self._pending_bytes[student]
            if used + length > quota:
                raise HTTPProblem(413, f"over your storage quota: {used / 1e6:.1f} MB of "
                                       f"{quota / 1e6:.1f} MB kept, and this upload is "
                                       f"{length / 1e6:.1f} MB; nothing was stored (ask your "
                                       f"instructor to raise --quota-mb)")
        wait = config.upload_interval_s - (time.monotonic() - self._last.get(student, -1e9))
        if wait > 0:
            raise HTTPProblem(429, f"one upload every {config.upload_interval_s:g} s; wait a "
                                   f"moment and try again", retry_after=wait)

    def store(self, ident: Identity, upload) -> int:
        """Store ``upload`` (a form's file, admitted by :meth:`admit`) and queue it; the
        job's id."""
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise HTTPProblem(400, "no file in the upload: send the form field 'file'")
        filename = shown_name(upload.filename)
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise HTTPProblem(400, f"{filename!r} is neither a .zip from `challenge submit` nor a "
                                   f"predictions .csv")
        limit = self.config.daily_limit
        size = upload.size or 0
        if size == 0:
            raise HTTPProblem(400, f"{filename!r} is empty")
        if shutil.disk_usage(self.config.uploads).free - size < self.config.min_free_bytes:
            raise HTTPProblem(507, "the server's disk is full, so nothing was stored; tell your "
                                   "instructor and try again later")
        stored = f"{ident.student}__{uuid.uuid4().hex[:12]}{suffix}"
        target = self.config.uploads / stored
        sha = save_stream(upload.file, target)
        try:
            return self.queue.enqueue(ident.student, filename, stored, sha, daily_limit=limit,
                                      size=size)
        except LimitReached as e:
            target.unlink(missing_ok=True)
            raise HTTPProblem(429, str(e)) from None
        except sqlite3.Error as e:
            target.unlink(missing_ok=True)
            raise HTTPProblem(507, f"the server could not queue the upload ({e}); nothing was "
                                   f"stored; try again later") from None


def save_stream(source, target: Path, chunk: int = 1 << 20) -> str:
    """Copy ``source`` to ``target`` through a temporary file beside it; its sha256.
    On any error (a full disk) nothing is left behind."""
    tmp = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        source.seek(0)
        with open(tmp, "wb") as f:
            while block := source.read(chunk):
                digest.update(block)
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise disk_problem(e) from None
    return digest.hexdigest()


def disk_problem(e: OSError) -> HTTPProblem:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return HTTPProblem(507, "the server's disk is full, so nothing was stored; tell your "
                                "instructor and try again later")
    return HTTPProblem(500, f"the server could not store the upload ({e.strerror or e}); "
                            f"nothing was stored; try again later")
