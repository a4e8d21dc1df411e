"""The dispatcher: leases queued jobs, hands them to an engine, renews the leases while they
run, and records each report into the leaderboard before marking its job done.

Recording is idempotent: the leaderboard keeps one row per (student, file hash, rubric), so a
job graded again after a crash between the row and the job's update finds its row and points
to it; nothing is on the board twice. A job that runs past ``job_seconds`` has its worker
killed, which counts as a lost worker.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

from grader.board.leaderboard import Leaderboard
from grader.serve.engines import Outcome
from grader.serve.queue import Job, JobQueue


def record(db: Path, report: dict, job: Job) -> int:
    """The leaderboard row of ``job``'s report: stored now, or found when stored before."""
    with Leaderboard(db) as store:
        sid = store.record(report, student=job.student, sha256=job.sha256)
    if sid is None:
        with closing(sqlite3.connect(db, timeout=30)) as con:
            sid = con.execute(
                "SELECT id FROM submissions WHERE student=? AND sha256=? AND rubric_hash=?",
                (job.student, job.sha256, report.get("rubric_hash", ""))).fetchone()[0]
    return sid


class Dispatcher(threading.Thread):
    """Runs until :meth:`stop`; ``uploads`` is the folder of stored uploads."""

    def __init__(self, queue: JobQueue, engine, uploads: Path, *, lease_s: float = 30.0,
                 job_seconds: float = 3600.0, poll_s: float = 0.1):
        super().__init__(name="challenge-dispatcher", daemon=True)
        self.queue, self.engine, self.uploads = queue, engine, Path(uploads)
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"
        self.lease_s, self.job_seconds, self.poll_s = lease_s, job_seconds, poll_s
        self.inflight: dict[int, tuple[Job, float]] = {}
        self.errors: list[str] = []          # grader errors seen, for the instructor's page
        self._halt = threading.Event()
        self._beat = 0.0

    def stop(self, timeout: float = 10.0) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                busy = self.step()
            except Exception as e:   # the store is busy or broken, a lost cluster: never stop
                self.errors.append(f"dispatcher: {type(e).__name__}: {e}")
                busy = False
            if not busy:
                self._halt.wait(self.poll_s)

    def step(self) -> bool:
        """One round: renew leases, start what fits, handle what ended; True when it did work."""
        now = time.monotonic()
        if now - self._beat > self.lease_s / 3:
            held = self.queue.heartbeat(list(self.inflight), self.owner, self.lease_s)
            for lost in set(self.inflight) - held:   # another dispatcher took it over
                self.engine.cancel(lost)
            self._beat = now
        worked = False
        while self.engine.free() > 0:
            job = self.queue.claim(self.owner, self.lease_s)
            if job is None:
                break
            if job.id in self.inflight:   # its lease ran out while we were slow: ours again
                continue
            try:
                self.engine.submit(job.id, self.uploads / job.stored, job.stored)
            except Exception as e:   # e.g. the upload is gone, the cluster unreachable: ours
                self.errors.append(f"job {job.id}: not started: {type(e).__name__}: {e}")
                self.queue.retry(job.id, self.owner, reason=f"not started: {e}", death=False)
                continue
            self.inflight[job.id] = (job, now)
            worked = True
        for job_id, (job, started) in list(self.inflight.items()):
            if now - started > self.job_seconds:
                self.engine.cancel(job_id)
        for outcome in self.engine.poll():
            self._handle(outcome)
            worked = True
        return worked

    def _handle(self, outcome: Outcome) -> None:
        entry = self.inflight.pop(outcome.job_id, None)
        if entry is None:
            return
        job, _ = entry
        if outcome.kind == "died":   # final: the engine retried it already
            self.queue.retry(job.id, self.owner, reason=outcome.reason, death=True,
                             final=outcome.final)
            return
        if outcome.kind == "error":
            self.errors.append(f"job {job.id}: {outcome.reason}")
            self.queue.retry(job.id, self.owner, reason=outcome.reason, death=False)
            return
        report, summary = outcome.result["report"], outcome.result["summary"]
        try:
            board_id = record(self.queue.path, report, job)
        except Exception as e:   # a report the store refuses, a full disk: ours, retried
            self.errors.append(f"job {job.id}: not recorded: {type(e).__name__}: {e}")
            self.queue.retry(job.id, self.owner, reason=f"report not recorded: {e}", death=False)
            return
        ok = report.get("status") == "ok"
        self.queue.finish(job.id, self.owner, ok=ok, reason="" if ok else str(report.get("reason", "")),
                          points=float(outcome.result.get("points", report.get("points", 0.0))),
                          max_points=float(report.get("max_points", 0.0)), summary=summary,
                          board_id=board_id)
