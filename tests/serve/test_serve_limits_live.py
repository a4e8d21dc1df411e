"""The upload rules against a real server on a loopback port: they hold when one student sends
ten uploads at once, and they refuse before the body is read (a client that sends the headers
of a large upload and then nothing more still gets its answer, and nothing is stored). Also
the rest of #32's "against a running server": the instructor's cookie alone cannot regrade,
and a crafted huge id is a 404."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from support.serve import prepared_class, running_app

from grader.serve.app import ServeConfig, create_app


@pytest.fixture
def live(tmp_path):
    ready, tokens = prepared_class(tmp_path, ["alice", "bob", "carol"])
    uploads = ready.folder / "uploads"
    config = ServeConfig(uploads=uploads, upload_interval_s=5.0, daily_limit=50,
                         quota_bytes=10_000)
    with running_app(create_app(ready.queue, ready.tokens, config)) as url:
        yield {"url": url, "tokens": tokens, "queue": ready.queue, "uploads": uploads}


def _upload(url, token, content, name="p.csv"):
    return httpx.post(url + "/api/submissions", headers={"Authorization": f"Bearer {token}"},
                      files={"file": (name, content)}, timeout=30)


def test_ten_parallel_uploads_from_one_student_give_exactly_one_201(live):
    token = live["tokens"]["alice"]
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: _upload(live["url"], token, b"id,prediction\n%d\n" % i),
                                range(10)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [429] * 9, codes
    assert all(1 <= int(r.headers["Retry-After"]) <= 5 for r in answers if r.status_code == 429)
    assert len(live["queue"].jobs("alice")) == 1
    assert len(list(live["uploads"].iterdir())) == 1


def _headers_only(url: str, token: str, length: int) -> str:
    """Send the head of an upload of ``length`` bytes and 100 bytes of its body, then wait for
    the answer without sending the rest; the status line and body of the answer."""
    where = urlsplit(url)
    boundary = "b0undary"
    head = (f"POST /api/submissions HTTP/1.1\r\nHost: {where.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {length}\r\n\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\""
            f"\r\nContent-Type: text/csv\r\n\r\n")
    with socket.create_connection((where.hostname, where.port), timeout=20) as sock:
        sock.sendall(head.encode() + b"x" * 100)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            block = sock.recv(4096)    # a socket timeout here fails the test: no answer came
            if not block:
                break
            answer += block
    return answer.decode(errors="replace")


def test_an_upload_over_the_quota_is_refused_before_its_body_is_read(live):
    answer = _headers_only(live["url"], live["tokens"]["bob"], 50_000)
    assert answer.startswith("HTTP/1.1 413") and "storage quota" in answer, answer
    assert list(live["uploads"].iterdir()) == [] and live["queue"].jobs() == []
    assert _upload(live["url"], live["tokens"]["bob"], b"x" * 6000).status_code == 201
    # the second is under the size limit but over what is left of bob's quota
    assert "storage quota" in _headers_only(live["url"], live["tokens"]["bob"], 6000)
    assert len(live["queue"].jobs("bob")) == 1


def test_the_interval_is_checked_before_the_body_is_read(live):
    assert _upload(live["url"], live["tokens"]["carol"], b"id,prediction\n").status_code == 201
    answer = _headers_only(live["url"], live["tokens"]["carol"], 9000)
    assert answer.startswith("HTTP/1.1 429") and "one upload every 5 s" in answer, answer


def test_the_cli_warns_before_sending_a_token_over_plain_http(live, monkeypatch):
    from challenge.cli import main

    monkeypatch.setattr("challenge.remote.TIMEOUT", 0.5)   # 192.0.2.1 is a documentation address
    run = CliRunner().invoke(main, ["status", "--to", "http://192.0.2.1:9", "--token", "x"])
    assert "Warning: http://192.0.2.1:9 is plain http" in run.output
    run = CliRunner().invoke(main, ["status", "--to", live["url"], "--token",
                                    live["tokens"]["alice"]])
    assert run.exit_code == 0 and "Warning" not in run.output      # loopback: nothing to warn


def test_the_instructors_cookie_alone_cannot_regrade_or_reveal(live):
    """The forged request a page of another site could make: the session cookie, no CSRF."""
    import re

    with httpx.Client(base_url=live["url"], timeout=30) as browser:
        login = re.search(r'name="csrf" value="([^"]+)"', browser.get("/").text).group(1)
        browser.post("/login", data={"token": live["tokens"]["instructor"], "csrf": login})
        assert browser.cookies                                    # signed in by cookie
        live["queue"].enqueue("alice", "a.csv", "alice__a.csv", "sha-a")
        for path in ("/api/admin/regrade", "/api/admin/regrade?student=alice",
                     "/api/admin/reveal?force=true"):
            r = browser.post(path)
            assert r.status_code == 403 and "CSRF" in r.json()["error"], path
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', browser.get("/admin").text).group(1)
        forged = browser.post("/api/admin/regrade", headers={"X-CSRF-Token": csrf,
                                                             "Origin": "null"})
        assert forged.status_code == 403
        assert browser.post("/api/admin/regrade", headers={"X-CSRF-Token": csrf}).json() == {
            "queued": 0}                                          # the page's own POST works
    assert live["queue"].setting("revealed") != "1"
    assert [j.regrade_of for j in live["queue"].jobs()] == [None]


def test_a_crafted_huge_id_is_a_404_with_the_security_headers(live):
    alice = {"Authorization": f"Bearer {live['tokens']['alice']}"}
    for path in ("/api/submissions/99999999999999999999", "/api/submissions/-1",
                 "/me/submissions/99999999999999999999"):
        r = httpx.get(live["url"] + path, headers=alice, timeout=30)
        assert r.status_code == 404, (path, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff", path
    assert "error" in httpx.get(live["url"] + "/api/submissions/99999999999999999999",
                                headers=alice, timeout=30).json()
