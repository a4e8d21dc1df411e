"""bench/serve.py's upload driver retries as a real client does, and counts why: a connection
the server dropped without an answer, and a 503 with ``Retry-After``; every upload ends with the
server's real answer. The server here is a stand-in that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "serve.py"


def _driver():
    spec = importlib.util.spec_from_file_location("bench_serve", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.upload_retrying


class Flaky(BaseHTTPRequestHandler):
    """Per token: the first try is dropped unanswered, the second gets 503 (Retry-After: 0),
    the third is stored (201)."""

    tries: dict[str, int] = {}
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            n = self.tries[self.headers["Authorization"]] = \
                self.tries.get(self.headers["Authorization"], 0) + 1
        if n == 1:
            self.close_connection = True       # no answer at all: the client sees it dropped
            return
        status, body = (503, {"error": "busy"}) if n == 2 else (201, {"id": n})
        data = json.dumps(body).encode()
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_the_driver_retries_dropped_connections_and_503s_and_counts_them():
    upload_retrying = _driver()
    Flaky.tries = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        uploads = [(f"token{i}", "p.csv", b"id,prediction\n") for i in range(3)]
        answers, reasons = asyncio.run(upload_retrying(url, uploads, seconds=60))
    finally:
        server.shutdown()
        server.server_close()
    assert [a[0] for a in answers] == [201, 201, 201]
    assert [a[2] for a in answers] == [{"id": 3}] * 3
    assert reasons.pop("503") == 3
    assert sum(reasons.values()) == 3      # the drops, named by httpx's error
    assert set(reasons) <= {"RemoteProtocolError", "ReadError", "WriteError"}
    assert Flaky.tries == {f"Bearer token{i}": 3 for i in range(3)}
