"""The Dask engine: each job is one task on a Dask distributed cluster.

The file travels as bytes to whichever worker is free, which grades it with
:func:`grader.engines.base.grade_task` in a fresh private folder. A worker lost mid-task is
Dask's to handle: the scheduler runs the task elsewhere, and after
``distributed.scheduler.allowed-failures`` losses gives up with ``KilledWorker``, which ends
the job (``final``). No cluster code of our own: Dask is the engine.
"""

from __future__ import annotations

import time
from pathlib import Path

from challenge.errors import ChallengeError
from grader.engines.base import Engine, Outcome, Work, grade_task

CONNECT_SECONDS = 15.0   # how long to try reaching a Dask scheduler


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


class DaskEngine(Engine):
    """Jobs on the cluster whose scheduler is at ``address``; ``slots`` bounds the jobs in
    flight (default: the cluster's threads), so a large class does not sit in memory."""

    def __init__(self, work: Work, address: str, slots: int | None = None):
        super().__init__(work)
        self.client = connect(address)
        threads = sum(self.client.nthreads().values()) or 1
        self._slots = slots or threads
        self._futures: dict = {}
        self.name = f"Dask cluster at {address}"

    def free(self) -> int:
        return max(0, self._slots - len(self._futures))

    def _start(self, job_id: int, path: Path) -> None:
        content = path.read_bytes()
        self._futures[job_id] = self.client.submit(
            grade_task, self.work.grade_fn, path.name, self.work.kwargs, content, pure=False,
            key=f"challenge-grade-{job_id}-{time.monotonic_ns()}")

    def _collect(self) -> list[Outcome]:
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
                out.append(Outcome(job_id, "error",
                                   reason=f"{type(error).__name__}: {error}"[:2000]))
            else:
                out.append(Outcome(job_id, "died", reason=f"Dask task {status}"))
        return out

    def cancel(self, job_id: int) -> None:
        future = self._futures.get(job_id)
        if future is not None:
            future.cancel()   # its status turns "cancelled": poll reports a lost try

    def close(self) -> None:
        for future in self._futures.values():
            future.cancel()
        self._futures.clear()
        self._started.clear()
        self.client.close()
