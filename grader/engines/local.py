"""The local engine: one spawned worker process per slot, each grading one job at a time.

A slot's process lives across jobs; a death (a crash, a kill by the watchdog or by hand)
blames exactly the job it held, and the slot starts a fresh process for its next job.
Workers wait passively in OpenMP (spin-waiting made shared-core steps up to 40x slower) and
split the cores between them unless the user chose ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from pathlib import Path

from challenge.errors import ChallengeError
from grader.engines.base import Engine, Outcome, Work, grade_task, watch_parent


def _worker(conn, work_bytes: bytes, threads: str, parent: int) -> None:
    """A slot's process: settle the environment before anything imports torch, then grade
    each path the parent sends until it sends None or goes away."""
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ.setdefault("OMP_NUM_THREADS", threads)
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()
    work: Work = pickle.loads(work_bytes)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        try:
            conn.send(("ok", grade_task(work.grade_fn, message, work.kwargs)))
        except Exception as e:   # the grader's own failure: the caller decides on a retry
            conn.send(("error", f"{type(e).__name__}: {e}"[:2000]))


class Slot:
    """One worker process and the job it holds (``job_id`` None: idle)."""

    def __init__(self, context, work_bytes: bytes, threads: str):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker, daemon=True,
                                       args=(child, work_bytes, threads, os.getpid()))
        self.process.start()
        child.close()
        self.job_id: int | None = None

    def message(self) -> tuple[str, object] | None:
        """What the worker said about its job, ``("died", "")`` when it is gone, else None."""
        try:
            if self.conn.poll():
                return self.conn.recv()
        except (EOFError, OSError):
            return ("died", "")
        return None if self.process.is_alive() else ("died", "")

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=None if kill else 5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalEngine(Engine):
    """``workers`` spawned processes on this machine."""

    def __init__(self, work: Work, workers: int = 2):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ChallengeError(f"workers must be a whole number >= 1 (--workers N), got "
                                 f"{workers!r}")
        super().__init__(work)
        self._context = multiprocessing.get_context("spawn")
        self._work_bytes = pickle.dumps(work)
        self._threads = str(max(1, (os.cpu_count() or 1) // workers))
        self._slots: list[Slot | None] = [None] * workers
        self.name = f"{workers} local worker process(es)"

    def free(self) -> int:
        return sum(s is None or s.job_id is None for s in self._slots)

    def _start(self, job_id: int, path: Path) -> None:
        i = next(i for i, s in enumerate(self._slots) if s is None or s.job_id is None)
        if self._slots[i] is None:
            self._slots[i] = Slot(self._context, self._work_bytes, self._threads)
        self._slots[i].conn.send(str(path))
        self._slots[i].job_id = job_id

    def worker_pids(self) -> dict[int, int]:
        """``{job id: pid}`` of the busy workers (what a fault test kills)."""
        return {s.job_id: s.process.pid for s in self._slots if s and s.job_id is not None}

    def _collect(self) -> list[Outcome]:
        out = []
        for i, slot in enumerate(self._slots):
            if slot is None or slot.job_id is None:
                continue
            message = slot.message()
            if message is None:
                continue
            kind, payload = message
            job_id, slot.job_id = slot.job_id, None
            if kind == "died":
                code = slot.process.exitcode
                slot.stop(kill=True)
                self._slots[i] = None
                out.append(Outcome(job_id, "died", reason=f"the grading worker process died "
                                                          f"(exit code {code})"))
            elif kind == "ok":
                out.append(Outcome(job_id, "ok", result=payload))
            else:
                out.append(Outcome(job_id, "error", reason=payload))
        return out

    def cancel(self, job_id: int) -> None:
        for slot in self._slots:
            if slot is not None and slot.job_id == job_id:
                slot.process.kill()   # poll then reports it as died

    def close(self) -> None:
        for slot in self._slots:
            if slot is not None:
                slot.stop(kill=slot.job_id is not None)
        self._slots = [None] * len(self._slots)
        self._started.clear()
