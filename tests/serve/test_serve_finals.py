"""Final submissions, as Kaggle has them: a student marks up to N graded submissions, and the
private board ranks them on those alone; without a mark, their best on the public part counts.
The public board always shows every try."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from support.serve import fake_grade, prepared_class, write_roster

from grader.engines.base import Outcome, grade_task
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher


@pytest.fixture
def env(tmp_path):
    ready, tokens = prepared_class(tmp_path)
    uploads = ready.folder / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    dispatcher = Dispatcher(ready.queue, None, uploads)

    def graded(student: str, name: str, content: bytes) -> int:
        stored = f"{student}__{name}"
        (uploads / stored).write_bytes(content)
        job_id = ready.queue.enqueue(student, name, stored, hashlib.sha256(content).hexdigest())
        dispatcher.inflight[job_id] = ready.queue.claim(dispatcher.owner, 60)
        result = grade_task(fake_grade, str(uploads / stored), {})
        dispatcher.handle(Outcome(job_id, "ok", result=result))
        return job_id

    def client(n: int) -> TestClient:
        cfg = ServeConfig(uploads=uploads, upload_interval_s=0, final_submissions=n,
                          board_cache_s=0)
        return TestClient(create_app(ready.queue, ready.tokens, cfg), base_url="http://127.0.0.1")
    return {"tokens": tokens, "graded": graded, "client": client, "queue": ready.queue,
            "ready": ready}


def _as(env, who):
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def _row(board: dict, student: str) -> dict:
    rows = [dict(zip(board["columns"], r)) for r in board["rows"]]
    return next(r for r in rows if r["student"] == student)


def test_the_private_board_follows_the_students_marks(env):
    first = env["graded"]("alice", "a.csv", b"x" * 10)
    second = env["graded"]("alice", "b.csv", b"y" * 20)
    bob = env["graded"]("bob", "c.csv", b"z" * 30)
    c = env["client"](1)
    private = lambda: c.get("/api/admin/board?part=private", headers=_as(env, "instructor")).json()
    for mark in (first, second):
        r = c.post(f"/api/submissions/{mark}/final", headers=_as(env, "alice"))
        if mark == second:   # one final at most: the first mark must go first
            assert r.status_code == 409 and "unmark one first" in r.json()["error"]
            c.post(f"/api/submissions/{first}/final?on=false", headers=_as(env, "alice"))
            r = c.post(f"/api/submissions/{mark}/final", headers=_as(env, "alice"))
        assert r.json() == {"id": mark, "final": True}
        assert _row(private(), "alice")["submission"] == f"alice__{'ab'[mark - first]}.csv"
    assert _row(private(), "bob")["submission"] == "bob__c.csv"      # no mark: all count
    whole = c.get("/api/admin/board?part=whole", headers=_as(env, "instructor")).json()
    assert whole["part"] == "whole"                                   # a final number: marks count
    assert _row(whole, "alice")["submission"] == "alice__b.csv"
    page = c.get("/board?part=whole", headers=_as(env, "instructor"))
    assert page.status_code == 200 and "Whole hidden set leaderboard" in page.text
    wrong = c.get("/api/admin/board?part=all", headers=_as(env, "instructor"))
    assert wrong.status_code == 400 and "public, private, whole" in wrong.json()["error"]
    # a student asking for the whole set (which holds the private part) before the reveal
    # gets the public board, and the instructor's API not at all
    peek = c.get("/board?part=whole", headers=_as(env, "alice"))
    assert peek.status_code == 200 and "Public leaderboard" in peek.text
    assert "Whole hidden set" not in peek.text
    assert c.get("/api/admin/board?part=whole", headers=_as(env, "alice")).status_code == 403
    wrong_page = c.get("/board?part=all", headers=_as(env, "instructor"))
    assert wrong_page.status_code == 400 and "public, private, whole" in wrong_page.text
    public = c.get("/api/admin/board?part=public", headers=_as(env, "instructor")).json()
    assert _row(public, "alice")["attempts"] == "2"
    assert c.post(f"/api/submissions/{bob}/final", headers=_as(env, "alice")).status_code == 404
    mine = c.get("/api/status", headers=_as(env, "alice")).json()["submissions"]
    assert [s["final"] for s in mine] == [0, 1]


def test_marks_are_refused_when_the_course_takes_none_or_after_the_reveal(env):
    job = env["graded"]("alice", "a.csv", b"x")
    none = env["client"](0).post(f"/api/submissions/{job}/final", headers=_as(env, "alice"))
    assert none.status_code == 403 and "nothing to mark" in none.json()["error"]
    waiting = env["queue"].enqueue("alice", "w.csv", "alice__w.csv", "w")
    c = env["client"](2)
    assert c.post(f"/api/submissions/{waiting}/final", headers=_as(env, "alice")).status_code == 409
    assert "mark final" in c.get("/me", headers=_as(env, "alice")).text
    env["queue"].set_setting("revealed", "1")
    late = c.post(f"/api/submissions/{job}/final", headers=_as(env, "alice"))
    assert late.status_code == 409 and "revealed" in late.json()["error"]


def _rubric_with(tmp_path, live: str):
    from challenge.rubric import DEFAULT_RUBRIC

    text = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    assert "\nfinal_submissions = 0 " in text                # the default rubric's [live] key
    path = tmp_path / "course-rubric.toml"
    path.write_text(text.replace("\nfinal_submissions = 0 ", f"\n{live} ", 1), encoding="utf-8")
    return path


def test_the_rubrics_n_is_applied_and_the_option_overrides_it(env, tmp_path):
    from grader.serve.server import ServeOptions, serve_config

    rubric = _rubric_with(tmp_path, "final_submissions = 2")
    uploads = tmp_path / "data" / "serve" / "uploads"
    taken = serve_config(ServeOptions(rubric=str(rubric)), uploads, 1)
    assert taken.final_submissions == 2
    assert serve_config(ServeOptions(rubric=str(rubric), final_submissions=0), uploads,
                        1).final_submissions == 0                   # the option wins
    assert serve_config(ServeOptions(), uploads, 1).final_submissions == 0   # no [live]: 0
    jobs = [env["graded"]("alice", f"{n}.csv", n.encode() * 9) for n in "abc"]
    c = TestClient(create_app(env["queue"], env["ready"].tokens, replace(taken, board_cache_s=0)),
                   base_url="http://127.0.0.1")
    answers = [c.post(f"/api/submissions/{j}/final", headers=_as(env, "alice")) for j in jobs]
    assert [a.status_code for a in answers] == [200, 200, 409]     # two marks, as the rubric says
    assert "unmark one first" in answers[2].json()["error"]


@pytest.mark.parametrize("value", ["-1", '"two"', "1.5", "true"])
def test_a_bad_final_submissions_in_the_rubric_is_one_line_before_anything_is_written(
        tmp_path, value):
    from click.testing import CliRunner

    from challenge.cli import main

    rubric = _rubric_with(tmp_path, f"final_submissions = {value}")
    db = tmp_path / "board" / "board.sqlite"
    run = CliRunner().invoke(main, ["serve", "--db", str(db), "--rubric", str(rubric),
                                    "--roster", str(write_roster(tmp_path / "r.csv", ["a"]))])
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert run.output.count("\n") == 1
    assert "live.final_submissions" in run.output and "0 or more" in run.output
    assert not db.parent.exists()
