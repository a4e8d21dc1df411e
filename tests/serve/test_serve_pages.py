"""What the live challenge's pages tell a person: a viewport for phones, where a waiting
submission stands (queue position, time so far, an estimate), the student's own rank and row,
the deadline with the time left and a closed notice, confirmed and deadline-aware instructor
actions, /admin's filters, pages, export and live worker count, and reports headed with the
uploader's id and their own file name."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from support.serve import prepared_class

from grader.serve.app import ServeConfig, create_app

BOARD = {"part": "public", "title": "Overall", "revealed": False,
         "columns": ["rank", "student", "points", "max_points", "spam.points", "spam.f1",
                     "attempts", "submission"],
         "rows": [["1", "bob", "80.00", "100.00", "40.00", "0.9700", "2", "bob__x.zip"],
                  ["2", "alice", "70.00", "100.00", "35.00", "0.9500", "1", "alice__y.zip"],
                  ["-", "reference", "90.00", "100.00", "45.00", "0.9800", "1", "ref.zip"]],
         "kinds": ["student", "student", "reference"],
         "notes": ["1 failed submission(s) not ranked (see --student NAME for reasons)"]}


class FixedBoards:
    def get(self, part, finals=None):
        return {**BOARD, "part": part}


@pytest.fixture
def env(tmp_path):
    ready, tokens = prepared_class(tmp_path, ["alice", "bob", "carol"])

    def client(status=lambda: {}, **config) -> TestClient:
        cfg = ServeConfig(uploads=ready.folder / "uploads", upload_interval_s=0,
                          daily_limit=None, **config)
        app = create_app(ready.queue, ready.tokens, cfg, status=status)
        app.state.serve.boards = FixedBoards()
        return TestClient(app, base_url="http://127.0.0.1")
    return {"ready": ready, "tokens": tokens, "client": client, "queue": ready.queue}


def _as(env, who):
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def test_every_page_has_a_viewport(env):
    c = env["client"]()
    for path, who in (("/", None), ("/me", "alice"), ("/board", "alice"), ("/admin", "instructor")):
        page = c.get(path, headers=_as(env, who) if who else {}).text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page, path


def test_a_waiting_submission_shows_its_place_time_and_estimate(env):
    queue = env["queue"]
    c = env["client"]()
    first = queue.enqueue("bob", "b.csv", "bob__1.csv", "s1")
    mine = queue.enqueue("carol", "c.csv", "carol__1.csv", "s2")
    page = c.get("/me", headers=_as(env, "carol")).text
    assert "#2 in the queue" in page and "unknown yet left" in page      # no grade timed yet
    job = queue.claim("t", 60)
    assert job.id == first
    queue.finish(first, "t", ok=True, reason="", points=1.0, max_points=2.0, summary="",
                 board_id=None)
    page = c.get("/me", headers=_as(env, "carol")).text
    assert "#1 in the queue" in page and re.search(r"(about \d+ s|a few seconds) left", page)
    queue.claim("t", 60)
    report = c.get(f"/me/submissions/{mine}", headers=_as(env, "carol")).text
    assert "Waiting for" in report and "Position in the queue" not in report   # running now


def test_me_shows_the_students_rank_and_highlights_their_row(env):
    c = env["client"]()
    page = c.get("/me", headers=_as(env, "alice")).text
    assert "You are ranked <b>2</b> of 2" in page
    mine = re.findall(r'<tr class="student me">(.*?)</tr>', page)
    assert len(mine) == 1 and "alice" in mine[0] and "70.00 / 100.00" in mine[0]
    assert "<th>Spam points</th>" in page and "<th>Spam F1</th>" in page
    assert "spam.points" not in page and "bob__x.zip" not in page and "--student" not in page
    assert "You are ranked" not in c.get("/me", headers=_as(env, "carol")).text   # not on it
    board = c.get("/board", headers=_as(env, "bob")).text
    assert "You are ranked <b>1</b>" in board and '<tr class="student me">' in board


def test_the_deadline_shows_local_time_and_what_is_left_then_a_closed_notice(env):
    zone = timezone(timedelta(hours=1))
    soon = datetime.now(zone) + timedelta(days=2, hours=3, minutes=1)
    page = env["client"](deadline=soon).get("/me", headers=_as(env, "alice")).text
    assert f"{soon:%H:%M} (UTC+01:00)" in page and "2 d 3 h</b> left" in page
    assert 'id="upload-form"' in page
    past = env["client"](deadline=datetime.now(timezone.utc) - timedelta(minutes=1))
    closed = past.get("/me", headers=_as(env, "alice")).text
    assert 'id="closed"' in closed and "no longer accepted" in closed
    assert 'id="upload-form"' not in closed


def test_the_reveal_waits_for_the_deadline_unless_forced_and_can_be_undone(env):
    c = env["client"](deadline=datetime.now(timezone.utc) + timedelta(days=1))
    early = c.post("/api/admin/reveal", headers=_as(env, "instructor"))
    assert early.status_code == 409 and "has not passed" in early.json()["error"]
    assert env["queue"].setting("revealed") != "1"
    assert 'id="reveal-force"' in c.get("/admin", headers=_as(env, "instructor")).text
    forced = c.post("/api/admin/reveal?force=true", headers=_as(env, "instructor"))
    assert forced.json() == {"revealed": True}
    assert c.get("/api/status", headers=_as(env, "bob")).json()["board"]["part"] == "private"
    assert c.post("/api/admin/unreveal", headers=_as(env, "instructor")).json() == {"revealed": False}
    assert c.get("/api/status", headers=_as(env, "bob")).json()["board"]["part"] == "public"


def test_regrade_all_in_the_browser_needs_a_confirming_tick(env):
    c = env["client"]()
    env["queue"].enqueue("bob", "b.csv", "bob__1.csv", "s1")
    form = c.get("/")
    value = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    c.post("/login", data={"token": env["tokens"]["instructor"], "csrf": value})
    admin = c.get("/admin").text
    assert 'id="regrade-confirm" required' in admin and 'id="reveal-confirm" required' in admin
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', admin).group(1)
    assert c.post("/admin/regrade", data={"csrf": csrf}).status_code == 400
    assert len(env["queue"].jobs()) == 1
    c.post("/admin/regrade", data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False)
    assert len(env["queue"].jobs()) == 1    # bob's is still waiting: not queued twice


def test_admin_filters_pages_and_exports(env):
    queue = env["queue"]
    for i in range(55):
        queue.enqueue("alice" if i % 2 else "bob", f"p{i}.csv", f"x{i}.csv", f"s{i}")
    queue.enqueue("carol", "=HYPERLINK(1).csv", "c.csv", "sc")
    c = env["client"](status=lambda: {"engine": "Dask cluster at tcp://x", "workers": 0,
                                      "errors": []})
    h = _as(env, "instructor")
    first = c.get("/admin", headers=h).text
    assert first.count('data-label="student"') == 50 and "page 1 of 2" in first and 'id="next"' in first
    assert '<b id="workers">0</b> worker(s) live' in first and "no worker is connected" in first
    second = c.get("/admin?page=2", headers=h).text
    assert second.count('data-label="student"') == 6 and 'id="prev"' in second
    alice = c.get("/admin?student=alice&state=queued", headers=h).text
    assert alice.count('data-label="student"') == 27 and ">bob</td>" not in alice
    exported = c.get("/admin/jobs.csv?student=carol", headers=h)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["filename"] for r in rows] == ["'=HYPERLINK(1).csv"]     # no formula
    assert len(list(csv.DictReader(io.StringIO(c.get("/admin/jobs.csv", headers=h).text)))) == 56


def test_a_report_is_headed_with_the_uploaders_id_and_their_file_name(env):
    from grader.engines.base import Outcome
    from grader.serve.dispatch import Dispatcher

    queue = env["queue"]
    job_id = queue.enqueue("alice", "my model.zip", "alice__0a1b2c.zip", "s")
    job = queue.claim("d", 60)
    dispatcher = Dispatcher(queue, None, env["ready"].folder / "uploads")
    dispatcher.owner = "d"
    dispatcher.inflight[job_id] = job
    report = {"student": "mallory", "status": "ok", "points": 5.0, "max_points": 100.0,
              "submission": "alice__0a1b2c.zip", "sha256": "s", "mode": "code", "tasks": {},
              "rubric_hash": "r", "grader_version": "t", "torch_version": "t", "sets": "hidden"}
    summary = ("mallory: 5 / 100 points (code mode, hidden sets, on cpu, alice__0a1b2c.zip)\n"
               "  spam  5.00 / 50")
    dispatcher.handle(Outcome(job_id, "ok", result={"report": report, "summary": summary,
                                                    "points": 5.0}))
    done = queue.job(job_id)
    assert done.summary.splitlines()[0] == ("alice: 5 / 100 points (code mode, hidden sets, on "
                                            "cpu, my model.zip)")
    page = env["client"]().get(f"/me/submissions/{job_id}", headers=_as(env, "alice")).text
    assert "By <b>alice</b>, file <b>my model.zip</b>" in page and "alice__0a1b2c" not in page


@pytest.mark.parametrize("seconds, words", [(0, "0 s"), (59, "59 s"), (61, "1 min 1 s"),
                                            (3600, "1 h"), (2 * 86400 + 3 * 3600 + 59, "2 d 3 h")])
def test_durations_read_in_two_units(seconds, words):
    from grader.serve.views import duration

    assert duration(seconds) == words


def test_board_headers_read_as_words():
    from grader.serve.views import header

    assert [header(c) for c in ("spam.points", "sorter.exact", "lstm.points", "max_points")] == \
        ["Spam points", "Sorter exact match", "LSTM points", "Max"]
