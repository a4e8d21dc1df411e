"""A regrade button per student on /admin: a POST with the CSRF value, as the other admin
actions, that queues that student's stored submissions again under the current rubric and
keeps history (the old grade stays, the board takes the newest attempt)."""

from __future__ import annotations

import re
import sqlite3

import pytest
from fastapi.testclient import TestClient
from support.serve import fake_grade, prepared_class

from grader.engines.base import Outcome, grade_task
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher


@pytest.fixture
def env(tmp_path):
    ready, tokens = prepared_class(tmp_path)
    uploads = ready.folder / "uploads"
    config = ServeConfig(uploads=uploads, upload_interval_s=0, board_cache_s=0)
    client = TestClient(create_app(ready.queue, ready.tokens, config), base_url="http://127.0.0.1")
    dispatcher = Dispatcher(ready.queue, None, uploads)

    def grade_waiting(bonus: float = 0.0) -> list[int]:
        done = []
        while (job := ready.queue.claim(dispatcher.owner, 60)) is not None:
            dispatcher.inflight[job.id] = job
            result = grade_task(fake_grade, str(uploads / job.stored), {})
            result["report"]["points"] += bonus          # a grader fix that changes the points
            result["points"] += bonus
            dispatcher.handle(Outcome(job.id, "ok", result=result))
            done.append(job.id)
        return done

    for who, content in (("alice", b"a" * 40), ("alice", b"b" * 41), ("bob", b"c" * 42)):
        r = client.post("/api/submissions", headers={"Authorization": f"Bearer {tokens[who]}"},
                        files={"file": ("mine.csv", content)})
        assert r.status_code == 201
    grade_waiting()
    return {"client": client, "tokens": tokens, "queue": ready.queue, "grade": grade_waiting}


def _login(env, who: str) -> str:
    c = env["client"]
    value = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)
    assert c.post("/login", data={"token": env["tokens"][who], "csrf": value},
                  follow_redirects=False).status_code == 303
    return re.search(r'name="csrf" value="([0-9a-f]+)"', c.get("/admin").text).group(1) \
        if who == "instructor" else ""


def test_the_button_regrades_one_student_and_keeps_history(env):
    csrf = _login(env, "instructor")
    page = env["client"].get("/admin").text
    assert page.count('action="/admin/regrade/student"') == 3       # one per row
    r = env["client"].post("/admin/regrade/student", data={"csrf": csrf, "student": "alice"},
                           follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin?student=alice"
    waiting = [j for j in env["queue"].jobs() if j.state == "queued"]
    assert sorted((j.student, j.regrade_of) for j in waiting) == [("alice", 1), ("alice", 2)]
    assert env["grade"](bonus=3.0) == [4, 5]
    jobs = {j.id: j for j in env["queue"].jobs()}
    assert (jobs[1].points, jobs[4].points) == (40.0, 43.0)    # the old grade stays visible
    with sqlite3.connect(env["queue"].path) as con:
        rows = con.execute("SELECT student, attempt, points FROM submissions ORDER BY id").fetchall()
    assert rows == [("alice", 0, 40.0), ("alice", 0, 41.0), ("bob", 0, 42.0),
                    ("alice", 1, 43.0), ("alice", 1, 44.0)]   # a new attempt each, bob untouched
    assert "(regrade of #1)" in env["client"].get("/admin?student=alice").text


def test_a_forged_regrade_without_the_csrf_value_is_refused(env):
    """The attack: a page of another site (or a script) posts the instructor's cookie alone."""
    _login(env, "instructor")
    c = env["client"]
    assert c.post("/admin/regrade/student", data={"student": "alice"}).status_code == 403
    assert c.post("/api/admin/regrade?student=alice").status_code == 403
    assert c.post("/admin/regrade/student", data={"student": "alice", "csrf": "0" * 64},
                  headers={"Origin": "null"}).status_code == 403
    assert not [j for j in env["queue"].jobs() if j.state == "queued"]


def test_a_student_cannot_regrade_and_an_unknown_student_is_named(env):
    bob = {"Authorization": f"Bearer {env['tokens']['bob']}"}
    me = {"Authorization": f"Bearer {env['tokens']['instructor']}"}
    c = env["client"]
    assert c.post("/api/admin/regrade?student=bob", headers=bob).status_code == 403
    unknown = c.post("/api/admin/regrade?student=zed", headers=me)
    assert unknown.status_code == 404 and "zed" in unknown.json()["error"]
    assert not [j for j in env["queue"].jobs() if j.state == "queued"]
    ok = c.post("/api/admin/regrade?student=bob", headers=me).json()
    assert ok == {"queued": 1, "student": "bob"}
    again = c.post("/api/admin/regrade?student=bob", headers=me).json()
    assert again["queued"] == 0                     # already waiting: not queued twice
