"""The web app of a live challenge: browser pages and a JSON API over one :class:`JobQueue`.

Who you are comes from your token: ``Authorization: Bearer TOKEN`` (the CLI) or the cookie the
login form sets (a browser). Browser forms carry a CSRF token derived from yours; the API needs
none (browsers never add that header by themselves). Every page is a Jinja2 template with
autoescaping, so names, file names and messages students wrote are shown as text. The app
serves no files at all: not the data folder, not the hidden sets, not the uploads.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import secrets
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from grader.serve.queue import JobQueue, LimitReached
from grader.serve.tokens import Identity, Tokens

COOKIE = "challenge_token"
SUFFIXES = (".zip", ".csv")
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


@dataclass(frozen=True)
class ServeConfig:
    uploads: Path                        # where uploads are kept (never served)
    deadline: datetime | None = None     # uploads refused from then on
    daily_limit: int | None = 5          # uploads counted per student per UTC day
    max_upload_bytes: int = 120 << 20
    upload_interval_s: float = 5.0       # at most one upload per student this often
    requests_per_minute: int = 240       # per token (or per address, without one)
    min_free_bytes: int = 64 << 20       # disk space kept free after an upload
    board_cache_s: float = 2.0


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class _Rate:
    """A sliding one-minute window of request times per key."""

    def __init__(self, per_minute: int):
        self.per_minute, self._hits, self._lock = per_minute, {}, threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = [t for t in self._hits.get(key, []) if now - t < 60.0]
            ok = len(hits) < self.per_minute
            self._hits[key] = hits + [now] if ok else hits
            return ok


def create_app(queue: JobQueue, tokens: Tokens, config: ServeConfig, *,
               status: callable = lambda: {}) -> FastAPI:
    """The app; ``status()`` adds the dispatcher's state to the instructor's page."""
    from grader.serve.boards import BoardCache

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("grader.serve", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    config.uploads.mkdir(parents=True, exist_ok=True)
    key = queue.setting("csrf_key") or secrets.token_hex(32)
    queue.set_setting("csrf_key", key)
    rate, last_upload, boards = _Rate(config.requests_per_minute), {}, BoardCache(queue.path,
                                                                                  config.board_cache_s)

    def csrf_for(ident: Identity) -> str:
        return hmac.new(key.encode(), ident.token_hash.encode(), hashlib.sha256).hexdigest()

    def page(name: str, status_code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status_code)

    def who(request: Request) -> tuple[Identity | None, bool]:
        """The identity, and whether it came from the cookie (then forms need CSRF)."""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return tokens.identify(auth[7:].strip()), False
        return tokens.identify(request.cookies.get(COOKIE)), True

    def need(request: Request, *, instructor: bool = False) -> tuple[Identity, bool]:
        ident, by_cookie = who(request)
        if ident is None:
            raise HTTPProblem(401, "no valid token: log in with the token your instructor sent you")
        if instructor and not ident.instructor:
            raise HTTPProblem(403, "this needs the instructor's token")
        if not rate.allow(ident.token_hash):
            raise HTTPProblem(429, "too many requests; wait a minute")
        return ident, by_cookie

    async def check_csrf(request: Request, ident: Identity, by_cookie: bool, form=None) -> None:
        if not by_cookie:
            return
        form = form if form is not None else await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), csrf_for(ident)):
            raise HTTPProblem(403, "the form is out of date (CSRF check failed); reload the page "
                                   "and try again")

    def board_view(ident: Identity | None, part: str | None = None) -> dict:
        revealed = queue.setting("revealed") == "1"
        part = part if (part and ident and ident.instructor) else ("private" if revealed else "public")
        return {**boards.get(part), "revealed": revealed}

    @app.exception_handler(HTTPProblem)
    async def problem(request: Request, e: HTTPProblem) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": e.message}, status_code=e.status)
        if e.status == 401 and request.method == "GET":
            return RedirectResponse("/", status_code=303)
        return page("error.html", e.status, message=e.message)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        length = request.headers.get("content-length")
        if request.method == "POST" and length is None and request.headers.get("transfer-encoding"):
            return JSONResponse({"error": "send a Content-Length (no chunked uploads)"}, 411)
        if length is not None and (not length.isdigit() or
                                   int(length) > config.max_upload_bytes + (64 << 10)):
            return JSONResponse({"error": f"upload too large: at most "
                                          f"{config.max_upload_bytes >> 20} MB"}, 413)
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    async def store_upload(request: Request, ident: Identity, by_cookie: bool) -> int:
        if ident.instructor:
            raise HTTPProblem(403, "the instructor's token cannot submit; use a student's")
        if config.deadline is not None and datetime.now(timezone.utc) >= config.deadline:
            raise HTTPProblem(403, f"the deadline ({config.deadline.isoformat()}) has passed; "
                                   f"uploads are closed")
        try:
            form = await request.form(max_files=1, max_fields=4)
        except OSError as e:
            raise _disk_problem(e) from None
        await check_csrf(request, ident, by_cookie, form)
        upload = form.get("file")
        if upload is None or isinstance(upload, str) or not upload.filename:
            raise HTTPProblem(400, "no file in the upload: send the form field 'file'")
        filename = Path(upload.filename.replace("\\", "/")).name[:200]
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise HTTPProblem(400, f"{filename!r} is neither a .zip from `challenge submit` nor a "
                                   f"predictions .csv")
        now = time.monotonic()
        if now - last_upload.get(ident.student, -1e9) < config.upload_interval_s:
            raise HTTPProblem(429, f"one upload every {config.upload_interval_s:g} s; wait a "
                                   f"moment and try again")
        if config.daily_limit is not None and queue.used_today(ident.student) >= config.daily_limit:
            raise HTTPProblem(429, f"daily limit reached: {config.daily_limit} submissions today "
                                   f"(UTC); submit again tomorrow")
        size = upload.size or 0
        if size == 0:
            raise HTTPProblem(400, f"{filename!r} is empty")
        if shutil.disk_usage(config.uploads).free - size < config.min_free_bytes:
            raise HTTPProblem(507, "the server's disk is full, so nothing was stored; tell your "
                                   "instructor and try again later")
        stored = f"{ident.student}__{uuid.uuid4().hex[:12]}{suffix}"
        target = config.uploads / stored
        sha = save_stream(upload.file, target)
        last_upload[ident.student] = now
        try:
            return queue.enqueue(ident.student, filename, stored, sha, daily_limit=config.daily_limit)
        except LimitReached as e:
            target.unlink(missing_ok=True)
            raise HTTPProblem(429, str(e)) from None
        except sqlite3.Error as e:
            target.unlink(missing_ok=True)
            raise HTTPProblem(507, f"the server could not queue the upload ({e}); nothing was "
                                   f"stored; try again later") from None

    def own_job(ident: Identity, job_id: int):
        job = queue.job(job_id)
        if job is None or (job.student != ident.student and not ident.instructor):
            raise HTTPProblem(404, f"no submission {job_id} of yours")
        return job

    # --- browser pages ------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    async def login_page(request: Request):
        ident, _ = who(request)
        if ident is not None:
            return RedirectResponse("/admin" if ident.instructor else "/me", status_code=303)
        return page("login.html", message="")

    @app.post("/login")
    async def login(request: Request):
        if not rate.allow(f"ip:{request.client.host if request.client else ''}"):
            raise HTTPProblem(429, "too many attempts; wait a minute")
        form = await request.form(max_files=0, max_fields=2)
        ident = tokens.identify(str(form.get("token", "")).strip())
        if ident is None:
            return page("login.html", 401, message="that token is not valid")
        response = RedirectResponse("/admin" if ident.instructor else "/me", status_code=303)
        response.set_cookie(COOKIE, str(form.get("token")).strip(), httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    @app.post("/logout")
    async def logout(request: Request):
        ident, by_cookie = need(request)
        await check_csrf(request, ident, by_cookie)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/me", response_class=HTMLResponse)
    async def me(request: Request):
        ident, _ = need(request)
        if ident.instructor:
            return RedirectResponse("/admin", status_code=303)
        jobs = queue.jobs(ident.student)
        return page("student.html", ident=ident, jobs=list(reversed(jobs)), csrf=csrf_for(ident),
                    pending=any(j.state in ("queued", "running") for j in jobs),
                    used=queue.used_today(ident.student), config=config)

    @app.post("/me/upload")
    async def upload_form(request: Request):
        ident, by_cookie = need(request)
        await store_upload(request, ident, by_cookie)
        return RedirectResponse("/me", status_code=303)

    @app.get("/me/submissions/{job_id}", response_class=HTMLResponse)
    async def report_page(request: Request, job_id: int):
        ident, _ = need(request)
        return page("report.html", job=own_job(ident, job_id), ident=ident, csrf=csrf_for(ident))

    @app.get("/board", response_class=HTMLResponse)
    async def board_page(request: Request, part: str | None = None):
        ident, _ = need(request)
        return page("board.html", board=board_view(ident, part), ident=ident, csrf=csrf_for(ident))

    @app.get("/admin", response_class=HTMLResponse)
    async def admin(request: Request):
        ident, _ = need(request, instructor=True)
        return page("admin.html", ident=ident, jobs=list(reversed(queue.jobs())),
                    counts=queue.counts_by_state(), csrf=csrf_for(ident), status=status(),
                    revealed=queue.setting("revealed") == "1", students=len(tokens.students()))

    @app.post("/admin/reveal")
    async def reveal_form(request: Request):
        ident, by_cookie = need(request, instructor=True)
        await check_csrf(request, ident, by_cookie)
        queue.set_setting("revealed", "1")
        return RedirectResponse("/admin", status_code=303)

    @app.post("/admin/regrade")
    async def regrade_form(request: Request):
        ident, by_cookie = need(request, instructor=True)
        await check_csrf(request, ident, by_cookie)
        queue.regrade_all()
        return RedirectResponse("/admin", status_code=303)

    # --- the JSON API (challenge submit --to, challenge status --to) -------------------------

    @app.post("/api/submissions", status_code=201)
    async def api_submit(request: Request):
        ident, by_cookie = need(request)
        job_id = await store_upload(request, ident, by_cookie)
        return {"id": job_id, "state": "queued", "student": ident.student}

    @app.get("/api/status")
    async def api_status(request: Request, board: bool = True):
        ident, _ = need(request)
        jobs = queue.jobs(None if ident.instructor else ident.student)
        return {"student": ident.student, "role": ident.role,
                "submissions": [j.public() | ({"student": j.student} if ident.instructor else {})
                                for j in jobs],
                "used_today": queue.used_today(ident.student), "daily_limit": config.daily_limit,
                "deadline": config.deadline.isoformat() if config.deadline else None,
                "board": board_view(ident) if board else None}

    @app.get("/api/submissions/{job_id}")
    async def api_report(request: Request, job_id: int):
        ident, _ = need(request)
        job = own_job(ident, job_id)
        return {**job.public(), "report": job.summary}

    @app.post("/api/admin/reveal")
    async def api_reveal(request: Request):
        need(request, instructor=True)
        queue.set_setting("revealed", "1")
        return {"revealed": True}

    @app.post("/api/admin/regrade")
    async def api_regrade(request: Request):
        need(request, instructor=True)
        return {"queued": queue.regrade_all()}

    @app.get("/api/admin/board")
    async def api_board(request: Request, part: str = "private"):
        ident, _ = need(request, instructor=True)
        return board_view(ident, "private" if part == "private" else "public")

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app


def save_stream(source, target: Path, chunk: int = 1 << 20) -> str:
    """Copy ``source`` to ``target`` through a temporary file beside it; its sha256.
    On any error (a full disk) nothing is left behind."""
    tmp = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        source.seek(0)
        with open(tmp, "wb") as f:
            while block := source.read(chunk):
                digest.update(block)
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise _disk_problem(e) from None
    return digest.hexdigest()


def _disk_problem(e: OSError) -> HTTPProblem:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return HTTPProblem(507, "the server's disk is full, so nothing was stored; tell your "
                                "instructor and try again later")
    return HTTPProblem(500, f"the server could not store the upload ({e.strerror or e}); "
                            f"nothing was stored; try again later")
