"""Late work on the live server: the server times each upload, and where the rubric has a
[late] policy and the roster an extension, its record path applies
``grader.board.late.apply_late`` exactly as a folder grade does; the report, the JSON API and
/me say which deadline applied and any penalty."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from support.serve import fake_grade, read_tokens

from challenge.rubric import LatePolicy
from grader.engines.base import Outcome, grade_task
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher
from grader.serve.server import prepare

CONTENT = b"x" * 50        # fake_grade: 50 points of 100


def _policy(days_ago: float, last_day: int = 3) -> LatePolicy:
    when = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return LatePolicy(deadline=when.isoformat(timespec="seconds"), penalty_per_day=0.1,
                      last_day=last_day)


@pytest.fixture
def term(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,extension\nalice,2\nbob,\n")
    ready = prepare(tmp_path / "data" / "board.sqlite", roster)
    tokens = read_tokens(ready.tokens_csv)
    tokens["instructor"] = ready.instructor_file.read_text().strip()
    uploads = ready.folder / "uploads"

    def client(policy: LatePolicy) -> TestClient:
        config = ServeConfig(uploads=uploads, upload_interval_s=0, board_cache_s=0, late=policy)
        return TestClient(create_app(ready.queue, ready.tokens, config),
                          base_url="http://127.0.0.1")

    def grade_next(policy: LatePolicy) -> int:
        dispatcher = Dispatcher(ready.queue, None, uploads, late=policy)
        job = ready.queue.claim(dispatcher.owner, 60)
        dispatcher.inflight[job.id] = job
        result = grade_task(fake_grade, str(uploads / job.stored), {})
        dispatcher.handle(Outcome(job.id, "ok", result=result))
        return job.id

    return {"tokens": tokens, "client": client, "grade_next": grade_next,
            "queue": ready.queue, "uploads": uploads}


def _as(term, who: str) -> dict:
    return {"Authorization": f"Bearer {term['tokens'][who]}"}


def _upload(term, c: TestClient, who: str, **extra):
    return c.post("/api/submissions", headers=_as(term, who) | extra.pop("headers", {}),
                  files={"file": ("mine.csv", CONTENT)}, data=extra)


def test_an_extension_spares_one_student_and_the_penalty_takes_a_day_from_another(term):
    policy = _policy(days_ago=1 - 1 / 24)           # the course deadline was 23 hours ago
    c = term["client"](policy)
    ids = {}
    for who in ("alice", "bob"):
        assert _upload(term, c, who).status_code == 201
        ids[who] = term["grade_next"](policy)
    alice = c.get(f"/api/submissions/{ids['alice']}", headers=_as(term, "alice")).json()
    bob = c.get(f"/api/submissions/{ids['bob']}", headers=_as(term, "bob")).json()
    assert alice["late"]["days_late"] == 0 and alice["late"]["penalty"] == 0
    assert alice["points"] == pytest.approx(50.0)
    assert "an extension of 2 days" in alice["report"] and "on time" in alice["report"]
    assert bob["late"]["days_late"] == 1 and bob["late"]["penalty"] == pytest.approx(5.0)
    assert bob["points"] == pytest.approx(45.0)
    assert "1 day late" in bob["report"] and "late penalty -5 points" in bob["report"]
    assert "the course deadline" in bob["report"]
    # the board's rows hold the penalised grade and its note, as a folder grade's do
    with sqlite3.connect(term["queue"].path) as con:
        stored = dict(con.execute("SELECT student, points FROM submissions"))
        notes = [json.loads(n) for (n,) in con.execute("SELECT late FROM submissions")]
    assert stored == pytest.approx({"alice": 50.0, "bob": 45.0})
    assert sorted(n["deadline_why"] for n in notes) == ["an extension of 2 days",
                                                        "the course deadline"]


def test_me_shows_each_student_the_deadline_that_applies_and_the_penalty(term):
    policy = _policy(days_ago=1 - 1 / 24)
    c = term["client"](policy)
    assert _upload(term, c, "bob").status_code == 201
    term["grade_next"](policy)
    bob = c.get("/me", headers=_as(term, "bob")).text
    assert "has passed: late uploads are taken until" in bob and "10%" in bob
    assert "1 day late" in bob and "5 points" in bob
    alice = c.get("/me", headers=_as(term, "alice")).text
    assert "an extension of 2 days" in alice and "has passed" not in alice
    status = c.get("/api/status", headers=_as(term, "alice")).json()
    assert status["your_deadline"]["why"] == "an extension of 2 days"


def test_the_student_cannot_set_the_time_of_an_upload(term):
    """The attack: claim an upload time before the deadline in a form field and in the
    request's Date header. The server times the upload itself."""
    policy = _policy(days_ago=1 - 1 / 24)
    c = term["client"](policy)
    early = (datetime.now(timezone.utc) - timedelta(days=5)).isoformat()
    r = _upload(term, c, "bob", submitted_at=early, headers={"Date": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status_code == 201
    job = term["queue"].job(term["grade_next"](policy))
    assert job.late_note["days_late"] == 1 and job.points == pytest.approx(45.0)


def test_a_regrade_keeps_the_time_of_the_upload_it_regrades(term):
    policy = _policy(days_ago=1 - 1 / 24)
    c = term["client"](policy)
    assert _upload(term, c, "bob").status_code == 201
    first = term["grade_next"](policy)
    on_time = (policy.when - timedelta(hours=1)).isoformat(timespec="seconds")
    with sqlite3.connect(term["queue"].path) as con:   # as if uploaded before the deadline
        con.execute("UPDATE serve_jobs SET submitted_at=? WHERE id=?", (on_time, first))
    assert term["queue"].regrade_all() == 1
    again = term["queue"].job(term["grade_next"](policy))
    assert again.regrade_of == first
    assert again.late_note["days_late"] == 0 and again.points == pytest.approx(50.0)


def test_uploads_close_after_the_last_late_day_of_each_students_own_deadline(term):
    policy = _policy(days_ago=3.5, last_day=2)   # bob's last day was yesterday; alice's is today
    c = term["client"](policy)
    refused = _upload(term, c, "bob")
    assert refused.status_code == 403 and "uploads are closed" in refused.json()["error"]
    assert not any(term["uploads"].iterdir())     # nothing of the body was stored
    assert "The challenge closed at" in c.get("/me", headers=_as(term, "bob")).text
    assert _upload(term, c, "alice").status_code == 201


def test_without_a_late_policy_reports_carry_no_late_note(term):
    c = term["client"](None)
    assert _upload(term, c, "bob").status_code == 201
    job = term["queue"].job(term["grade_next"](None))
    assert job.late_note == {} and job.points == pytest.approx(50.0)
    assert "Deadline:" not in job.summary
