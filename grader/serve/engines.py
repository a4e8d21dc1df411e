"""Where a grade runs: local worker processes (the default) or a Dask distributed cluster.

Both engines take a ``grade_fn(path, **kwargs)`` (default :func:`grader.batch.grade_hidden`,
which grades on the hidden sets and isolates the student's code itself) and report each job's
end as an :class:`Outcome`: ``ok`` (the report and its student-facing text), ``error`` (the
grader raised: ours, not the student's) or ``died`` (the worker was lost; ``final`` when the
engine itself gave up on the job after repeated losses). A local worker is one spawned process
per slot, so a death blames exactly the job it held.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from challenge.errors import ChallengeError

CONNECT_SECONDS = 15.0   # how long to try reaching a Dask scheduler


@dataclass(frozen=True)
class Outcome:
    job_id: int
    kind: str                 # "ok" | "error" | "died"
    result: dict | None = None   # for "ok": {"report": {...}, "summary": "..."}
    reason: str = ""
    final: bool = False


def grade_task(grade_fn: Callable, path: str, kwargs: dict) -> dict:
    """Grade one file: the whole report as a dict (for the board), and the text and points a
    student may read (the public part of the hidden set only: :meth:`GradeReport.public_view`)."""
    report = grade_fn(path, **kwargs)
    data = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    view = report.public_view() if hasattr(report, "public_view") else report
    summary = view.summary() if hasattr(view, "summary") else str(data.get("reason", ""))
    points = float(getattr(view, "points", data.get("points", 0.0)))
    return {"report": data, "summary": summary, "points": points}


def grade_bytes_task(grade_fn: Callable, filename: str, content: bytes, kwargs: dict) -> dict:
    """:func:`grade_task` on a worker that may not share our disk: the file travels as bytes
    and is written to a fresh private folder there (the sandbox shows the student's code
    nothing of it but the staged modules and checkpoints)."""
    folder = Path(tempfile.mkdtemp(prefix="challenge-grade-"))
    try:
        path = folder / Path(filename).name
        path.write_bytes(content)
        return grade_task(grade_fn, str(path), kwargs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _watch_parent(parent: int) -> None:
    while True:   # a killed server must not leave workers grading into the void
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _local_worker(conn, grade_fn: Callable, kwargs: dict, parent: int) -> None:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        job_id, path = message
        try:
            conn.send(("ok", grade_task(grade_fn, path, kwargs)))
        except Exception as e:   # the grader's own failure: the parent retries it
            conn.send(("error", f"{type(e).__name__}: {e}"[:2000]))


class _Slot:
    def __init__(self, context, grade_fn, kwargs):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_local_worker, daemon=True,
                                       args=(child, grade_fn, kwargs, os.getpid()))
        self.process.start()
        child.close()
        self.job_id: int | None = None

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=5 if not kill else None)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalEngine:
    """``workers`` spawned processes, each grading one job at a time."""

    def __init__(self, workers: int, grade_fn: Callable, kwargs: dict | None = None):
        if not isinstance(workers, int) or workers < 1:
            raise ChallengeError(f"--workers must be a whole number >= 1, got {workers!r}")
        self._context = multiprocessing.get_context("spawn")
        self._make = lambda: _Slot(self._context, grade_fn, dict(kwargs or {}))
        self._slots: list[_Slot | None] = [None] * workers
        self.name = f"{workers} local worker process(es)"

    def free(self) -> int:
        return sum(s is None or s.job_id is None for s in self._slots)

    def submit(self, job_id: int, path: Path, filename: str) -> None:
        i = next(i for i, s in enumerate(self._slots) if s is None or s.job_id is None)
        if self._slots[i] is None:
            self._slots[i] = self._make()
        slot = self._slots[i]
        slot.job_id = job_id
        slot.conn.send((job_id, str(path)))

    def worker_pids(self) -> dict[int, int]:
        """``{job id: pid}`` of the busy workers (what a fault test kills)."""
        return {s.job_id: s.process.pid for s in self._slots if s and s.job_id is not None}

    def poll(self) -> list[Outcome]:
        out = []
        for i, slot in enumerate(self._slots):
            if slot is None or slot.job_id is None:
                continue
            job_id = slot.job_id
            try:
                message = slot.conn.recv() if slot.conn.poll() else None
            except (EOFError, OSError):
                message = ("died", "")
            if message is None and not slot.process.is_alive():
                message = ("died", "")
            if message is None:
                continue
            kind, payload = message
            if kind == "died":
                code = slot.process.exitcode
                slot.stop(kill=True)
                self._slots[i] = None
                out.append(Outcome(job_id, "died", reason=f"worker process exit code {code}"))
                continue
            slot.job_id = None
            out.append(Outcome(job_id, "ok", result=payload) if kind == "ok"
                       else Outcome(job_id, "error", reason=payload))
        return out

    def cancel(self, job_id: int) -> None:
        """Kill the worker grading ``job_id`` (it ran past its time); poll reports it died."""
        for slot in self._slots:
            if slot is not None and slot.job_id == job_id:
                slot.process.kill()

    def close(self) -> None:
        for slot in self._slots:
            if slot is not None:
                slot.stop(kill=slot.job_id is not None)
        self._slots = [None] * len(self._slots)


class DaskEngine:
    """Each job is one task on a Dask distributed cluster (``address`` of its scheduler).

    A worker lost mid-task is Dask's to handle: the scheduler runs the task elsewhere, and after
    ``distributed.scheduler.allowed-failures`` losses gives up with ``KilledWorker``, which ends
    the job (``final``). ``slots`` bounds the jobs in flight (default: the cluster's threads).
    """

    def __init__(self, address: str, grade_fn: Callable, kwargs: dict | None = None,
                 slots: int | None = None):
        self.client = connect(address)
        self._grade_fn, self._kwargs = grade_fn, dict(kwargs or {})
        threads = sum(self.client.nthreads().values()) or 1
        self._slots = slots or threads
        self._futures: dict = {}
        self.name = f"Dask cluster at {address}"

    def free(self) -> int:
        return max(0, self._slots - len(self._futures))

    def submit(self, job_id: int, path: Path, filename: str) -> None:
        content = Path(path).read_bytes()
        self._futures[job_id] = self.client.submit(
            grade_bytes_task, self._grade_fn, filename, content, self._kwargs, pure=False,
            key=f"challenge-grade-{job_id}-{time.monotonic_ns()}")

    def poll(self) -> list[Outcome]:
        from distributed import KilledWorker

        out = []
        for job_id, future in list(self._futures.items()):
            status = future.status
            if status == "pending":
                continue
            del self._futures[job_id]
            if status == "finished":
                out.append(Outcome(job_id, "ok", result=future.result()))
                continue
            error = future.exception() if status == "error" else None
            if isinstance(error, KilledWorker):
                out.append(Outcome(job_id, "died", reason="Dask lost the workers grading it",
                                   final=True))
            elif error is not None:
                out.append(Outcome(job_id, "error", reason=f"{type(error).__name__}: {error}"[:2000]))
            else:
                out.append(Outcome(job_id, "died", reason=f"Dask task {status}"))
        return out

    def cancel(self, job_id: int) -> None:
        future = self._futures.pop(job_id, None)
        if future is not None:
            future.cancel()
            self._futures[job_id] = future   # poll reports it as cancelled: a lost try

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self.client.close()


def connect(address: str, timeout: float | None = None):
    """A Dask client of the scheduler at ``address``; one clear error when it is unreachable."""
    try:
        from distributed import Client
    except ImportError:
        raise ChallengeError("--dask needs the Dask distributed package: pip install -e "
                             "\".[serve]\"") from None
    try:
        return Client(address, timeout=timeout or CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ChallengeError(f"cannot reach the Dask scheduler at {address!r} ({e}); start one "
                             f"with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                             f"check the address") from None
