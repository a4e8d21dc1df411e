"""Helpers of the live-challenge tests: fake grade functions (module level, so spawned workers
and Dask workers can import them), a roster, and a server on a loopback port in a thread."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

FAKE_RUBRIC = "fake-rubric"


def fake_grade(path: str, **kwargs) -> dict:
    """Grades by the file's first line: ``SLEEP s`` waits, ``DIE`` kills its own process,
    ``CRASH`` raises (a grader error), ``BAD`` is the student's failure; anything else earns
    points from the byte count. Each call appends the file's hash to ``$FAKE_GRADE_LOG``."""
    content = Path(path).read_bytes()
    first = content.split(b"\n", 1)[0].decode(errors="replace")
    log = os.environ.get("FAKE_GRADE_LOG")
    if log:
        with open(log, "a") as f:
            f.write(hashlib.sha256(content).hexdigest() + "\n")
    if first.startswith("SLEEP"):
        time.sleep(float(first.split()[1]))
    if first.startswith("DIE"):
        os.kill(os.getpid(), 9)
    if first.startswith("CRASH"):
        raise RuntimeError("a bug of the grader")
    bad = first.startswith("BAD")
    points = float(len(content) % 97)
    return {"student": Path(path).stem.split("__")[0], "submission": Path(path).name,
            "sha256": hashlib.sha256(content).hexdigest(), "mode": "predictions",
            "status": "failed" if bad else "ok", "reason": "line 2: <b>bad</b> row" if bad else "",
            "points": 0.0 if bad else points, "max_points": 100.0, "tasks": {},
            "rubric_hash": FAKE_RUBRIC, "grader_version": "test", "torch_version": "test",
            "sets": "hidden"}


def write_roster(path: Path, names) -> Path:
    path.write_text("student,email\n" + "".join(f"{n},{n}@example.org\n" for n in names))
    return path


def read_tokens(csv_path: Path) -> dict[str, str]:
    import csv
    with open(csv_path, newline="") as f:
        return {row["student"]: row["token"] for row in csv.DictReader(f)}


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running_app(app):
    """Serve ``app`` on a loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def wait_for(predicate, seconds: float = 60.0, every: float = 0.1):
    """Poll ``predicate`` until it returns something true (returned) or time runs out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {predicate}")


def mixed_grade(path: str, **kwargs):
    """The load test's grade function: the real grader for predictions files, the fake one for
    code zips (running 20 students' code for real would cost minutes of CI)."""
    if path.endswith(".zip"):
        return fake_grade(path)
    from grader.batch import grade_hidden
    return grade_hidden(path, **kwargs)


async def upload_all(url: str, uploads: list[tuple[str, str, bytes]], *, seconds: float = 120.0,
                     connections: int = 64) -> list[tuple[int, float, dict]]:
    """Send every ``(token, file name, bytes)`` at once (at most ``connections`` open);
    ``(status, seconds, body)`` of each, in order. Each upload opens its own connection: a
    pooled one can be closed by the server's keep-alive timer just as it is reused, which
    httpx reports as a ReadError and never retries for a POST (a race of the client's pool,
    not of the server under test)."""
    import asyncio

    import httpx

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=seconds) as client:
        async def one(token, name, content):
            start = time.perf_counter()
            r = await client.post("/api/submissions", headers={"Authorization": f"Bearer {token}"},
                                  files={"file": (name, content)})
            return r.status_code, time.perf_counter() - start, r.json()
        return await asyncio.wait_for(asyncio.gather(*(one(*u) for u in uploads)), seconds)


def prepared_class(tmp_path: Path, students=("alice", "bob")):
    """A live challenge's store prepared for ``students`` under ``tmp_path`` (``challenge serve``'s
    own set-up): the prepared store and every token by student, the instructor's included."""
    from grader.serve.server import prepare

    ready = prepare(tmp_path / "data" / "board.sqlite",
                    write_roster(tmp_path / "roster.csv", list(students)))
    tokens = read_tokens(ready.tokens_csv)
    tokens["instructor"] = ready.instructor_file.read_text().strip()
    return ready, tokens
