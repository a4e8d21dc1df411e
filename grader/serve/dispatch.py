"""The dispatcher: leases queued jobs, hands them to a grading engine (:mod:`grader.engines`),
renews the leases while they run, and records each report into the leaderboard before marking
its job done.

Recording (:func:`grader.engines.base.record_result`) is idempotent: the leaderboard keeps one
row per (student, file hash, rubric), so a job graded again after a crash between the row and
the job's update finds its row and points to it; nothing is on the board twice. A job that
runs past the engine's time has its worker stopped by the engine's watchdog, which counts as a
lost worker.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from challenge.rubric import LatePolicy
from grader.board.late import apply_late, shown_note
from grader.board.leaderboard import Leaderboard
from grader.engines.base import Engine, Outcome, record_result
from grader.serve.queue import Job, JobQueue


def record(db: Path, report: dict, job: Job) -> int:
    """The leaderboard row of ``job``'s report: stored now, or found when stored before. A
    regrade's report becomes the next attempt of its file's row (the board takes the newest;
    the instructor still sees the older ones)."""
    with Leaderboard(db) as store:
        return record_result(store, report, student=job.student, sha256=job.sha256,
                             regrade=job.regrade_of is not None).board_id


def with_late(queue: JobQueue, report: dict, job: Job, late: LatePolicy | None) -> dict:
    """``report`` under the rubric's late policy, exactly as a folder grade applies it
    (:func:`grader.board.late.apply_late`): timed by the server's upload time (a regrade
    keeps its upload's), with the student's extension from the roster."""
    if late is None:
        return report
    return apply_late(report, late, queue.uploaded_at(job),
                      queue.extensions().get(job.student, ""))


def late_line(note: dict) -> str:
    """The report's line for its late note: the deadline that applied and any penalty."""
    penalty = f"; late penalty -{note['penalty']:g} points" if note.get("penalty") else ""
    return f"Deadline: {note['why']}{penalty}"


def headed(summary: str, job: Job, named: str | None) -> str:
    """``summary`` headed with the uploader's id and their own file name: a report names the
    student written in the zip's manifest (``named``) and the file as the worker saw it (our
    stored name), neither of which is what the student knows it by."""
    first, newline, rest = summary.partition("\n")
    who = f"{named or '-'}:"
    if first.startswith(who):
        first = f"{job.student}:" + first[len(who):]
    return first.replace(job.stored, job.filename) + newline + rest


def live_workers(engine: Engine) -> int | None:
    """How many workers grade now: a Dask cluster's connected workers (a killed one that did
    not come back is missing), or the engine's local slots; None when the cluster is
    unreachable."""
    client = getattr(engine, "client", None)
    if client is None:
        return engine.free() + len(engine.running())
    try:
        return len(client.scheduler_info().get("workers", {}))
    except Exception:   # the scheduler is gone: say so rather than fail the page
        return None


class Dispatcher(threading.Thread):
    """Runs until :meth:`stop`; ``uploads`` is the folder of stored uploads."""

    def __init__(self, queue: JobQueue, engine: Engine, uploads: Path, *, lease_s: float = 30.0,
                 poll_s: float = 0.1, late: LatePolicy | None = None):
        super().__init__(name="challenge-dispatcher", daemon=True)
        self.queue, self.engine, self.uploads = queue, engine, Path(uploads)
        self.late = late                     # the rubric's [late] policy, applied on record
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"
        self.lease_s, self.poll_s = lease_s, poll_s
        self.inflight: dict[int, Job] = {}
        self.errors: list[str] = []          # grader errors seen, for the instructor's page
        self._halt = threading.Event()
        self._beat = 0.0

    def status(self) -> dict:
        """For the instructor's page: the engine, its live workers, the last grader errors."""
        return {"engine": self.engine.name, "workers": live_workers(self.engine),
                "errors": self.errors[-20:]}

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
                self.engine.submit(job.id, self.uploads / job.stored)
            except Exception as e:   # e.g. the upload is gone, the cluster unreachable: ours
                self.errors.append(f"job {job.id}: not started: {type(e).__name__}: {e}")
                self.queue.retry(job.id, self.owner, reason=f"not started: {e}", death=False)
                continue
            self.inflight[job.id] = job
            worked = True
        for outcome in self.engine.poll():
            self.handle(outcome)
            worked = True
        return worked

    def handle(self, outcome: Outcome) -> None:
        """Settle one ended grade: back to the queue (a death, an error of ours), or recorded
        on the board and the job finished."""
        job = self.inflight.pop(outcome.job_id, None)
        if job is None:
            return
        if outcome.kind == "died":   # final: the engine retried it already
            self.queue.retry(job.id, self.owner, reason=outcome.reason, death=True,
                             final=outcome.final)
            return
        if outcome.kind == "error":
            self.errors.append(f"job {job.id}: {outcome.reason}")
            self.queue.retry(job.id, self.owner, reason=outcome.reason, death=False)
            return
        try:   # a bad extension, a report the store refuses, a full disk: ours, retried
            report, summary, shown, note = self.judged(outcome, job)
            board_id = record(self.queue.path, report, job)
        except Exception as e:
            self.errors.append(f"job {job.id}: not recorded: {type(e).__name__}: {e}")
            self.queue.retry(job.id, self.owner, reason=f"report not recorded: {e}", death=False)
            return
        ok = report.get("status") == "ok"
        self.queue.finish(job.id, self.owner, ok=ok, reason="" if ok else str(report.get("reason", "")),
                          points=shown, max_points=float(report.get("max_points", 0.0)),
                          summary=summary, board_id=board_id, late=note or None)

    def judged(self, outcome: Outcome, job: Job) -> tuple[dict, str, float, dict]:
        """The report as the board records it (the late policy applied), the summary the
        student reads (headed with their id, the late line last), the points they see and the
        late note they see: its penalty is that of the points shown (the public part's), since
        the recorded one, the whole hidden set's, would give the private part away."""
        report = outcome.result["report"]
        summary = headed(outcome.result["summary"], job, report.get("student"))
        shown = float(outcome.result.get("points", report.get("points", 0.0)))
        report = with_late(self.queue, report, job, self.late)
        note = shown_note(report.get("late") or {}, shown)
        if note:
            shown = round(shown * note["kept"], 6)
            summary = summary.rstrip("\n") + "\n" + late_line(note)
        return report, summary, shown, note
