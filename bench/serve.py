"""Benchmark of the live challenge: prints one JSON object.

``--students`` students (default 200) upload a predictions file each, all at once, over
loopback to a ``challenge serve`` process (the real grader, the real hidden sets), once per
grading engine: 1 local worker, 2 local workers, and a Dask LocalCluster of 2 worker processes.
Per engine:

- ``upload_p50_ms`` / ``upload_p95_ms``: latency of one upload (POST until the 201 answer);
- ``uploads_seconds``: from the first upload sent to the last answered;
- ``grading_seconds``: from the first upload sent until every submission was graded (polled
  every 0.5 s through the instructor's status), including the workers' start;
- ``throughput_per_s``: submissions graded per second over ``grading_seconds``;
- ``graded`` / ``failed``: how the submissions ended (every one must be graded once);
- ``retries``: uploads sent again, as a real client does: after a lost connection (a read or
  connect error) or a 429/502/503/504 answer, waiting ``Retry-After`` when the server says,
  else 0.5 s doubling, at most 6 tries; ``retried_because`` counts the reasons, and
  ``duplicates`` the extra submissions a retry made when the first try had been stored after
  all (its answer lost).

The hidden sets are made afresh from a throwaway secret in a temporary copy of the data folder
(``--data-dir``, which must hold the parsed spam corpus), so an instructor's own are never touched.

    python bench/serve.py [--data-dir data] [--students 200] [--engines local-1,local-2,dask-2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("CHALLENGE_QUIET", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))   # the load driver the tests use too

SERVER = """
import sys
from grader.serve.server import serve
serve(host="127.0.0.1", port=int(sys.argv[1]), db=sys.argv[2], roster=sys.argv[3],
      data_dir=sys.argv[4], daily_limit=None, workers=int(sys.argv[5]),
      dask=sys.argv[6] or None, echo=lambda s: None)
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, token: str) -> list[dict]:
    import httpx
    r = httpx.get(url + "/api/status", params={"board": "false"},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return r.json()["submissions"]


RETRY_STATUS = (429, 502, 503, 504)


async def upload_retrying(url: str, uploads: list[tuple[str, str, bytes]], *, seconds: float,
                          connections: int = 64, tries: int = 6) -> tuple[list, dict]:
    """Send every ``(token, file name, bytes)`` at once (at most ``connections`` open),
    retrying as a real client does; ``(status, seconds, body)`` of each final answer, and the
    count of retries by reason."""
    import httpx

    reasons: dict[str, int] = {}
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=seconds) as client:
        async def one(token, name, content):
            start, pause = time.perf_counter(), 0.5
            for attempt in range(tries):
                try:
                    r = await client.post("/api/submissions", files={"file": (name, content)},
                                          headers={"Authorization": f"Bearer {token}"})
                except httpx.TransportError as e:   # the connection was lost: send it again
                    if attempt == tries - 1:
                        raise
                    why, wait = type(e).__name__, pause
                else:
                    if r.status_code not in RETRY_STATUS or attempt == tries - 1:
                        return r.status_code, time.perf_counter() - start, r.json()
                    why = str(r.status_code)
                    wait = float(r.headers.get("retry-after", pause))
                reasons[why] = reasons.get(why, 0) + 1
                await asyncio.sleep(wait)
                pause *= 2
        answers = await asyncio.wait_for(asyncio.gather(*(one(*u) for u in uploads)), seconds)
    return answers, reasons


def run_engine(root: Path, data: Path, files: dict[str, bytes], workers: int, dask: str) -> dict:
    import httpx

    run = root / f"run-{workers}-{'dask' if dask else 'local'}"
    run.mkdir()
    roster = run / "roster.csv"
    roster.write_text("student\n" + "".join(f"{s}\n" for s in files))
    port, db = _port(), run / "leaderboard.sqlite"
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(db), str(roster),
                               str(data), str(workers), dask], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start (exit code {server.poll()})")
            time.sleep(0.2)
        import csv
        with open(run / "serve" / "tokens.csv", newline="") as f:
            tokens = {r["student"]: r["token"] for r in csv.DictReader(f)}
        instructor = (run / "serve" / "instructor-token.txt").read_text().strip()
        start = time.perf_counter()
        answers, reasons = asyncio.run(upload_retrying(
            url, [(tokens[s], "predictions.csv", c) for s, c in files.items()], seconds=600))
        uploaded = time.perf_counter() - start
        if any(a[0] != 201 for a in answers):
            raise SystemExit(f"uploads refused: {[a for a in answers if a[0] != 201][:3]}")
        give_up = time.monotonic() + 1800
        while True:
            subs = _status(url, instructor)
            if all(s["state"] in ("graded", "failed") for s in subs) or time.monotonic() > give_up:
                break
            time.sleep(0.5)
        graded = time.perf_counter() - start
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    latencies = sorted(a[1] * 1000 for a in answers)
    done = sum(s["state"] == "graded" for s in subs)
    return {"upload_p50_ms": round(statistics.median(latencies), 1),
            "upload_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
            "uploads_seconds": round(uploaded, 2), "grading_seconds": round(graded, 2),
            "throughput_per_s": round(done / graded, 2), "graded": done,
            "failed": sum(s["state"] == "failed" for s in subs),
            "retries": sum(reasons.values()), "retried_because": reasons,
            "duplicates": max(0, len(subs) - len(files))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CHALLENGE_DATA_DIR", "data"))
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--engines", default="local-1,local-2,dask-2")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random predictions")
    args = parser.parse_args()
    corpus = Path(args.data_dir) / "corpora" / "spam"
    if not (corpus / "meta.json").is_file():
        raise SystemExit(f"no parsed spam corpus in {corpus}: run `challenge data fetch spam`")
    from grader.hidden import hidden_spam, make_hidden

    root = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        data = root / "data"
        shutil.copytree(corpus, data / "corpora" / "spam")
        make_hidden(secret_file=root / "secret", data_dir=data, new=True)
        ids = hidden_spam(data).ids
        rng = random.Random(args.seed)
        files = {f"student{i:03d}": ("id,prediction\n" + "".join(
            f"{m},{rng.random():.4f}\n" for m in ids)).encode() for i in range(args.students)}
        out = {"students": args.students, "hidden_messages": len(ids),
               "cpus": os.cpu_count(), "engines": {}}
        for engine in args.engines.split(","):
            kind, n = engine.split("-")
            if kind == "dask":
                from distributed import LocalCluster
                with LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
                    out["engines"][engine] = run_engine(root, data, files, 2,
                                                        cluster.scheduler_address)
            else:
                out["engines"][engine] = run_engine(root, data, files, int(n), "")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
