"""Uploads of a live challenge: the rules an upload must pass (deadline, type, size, rate,
daily limit, free disk) and storing it so that a failure leaves nothing behind."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

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


class HTTPProblem(Exception):
    """A refusal: the HTTP status and the one-line reason shown to the user."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


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


class UploadDesk:
    """Checks and stores uploads for :class:`JobQueue` ``queue``."""

    def __init__(self, queue: JobQueue, config: ServeConfig):
        self.queue, self.config = queue, config
        self._last: dict[str, float] = {}

    def check_open(self, ident: Identity) -> None:
        """What refuses an upload before its bytes are read."""
        if ident.instructor:
            raise HTTPProblem(403, "the instructor's token cannot submit; use a student's")
        deadline = self.config.deadline
        if deadline is not None and datetime.now(timezone.utc) >= deadline:
            raise HTTPProblem(403, f"the deadline ({deadline.isoformat()}) has passed; "
                                   f"uploads are closed")

    def store(self, ident: Identity, upload) -> int:
        """Store ``upload`` (a form's file) and queue it; the job's id."""
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise HTTPProblem(400, "no file in the upload: send the form field 'file'")
        filename = Path(upload.filename.replace("\\", "/")).name[:200]
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise HTTPProblem(400, f"{filename!r} is neither a .zip from `challenge submit` nor a "
                                   f"predictions .csv")
        now = time.monotonic()
        if now - self._last.get(ident.student, -1e9) < self.config.upload_interval_s:
            raise HTTPProblem(429, f"one upload every {self.config.upload_interval_s:g} s; wait a "
                                   f"moment and try again")
        limit = self.config.daily_limit
        if limit is not None and self.queue.used_today(ident.student) >= limit:
            raise HTTPProblem(429, f"daily limit reached: {limit} submissions today (UTC); "
                                   f"submit again tomorrow")
        size = upload.size or 0
        if size == 0:
            raise HTTPProblem(400, f"{filename!r} is empty")
        if shutil.disk_usage(self.config.uploads).free - size < self.config.min_free_bytes:
            raise HTTPProblem(507, "the server's disk is full, so nothing was stored; tell your "
                                   "instructor and try again later")
        stored = f"{ident.student}__{uuid.uuid4().hex[:12]}{suffix}"
        target = self.config.uploads / stored
        sha = save_stream(upload.file, target)
        self._last[ident.student] = now
        try:
            return self.queue.enqueue(ident.student, filename, stored, sha, daily_limit=limit)
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
