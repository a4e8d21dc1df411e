"""The live challenge's web app: tokens, uploads and their limits, what each student may see,
escaping, CSRF on browser forms, the instructor's actions, and a full disk on upload."""

from __future__ import annotations

import errno
import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from support.serve import fake_grade, read_tokens, write_roster

from challenge.errors import ChallengeError
from grader.serve.app import ServeConfig, create_app
from grader.serve.server import prepare
from grader.serve.tokens import hash_token

NAMES = ["alice", "bob"]
HOSTILE = "<i>mallory"     # no roster id can be this; a store written by hand could still hold it


@pytest.fixture
def env(tmp_path):
    ready = prepare(tmp_path / "data" / "board.sqlite",
                    write_roster(tmp_path / "roster.csv", NAMES))
    tokens = read_tokens(ready.tokens_csv)
    hostile_csv, _ = ready.tokens.issue([HOSTILE], ready.folder)
    tokens.update(read_tokens(hostile_csv))
    tokens["instructor"] = ready.instructor_file.read_text().strip()

    def client(**config) -> TestClient:
        cfg = ServeConfig(uploads=ready.folder / "uploads", upload_interval_s=0, **config)
        return TestClient(create_app(ready.queue, ready.tokens, cfg), base_url="http://127.0.0.1")
    return {"ready": ready, "tokens": tokens, "client": client, "queue": ready.queue,
            "uploads": ready.folder / "uploads"}


def _auth(env, who):
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def _send(c, env, who, name="p.csv", content=b"id,prediction\n"):
    return c.post("/api/submissions", headers=_auth(env, who), files={"file": (name, content)})


def _finish(queue, job_id, **kw):
    job = queue.claim("t", 10)
    assert job.id == job_id
    queue.finish(job_id, "t", **{"ok": True, "reason": "", "points": 5.0, "max_points": 10.0,
                                 "summary": "report text", "board_id": None, **kw})


def test_tokens_are_stored_hashed_and_only_a_right_one_opens(env):
    raw = env["ready"].queue.path.read_bytes()
    for token in env["tokens"].values():
        assert token.encode() not in raw and hash_token(token).encode() in raw
    assert env["ready"].tokens_csv.stat().st_mode & 0o077 == 0   # private to the instructor
    c = env["client"]()
    assert c.get("/api/status").status_code == 401
    assert c.get("/api/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/api/status", headers=_auth(env, "bob")).json()["student"] == "bob"


def test_a_restart_issues_tokens_only_to_new_students_and_never_rewrites_the_old_file(env, tmp_path):
    old = env["ready"].tokens_csv.read_text()
    again = prepare(env["queue"].path, write_roster(tmp_path / "r2.csv", NAMES + ["carol"]))
    assert list(read_tokens(again.tokens_csv)) == ["carol"]
    assert again.tokens_csv != env["ready"].tokens_csv and again.instructor_file is None
    assert env["ready"].tokens_csv.read_text() == old


def test_a_roster_that_is_refused_issues_no_token(tmp_path):
    db = tmp_path / "data" / "board.sqlite"
    bad = tmp_path / "roster.csv"
    bad.write_text("student\nalice\na1ice\n")
    with pytest.raises(ChallengeError, match="line 3: .*looks like 'alice'"):
        prepare(db, bad)
    assert not (db.parent / "serve" / "tokens.csv").exists()


def test_students_see_only_their_own_submissions_and_reports(env):
    c = env["client"]()
    a = _send(c, env, "alice").json()["id"]
    b = _send(c, env, "bob", content=b"id,prediction\nx\n").json()["id"]
    _finish(env["queue"], a)
    mine = c.get("/api/status", headers=_auth(env, "alice")).json()
    assert [s["id"] for s in mine["submissions"]] == [a]
    assert "stored" not in mine["submissions"][0] and "sha256" not in mine["submissions"][0]
    assert c.get(f"/api/submissions/{a}", headers=_auth(env, "alice")).json()["report"] == "report text"
    assert c.get(f"/api/submissions/{b}", headers=_auth(env, "alice")).status_code == 404
    assert c.get(f"/api/submissions/{a}", headers=_auth(env, "bob")).status_code == 404
    every = c.get("/api/status", headers=_auth(env, "instructor")).json()["submissions"]
    assert {s["student"] for s in every} == {"alice", "bob"}
    queue = env["queue"]
    job = queue.claim("t", 10)                      # bob's: an error of the grader's, twice
    queue.max_errors = 1
    queue.retry(job.id, "t", reason="KeyError: '/srv/data/hidden/spam.csv'", death=False)
    bobs = c.get("/api/status", headers=_auth(env, "bob")).json()["submissions"][0]
    assert bobs["state"] == "failed" and "grader error" in bobs["reason"]
    assert "KeyError" not in str(bobs) and "detail" not in bobs       # the detail is ours
    every = c.get("/api/status", headers=_auth(env, "instructor")).json()["submissions"]
    assert "KeyError" in every[1]["detail"]


def test_upload_rules_refuse_with_a_reason_and_store_nothing(env):
    c = env["client"](daily_limit=1, max_upload_bytes=1000)
    assert _send(c, env, "alice", name="notes.txt").json()["error"].startswith("'notes.txt' is neither")
    assert _send(c, env, "alice", content=b"").status_code == 400
    big = _send(c, env, "alice", content=b"x" * 200_000)
    assert big.status_code == 413 and "at most" in big.json()["error"]
    assert _send(c, env, "instructor").status_code == 403
    assert _send(c, env, "alice").status_code == 201
    limited = _send(c, env, "alice", content=b"other")
    assert limited.status_code == 429 and "daily limit" in limited.json()["error"]
    assert len(env["queue"].jobs()) == 1 and len(list(env["uploads"].iterdir())) == 1
    late = env["client"](deadline=datetime.now(timezone.utc) - timedelta(seconds=1))
    refused = _send(late, env, "bob")
    assert refused.status_code == 403 and "deadline" in refused.json()["error"]


def test_uploads_and_requests_are_rate_limited(env):
    c = env["client"](requests_per_minute=5)
    codes = [c.get("/api/status", headers=_auth(env, "bob")).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    slow = TestClient(create_app(env["queue"], env["ready"].tokens,
                                 ServeConfig(uploads=env["uploads"], upload_interval_s=60)))
    assert _send(slow, env, "alice").status_code == 201
    again = _send(slow, env, "alice", content=b"2")
    assert again.status_code == 429 and "one upload every 60 s" in again.json()["error"]


def test_a_full_disk_on_upload_is_refused_clearly_and_nothing_is_half_stored(env, monkeypatch):
    import grader.serve.uploads as app_module

    c = env["client"]()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(app_module.os, "fsync", full)
    r = _send(c, env, "alice", content=b"id,prediction\n" * 1000)
    assert r.status_code == 507 and "disk is full" in r.json()["error"]
    assert list(env["uploads"].iterdir()) == [] and env["queue"].jobs() == []
    monkeypatch.undo()
    monkeypatch.setattr(app_module.shutil, "disk_usage", lambda p: type("U", (), {"free": 10})())
    r = _send(c, env, "alice")
    assert r.status_code == 507 and list(env["uploads"].iterdir()) == []
    monkeypatch.undo()
    assert _send(c, env, "alice").status_code == 201   # and then it works again


def _login(c, env, who):
    form = c.get("/").text
    value = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    r = c.post("/login", data={"token": env["tokens"][who], "csrf": value}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get("/me" if who != "instructor" else "/admin").text
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def test_browser_forms_need_the_csrf_token_and_pages_escape_what_students_wrote(env):
    c = env["client"]()
    csrf = _login(c, env, HOSTILE)
    evil = '<img src=x onerror=alert(1)>.csv'
    refused = c.post("/me/upload", files={"file": (evil, b"id,prediction\n")})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert env["queue"].jobs() == []
    ok = c.post("/me/upload", data={"csrf": csrf}, files={"file": (evil, b"BAD\n")},
                follow_redirects=False)
    assert ok.status_code == 303
    job = env["queue"].jobs()[0]
    report = fake_grade(str(env["uploads"] / job.stored))
    _finish(env["queue"], job.id, ok=False, reason=report["reason"], summary="<script>x</script>")
    page = c.get("/me").text
    assert "<img" not in page and "&lt;img src=x" in page
    assert "<i>mallory" not in page and "&lt;i&gt;mallory" in page
    assert "<b>bad</b>" not in page and "&lt;b&gt;bad&lt;/b&gt;" in page
    report_page = c.get(f"/me/submissions/{job.id}").text
    assert "<script>" not in report_page and "&lt;script&gt;" in report_page
    assert "Content-Security-Policy" in c.get("/me").headers
    other = TestClient(c.app, base_url="http://127.0.0.1")   # another browser, no cookie
    assert other.post("/me/upload", data={"csrf": csrf},
                      files={"file": ("p.csv", b"x")}).status_code in (401, 403)


def test_a_login_from_another_site_is_refused(env):
    c = env["client"]()
    forged = c.post("/login", data={"token": env["tokens"]["alice"]}, follow_redirects=False)
    assert forged.status_code == 403 and "challenge_token" not in forged.headers.get("set-cookie", "")
    form = c.get("/").text
    value = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    cross = c.post("/login", data={"token": env["tokens"]["alice"], "csrf": value},
                   headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert cross.status_code == 403
    wrong = c.post("/login", data={"token": "guess", "csrf": value}, follow_redirects=False)
    assert wrong.status_code == 401 and "not valid" in wrong.text
    _login(c, env, "alice")


def test_the_instructor_reveals_the_private_board_and_regrades_everything(env):
    c = env["client"]()
    assert c.post("/api/admin/reveal", headers=_auth(env, "alice")).status_code == 403
    assert c.get("/admin", headers=_auth(env, "alice")).status_code == 403
    assert c.get("/api/status", headers=_auth(env, "alice")).json()["board"]["part"] == "public"
    assert c.get("/api/admin/board", headers=_auth(env, "instructor")).json()["part"] == "private"
    job = _send(c, env, "alice").json()["id"]
    _finish(env["queue"], job)
    csrf = _login(c, env, "instructor")
    assert c.post("/admin/reveal", data={}).status_code == 403                   # no CSRF token
    unconfirmed = c.post("/admin/reveal", data={"csrf": csrf}, follow_redirects=False)
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.text
    assert c.post("/admin/reveal", data={"csrf": csrf, "confirm": "yes"},
                  follow_redirects=False).status_code == 303
    assert c.get("/api/status", headers=_auth(env, "bob")).json()["board"]["part"] == "private"
    assert c.post("/api/admin/regrade", headers=_auth(env, "instructor")).json() == {"queued": 1}
    assert env["queue"].used_today("alice") == 1    # a regrade is not a submission


def test_the_server_serves_no_file_of_the_data_folder(env):
    c = env["client"]()
    (env["uploads"].parent.parent / "hidden").mkdir()
    secret = env["uploads"].parent.parent / "hidden" / "spam.csv"
    secret.write_text("SECRET-LABELS")
    _send(c, env, "alice", content=b"UPLOADED-BYTES")
    for path in ("/data/hidden/spam.csv", "/hidden/spam.csv", "/serve/tokens.csv",
                 "/uploads/", "/../hidden/spam.csv", "/static/x", "/docs", "/openapi.json",
                 "/me/../../hidden/spam.csv"):
        r = c.get(path, headers=_auth(env, "instructor"))
        assert r.status_code in (404, 405), path
        assert "SECRET-LABELS" not in r.text and "UPLOADED-BYTES" not in r.text
        assert env["tokens"]["alice"] not in r.text


def _every_route() -> list[tuple[str, str]]:
    """(method, url) of every route the routers declare, a job id filled in."""
    from grader.serve.routes import admin, session, student_api, student_pages

    routers = (session.router, student_pages.router, student_api.router, admin.views, admin.api)
    return [(method, route.path.replace("{job_id}", "1")) for router in routers
            for route in router.routes for method in route.methods]


def test_every_route_checks_who_calls_it_and_every_browser_form_its_csrf(env):
    c = env["client"]()
    job = _send(c, env, "alice").json()["id"]
    assert job == 1
    routes = _every_route()
    assert len(routes) == 23      # the 17 of the split, un-reveal (page and API), the CSV
    #                               export, marking a final submission (page and API), the
    #                               per-student regrade button
    open_to_all = {("GET", "/"), ("POST", "/login"), ("GET", "/healthz")}
    for method, url in routes:
        if (method, url) in open_to_all:
            continue
        anonymous = c.request(method, url, follow_redirects=False)
        assert anonymous.status_code in (401, 303), (method, url)    # 303: to the login page
        if anonymous.status_code == 303:
            assert method == "GET" and anonymous.headers["location"] == "/"
        if "admin" in url:
            student = c.request(method, url, headers=_auth(env, "bob"))
            assert student.status_code == 403 and "instructor" in student.text, url
        if method == "POST":
            foreign = c.request(method, url, headers={**_auth(env, "instructor"),
                                                      "Origin": "https://evil.example"})
            assert foreign.status_code == 403 and "cross-site" in foreign.text, url
    csrf_for = {"alice": _login(c, env, "alice")}
    for url in ("/logout", "/me/upload"):
        refused = c.post(url, data={"csrf": "0" * 64}, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text, url
    admin_browser = TestClient(c.app, base_url="http://127.0.0.1")
    _login(admin_browser, env, "instructor")
    for url in ("/admin/reveal", "/admin/regrade", "/admin/unreveal", "/admin/regrade/student"):
        refused = admin_browser.post(url, data={"csrf": csrf_for["alice"]}, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text, url
    assert env["queue"].setting("revealed") != "1" and len(env["queue"].jobs()) == 1


def test_a_post_from_another_site_is_refused_before_anything_is_stored(env):
    c = env["client"]()
    r = c.post("/api/submissions", headers={**_auth(env, "alice"), "Origin": "https://evil.example"},
               files={"file": ("p.csv", b"id,prediction\n")})
    assert r.status_code == 403 and r.json() == {"error": "cross-site form refused"}
    assert env["queue"].jobs() == [] and "Content-Security-Policy" in r.headers
    same = c.post("/api/submissions", headers={**_auth(env, "alice"), "Origin": "http://127.0.0.1"},
                  files={"file": ("p.csv", b"id,prediction\n")})
    assert same.status_code == 201
