"""Grading behind the live challenge: local worker processes and the dispatcher, with a fake
grade function (no student code runs, so these take seconds), the real grader on a predictions
file, and kill -9 of a worker and of the whole server in the middle of grading."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from support.serve import fake_grade, free_socket, read_tokens, wait_for, write_roster

from grader.engines.base import Outcome, Work, grade_task
from grader.engines.local import LocalEngine
from grader.serve.dispatch import Dispatcher
from grader.serve.queue import JobQueue

TESTS = Path(__file__).resolve().parents[1]


def _upload(queue: JobQueue, uploads: Path, student: str, content: bytes, name: str) -> int:
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / name).write_bytes(content)
    return queue.enqueue(student, name, name, hashlib.sha256(content).hexdigest())


def _board_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT student, sha256, status FROM submissions ORDER BY id").fetchall()


def _settled(queue):
    return lambda: all(j.state in ("graded", "failed") for j in queue.jobs())


def test_each_upload_is_graded_once_and_failures_end_with_their_reason(tmp_path):
    queue = JobQueue(tmp_path / "board.sqlite", max_deaths=2, max_errors=2)
    uploads = tmp_path / "uploads"
    ok = [_upload(queue, uploads, f"s{i}", f"id,prediction\n{i}\n".encode(), f"s{i}__a.csv")
          for i in range(4)]
    bad = _upload(queue, uploads, "bad", b"BAD\n", "bad__a.csv")
    crash = _upload(queue, uploads, "crash", b"CRASH\n", "crash__a.csv")
    die = _upload(queue, uploads, "die", b"DIE\n", "die__a.csv")
    gone = _upload(queue, uploads, "gone", b"x\n", "gone__a.csv")
    (uploads / "gone__a.csv").unlink()                  # lost from the disk: ours, not theirs
    engine = LocalEngine(Work(fake_grade), 2)
    dispatcher = Dispatcher(queue, engine, uploads, poll_s=0.02)
    dispatcher.start()
    try:
        wait_for(_settled(queue), 90)
    finally:
        dispatcher.stop()
        engine.close()
    jobs = {j.id: j for j in queue.jobs()}
    assert all(jobs[i].state == "graded" and jobs[i].board_id for i in ok)
    assert jobs[bad].state == "failed" and jobs[bad].reason == "line 2: <b>bad</b> row"
    assert jobs[bad].counts == 1                       # the student's own failure counts
    assert jobs[crash].state == "failed" and "grader error" in jobs[crash].reason
    assert jobs[die].state == "failed" and "died 2 times" in jobs[die].reason
    assert jobs[gone].state == "failed" and "FileNotFoundError" in jobs[gone].detail
    assert jobs[crash].counts == 0 and jobs[die].counts == 0 and jobs[gone].counts == 0
    rows = _board_rows(queue.path)
    assert sorted(r[0] for r in rows) == ["bad", "s0", "s1", "s2", "s3"]   # one row each


def test_a_worker_killed_mid_grade_loses_nothing(tmp_path):
    queue = JobQueue(tmp_path / "board.sqlite")
    uploads = tmp_path / "uploads"
    job_id = _upload(queue, uploads, "alice", b"SLEEP 30\n", "alice__a.csv")
    engine = LocalEngine(Work(fake_grade), 1)
    dispatcher = Dispatcher(queue, engine, uploads, poll_s=0.02)
    dispatcher.start()
    try:
        pid = wait_for(lambda: engine.worker_pids().get(job_id), 60)
        time.sleep(0.5)                                # inside the grade function
        # the file now says to grade quickly: what a retry sees
        (uploads / "alice__a.csv").write_bytes(b"id,prediction\n")
        os.kill(pid, signal.SIGKILL)
        wait_for(_settled(queue), 60)
    finally:
        dispatcher.stop()
        engine.close()
    job = queue.job(job_id)
    assert job.state == "graded" and job.deaths == 1
    assert len(_board_rows(queue.path)) == 1


def test_recording_the_same_report_twice_keeps_one_row(tmp_path):
    from grader.serve.dispatch import record

    queue = JobQueue(tmp_path / "board.sqlite")
    content = b"id,prediction\n"
    job_id = _upload(queue, tmp_path / "u", "alice", content, "alice__a.csv")
    report = fake_grade(str(tmp_path / "u" / "alice__a.csv"))
    first = record(queue.path, report, queue.job(job_id))
    assert record(queue.path, report, queue.job(job_id)) == first   # a crash between row and job
    assert len(_board_rows(queue.path)) == 1


SERVER = """
import sys
from grader.serve.server import serve
from support.serve import fake_grade
serve(host="127.0.0.1", port=int(sys.argv[1]), db=sys.argv[2], roster=sys.argv[3], workers=2,
      grade_fn=fake_grade, daily_limit=None, echo=lambda s: print(s, flush=True))
"""


def _start_server(port: int, db: Path, roster: Path, env: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(db), str(roster)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read()}")
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    wait_for(up, 60, 0.2)
    return proc


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:   # the field after the state is the parent's pid
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_of_the_server_mid_grading_then_a_restart_finishes_everything_once(tmp_path):
    db = tmp_path / "data" / "board.sqlite"
    roster = write_roster(tmp_path / "roster.csv", [f"s{i}" for i in range(6)])
    log = tmp_path / "graded.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "FAKE_GRADE_LOG": str(log)}
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    server = _start_server(port, db, roster, env)
    tokens = read_tokens(db.parent / "serve" / "tokens.csv")
    url = f"http://127.0.0.1:{port}"
    try:
        for i in range(6):
            r = httpx.post(url + "/api/submissions", timeout=10,
                           headers={"Authorization": f"Bearer {tokens[f's{i}']}"},
                           files={"file": (f"p{i}.csv", f"SLEEP 1.5\n{i}\n".encode())})
            assert r.status_code == 201, r.text
        wait_for(lambda: log.exists() and len(log.read_text().split()) >= 2, 60)
        workers = _children(server.pid)
        assert len(workers) >= 2                     # the two local grading processes
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        wait_for(lambda: not any(_alive(p) for p in workers), 15)   # no orphan grades on
        with sqlite3.connect(db) as con:
            running = con.execute("SELECT count(*) FROM serve_jobs WHERE state='running'").fetchone()[0]
        assert running >= 1                                          # it was mid-grading
        server = _start_server(port, db, roster, env)

        def states():
            with sqlite3.connect(db) as con:
                return con.execute("SELECT state, count(*) FROM serve_jobs GROUP BY state").fetchall()
        wait_for(lambda: states() == [("graded", 6)], 60, 0.2)
        mine = httpx.get(url + "/api/status", headers={"Authorization": f"Bearer {tokens['s0']}"},
                         timeout=10).json()["submissions"]
        assert [s["state"] for s in mine] == ["graded"]
        rows = _board_rows(db)
        assert sorted(r[0] for r in rows) == [f"s{i}" for i in range(6)]   # once each
    finally:
        server.kill()
        server.wait(10)


def test_the_real_grader_grades_a_predictions_upload_into_the_board(tmp_path):
    from support.grading import make_hidden_sets, tiny_rubric

    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions
    from grader.serve.server import default_grade_kwargs

    data = tmp_path / "data"
    rubric = tiny_rubric()
    make_hidden_sets(data, rubric)
    spam = hidden_spam(data)
    queue = JobQueue(data / "leaderboard.sqlite")
    uploads = data / "serve" / "uploads"
    uploads.mkdir(parents=True)
    path = write_predictions(uploads / "alice__1.csv", spam.ids, spam.labels)
    job_id = queue.enqueue("alice", "mine.csv", path.name,
                           hashlib.sha256(path.read_bytes()).hexdigest())
    from grader.batch import grade_hidden
    kwargs = default_grade_kwargs(queue.path, uploads, rubric, data)
    result = grade_task(grade_hidden, str(path), kwargs)
    job = queue.claim("d", 10)
    dispatcher = Dispatcher(queue, None, uploads)
    dispatcher.owner = "d"
    dispatcher.inflight[job_id] = job
    dispatcher.handle(Outcome(job_id, "ok", result=result))
    job = queue.job(job_id)
    assert job.state == "graded" and job.points == pytest.approx(result["report"]["points"])
    assert job.points > 0 and "alice" in job.summary and "predictions mode" in job.summary
    assert [r[0] for r in _board_rows(queue.path)] == ["alice"]


def test_ctrl_c_prints_the_stop_line(tmp_path):
    db = tmp_path / "data" / "board.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    server = _start_server(port, db, write_roster(tmp_path / "roster.csv", ["alice"]), env)
    try:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    finally:
        server.kill()
    assert "challenge serve: stopped; a restart picks up every queued submission" in out, out
    assert "Traceback" not in out
