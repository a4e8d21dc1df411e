"""Attacks on the live challenge's app, each written before its defence: CSRF on the admin API,
``Origin: null``, sessions apart from tokens (expiry, logout, rotation), login throttling that
never locks out a valid token, one error shape with the security headers, crafted ids, and
file names that hide their text (bidi controls) or their suffix (a long name)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from support.serve import prepared_class, read_tokens

from grader.serve.app import ServeConfig, create_app
from grader.serve.routes.deps import COOKIE
from grader.serve.tokens import Tokens


@pytest.fixture
def env(tmp_path):
    ready, tokens = prepared_class(tmp_path)

    def client(**config) -> TestClient:
        cfg = ServeConfig(uploads=ready.folder / "uploads", upload_interval_s=0, **config)
        app = create_app(ready.queue, ready.tokens, cfg)
        return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    return {"ready": ready, "tokens": tokens, "client": client, "queue": ready.queue}


def _bearer(env, who):
    return {"Authorization": f"Bearer {env['tokens'][who]}"}


def _login(c, env, who, headers=None):
    value = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)
    return c.post("/login", data={"token": env["tokens"][who], "csrf": value},
                  headers=headers or {}, follow_redirects=False)


def _page_csrf(c, path):
    return re.search(r'name="csrf" value="([0-9a-f]+)"', c.get(path).text).group(1)


def test_the_admin_api_refuses_the_cookie_without_a_csrf_token(env):
    c = env["client"]()
    assert _login(c, env, "instructor").status_code == 303
    for url in ("/api/admin/regrade", "/api/admin/reveal"):
        r = c.post(url)
        assert r.status_code == 403 and "CSRF" in r.json()["error"], url
    assert env["queue"].setting("revealed") != "1"
    csrf = _page_csrf(c, "/admin")
    ok = c.post("/api/admin/regrade", headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200 and ok.json() == {"queued": 0}
    assert c.post("/api/admin/regrade", headers=_bearer(env, "instructor")).status_code == 200


def test_a_post_from_origin_null_is_refused(env):
    c = env["client"]()
    null = {"Origin": "null"}
    r = c.post("/api/admin/regrade", headers={**_bearer(env, "instructor"), **null})
    assert r.status_code == 403 and r.json() == {"error": "cross-site form refused"}
    assert _login(c, env, "alice", headers=null).status_code == 403
    # our own pages keep their Origin on a same-site POST: the policy is not no-referrer
    assert c.get("/").headers["Referrer-Policy"] == "same-origin"


def test_the_session_cookie_is_not_the_token_and_logout_revokes_it(env):
    c = env["client"]()
    r = _login(c, env, "alice")
    session = c.cookies.get(COOKIE)
    assert session and session != env["tokens"]["alice"]
    assert env["tokens"]["alice"] not in r.headers.get("set-cookie", "")
    assert env["tokens"]["alice"].encode() not in env["queue"].path.read_bytes()
    assert session.encode() not in env["queue"].path.read_bytes()     # stored hashed
    csrf = _page_csrf(c, "/me")
    assert c.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    stolen = TestClient(c.app, base_url="http://127.0.0.1", cookies={COOKIE: session})
    assert stolen.get("/api/status").status_code == 401            # the copy is dead too
    assert c.get("/api/status", headers=_bearer(env, "alice")).status_code == 200


def test_a_session_expires(env):
    c = env["client"](session_seconds=60)
    _login(c, env, "bob")
    assert c.get("/api/status").json()["student"] == "bob"
    queue = env["queue"]
    real = queue.clock
    queue.clock = lambda: real() + 61
    try:
        assert c.get("/api/status").status_code == 401
    finally:
        queue.clock = real


def test_rotating_a_token_refuses_the_old_one_and_its_sessions(env):
    c = env["client"]()
    _login(c, env, "alice")
    old = env["tokens"]["alice"]
    path = env["ready"].tokens.rotate("alice", env["ready"].folder)
    new = read_tokens(path)["alice"]
    assert new != old and path.stat().st_mode & 0o077 == 0
    assert c.get("/api/status").status_code == 401                    # its session is gone
    assert c.get("/api/status", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert c.get("/api/status", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    other = Tokens(env["queue"])                                      # another process sees it
    assert other.identify(new).student == "alice" and other.identify(old) is None


def test_rotating_an_unknown_student_is_one_clear_error(env):
    from challenge.errors import ChallengeError

    with pytest.raises(ChallengeError, match="no token for 'zed'"):
        env["ready"].tokens.rotate("zed", env["ready"].folder)


def test_login_throttling_never_locks_out_a_valid_token(env):
    c = env["client"](login_failures_per_minute=3)
    codes = [_login_with(c, "guess").status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert _login(c, env, "alice").status_code == 303


def _login_with(c, token, headers=None):
    value = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)
    return c.post("/login", data={"token": token, "csrf": value}, headers=headers or {},
                  follow_redirects=False)


def test_login_throttling_is_per_client_behind_a_trusted_proxy(env):
    trusted = env["client"](login_failures_per_minute=2, forwarded_allow_ips="*")
    one, two = {"X-Forwarded-For": "203.0.113.1"}, {"X-Forwarded-For": "203.0.113.2"}
    assert [_login_with(trusted, "x", one).status_code for _ in range(3)] == [401, 401, 429]
    assert _login_with(trusted, "x", two).status_code == 401          # not the same client
    direct = env["client"](login_failures_per_minute=2)               # no proxy trusted
    assert [_login_with(direct, "x", one).status_code for _ in range(2)] == [401, 401]
    assert _login_with(direct, "x", two).status_code == 429           # a header is not a client


def test_errors_share_one_shape_and_carry_the_security_headers(env, monkeypatch):
    c = env["client"](max_upload_bytes=1000)
    cases = [("GET", "/api/submissions/99999999999999999999", 404),
             ("GET", "/api/submissions/-1", 404), ("GET", "/api/submissions/abc", 404),
             ("GET", "/api/nothing", 404), ("PUT", "/api/status", 405)]
    for method, url, code in cases:
        r = c.request(method, url, headers=_bearer(env, "alice"))
        assert r.status_code == code and set(r.json()) == {"error"}, (url, r.text)
        assert "Content-Security-Policy" in r.headers and r.headers["X-Content-Type-Options"]
    big = c.post("/api/submissions", headers=_bearer(env, "alice"),
                 files={"file": ("p.csv", b"x" * 200_000)})
    assert big.status_code == 413 and "Content-Security-Policy" in big.headers
    page = c.get("/me/submissions/99999999999999999999", headers=_bearer(env, "alice"))
    assert page.status_code == 404 and "Content-Security-Policy" in page.headers

    def broken(*a, **k):
        raise RuntimeError("a bug of ours at /srv/secret/path")
    monkeypatch.setattr(env["queue"], "jobs", broken)
    r = c.get("/api/status", headers=_bearer(env, "alice"))
    assert r.status_code == 500 and set(r.json()) == {"error"}
    assert "/srv/secret" not in r.text and "Content-Security-Policy" in r.headers


def test_file_names_lose_bidi_controls_and_keep_their_suffix(env):
    c = env["client"]()
    sneaky = "report\u202ecod.zip\u202c.csv"
    r = c.post("/api/submissions", headers=_bearer(env, "alice"),
               files={"file": (sneaky, b"id,prediction\n")})
    assert r.status_code == 201, r.text
    long = "a" * 296 + ".csv"
    r = c.post("/api/submissions", headers=_bearer(env, "bob"),
               files={"file": (long, b"id,prediction\n")})
    assert r.status_code == 201, r.text
    first, second = env["queue"].jobs()
    assert first.filename == "reportcod.zip.csv" and first.stored.endswith(".csv")
    assert second.filename.endswith(".csv") and len(second.filename) <= 200
    page = c.get("/admin", headers=_bearer(env, "instructor")).text
    assert "\u202e" not in page and "reportcod.zip.csv" in page
