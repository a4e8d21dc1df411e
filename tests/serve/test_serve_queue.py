"""The live challenge's queue: leases and heartbeats, jobs put back after a lost worker or a
restart, tries that end in a reason, and a daily limit that failures of ours never use up."""

from __future__ import annotations

import sqlite3

import pytest

from grader.board.leaderboard import Leaderboard
from grader.serve.queue import JobQueue, LimitReached


@pytest.fixture
def queue(tmp_path):
    return JobQueue(tmp_path / "board.sqlite", max_deaths=2, max_errors=2)


def _add(queue, student="alice", n=1, **kw):
    return [queue.enqueue(student, f"p{i}.csv", f"{student}__{i}.csv", f"sha{i}", **kw)
            for i in range(n)]


def test_the_queue_lives_in_the_leaderboard_file_which_stays_a_leaderboard(queue):
    _add(queue)
    with Leaderboard(queue.path, readonly=True) as store:   # still opens as a leaderboard
        assert store.entries() == []
    tables = {r[0] for r in sqlite3.connect(queue.path).execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"submissions", "serve_jobs", "serve_tokens"} <= tables


def test_a_lease_keeps_others_off_until_it_runs_out_without_a_heartbeat(queue):
    now = [1000.0]
    queue.clock = lambda: now[0]
    (job_id,) = _add(queue)
    job = queue.claim("a", lease_s=30)
    assert job.id == job_id and job.state == "running"
    assert queue.claim("b", lease_s=30) is None
    now[0] += 20
    assert queue.heartbeat([job_id], "a", 30) == {job_id}   # renewed: still a's
    now[0] += 20
    assert queue.claim("b", lease_s=30) is None              # 40 s after the claim
    now[0] += 11                                              # a stopped beating: expired
    taken = queue.claim("b", lease_s=30)
    assert taken.id == job_id and taken.lease_owner == "b"
    assert queue.heartbeat([job_id], "a", 5) == set()        # a learns it lost the job
    assert not queue.finish(job_id, "a", ok=True, reason="", points=1, max_points=1,
                            summary="", board_id=None)
    assert queue.finish(job_id, "b", ok=True, reason="", points=1, max_points=1, summary="s",
                        board_id=None)
    assert queue.job(job_id).state == "graded"


def test_a_starting_server_puts_running_jobs_back(queue):
    ids = _add(queue, n=3)
    queue.claim("old-server", 3600)
    queue.claim("old-server", 3600)
    assert queue.release_running() == 2
    assert [j.state for j in queue.jobs()] == ["queued"] * 3
    assert queue.claim("new", 10).id == ids[0]


def test_a_job_that_keeps_killing_its_worker_fails_with_a_reason_and_does_not_count(queue):
    (job_id,) = _add(queue, daily_limit=1)
    assert queue.used_today("alice") == 1
    queue.claim("d", 10)
    assert queue.retry(job_id, "d", reason="exit code -9", death=True) == "queued"
    queue.claim("d", 10)
    assert queue.retry(job_id, "d", reason="exit code -9", death=True) == "failed"
    job = queue.job(job_id)
    assert job.state == "failed" and "died 2 times" in job.reason and job.detail == "exit code -9"
    assert queue.used_today("alice") == 0
    _add(queue, daily_limit=1)   # the limit is free again


def test_grader_errors_are_retried_then_fail_without_counting(queue):
    (job_id,) = _add(queue)
    queue.claim("d", 10)
    assert queue.retry(job_id, "d", reason="RuntimeError: ours", death=False) == "queued"
    queue.claim("d", 10)
    assert queue.retry(job_id, "d", reason="RuntimeError: ours", death=False) == "failed"
    job = queue.job(job_id)
    assert "grader error" in job.reason and job.counts == 0
    assert "RuntimeError" not in job.reason and job.detail == "RuntimeError: ours"   # ours only


def test_a_final_loss_fails_at_once(queue):
    (job_id,) = _add(queue)
    queue.claim("d", 10)
    assert queue.retry(job_id, "d", reason="Dask gave up", death=True, final=True) == "failed"


def test_the_daily_limit_refuses_and_writes_nothing(queue):
    _add(queue, n=2, daily_limit=2)
    with pytest.raises(LimitReached, match="2 of 2 submissions today"):
        queue.enqueue("alice", "x.csv", "alice__x.csv", "shax", daily_limit=2)
    assert len(queue.jobs("alice")) == 2
    _add(queue, student="bob", daily_limit=2)   # per student


def test_regrade_all_queues_each_upload_once_and_never_counts(queue):
    ids = _add(queue, n=2)
    queue.enqueue("alice", "again.csv", "alice__again.csv", "sha0")   # the same file twice
    for _ in ids + [0]:
        job = queue.claim("d", 10)
        queue.finish(job.id, "d", ok=True, reason="", points=1, max_points=1, summary="",
                     board_id=None)
    used = queue.used_today("alice")
    assert queue.regrade_all() == 2
    assert queue.regrade_all() == 0             # already waiting
    assert queue.used_today("alice") == used
    assert {j.regrade_of for j in queue.jobs() if j.state == "queued"} == {2, 3}
