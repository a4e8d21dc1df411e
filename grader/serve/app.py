"""The web app of a live challenge: browser pages and a JSON API over one :class:`JobQueue`.

Who you are comes from your token: ``Authorization: Bearer TOKEN`` (the CLI) or the cookie the
login form sets (a browser). Browser forms carry a CSRF token derived from yours; the API needs
none (browsers never add that header by themselves). Every page is a Jinja2 template with
autoescaping, so names, file names and messages students wrote are shown as text. The app
serves no files at all: not the data folder, not the hidden sets, not the uploads.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from grader.serve.queue import JobQueue
from grader.serve.tokens import Identity, Tokens
from grader.serve.uploads import (HTTPProblem, RateWindow, ServeConfig, UploadDesk,  # noqa: F401
                                  disk_problem)

COOKIE = "challenge_token"
LOGIN_COOKIE = "challenge_login"
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


def create_app(queue: JobQueue, tokens: Tokens, config: ServeConfig, *,
               status: callable = lambda: {}) -> FastAPI:
    """The app; ``status()`` adds the dispatcher's state to the instructor's page. Handlers
    that only read the store are plain functions, so they run in the thread pool."""
    from grader.serve.boards import BoardCache

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("grader.serve", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    config.uploads.mkdir(parents=True, exist_ok=True)
    key = queue.setting("csrf_key") or secrets.token_hex(32)
    queue.set_setting("csrf_key", key)
    rate, desk = RateWindow(config.requests_per_minute), UploadDesk(queue, config)
    boards = BoardCache(queue.path, config.board_cache_s)

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
        origin = request.headers.get("origin")
        if (request.method == "POST" and origin and origin != "null"
                and urlsplit(origin).netloc != request.headers.get("host")):
            return JSONResponse({"error": "cross-site form refused"}, 403)   # defence in depth
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    async def store_upload(request: Request, ident: Identity, by_cookie: bool) -> int:
        desk.check_open(ident)
        try:
            form = await request.form(max_files=1, max_fields=4)
        except OSError as e:
            raise disk_problem(e) from None
        await check_csrf(request, ident, by_cookie, form)
        # hashing, fsync and the queue's transaction off the event loop: other uploads go on
        return await run_in_threadpool(desk.store, ident, form.get("file"))

    def own_job(ident: Identity, job_id: int):
        job = queue.job(job_id)
        if job is None or (job.student != ident.student and not ident.instructor):
            raise HTTPProblem(404, f"no submission {job_id} of yours")
        return job

    # --- browser pages ------------------------------------------------------------------------

    @app.get("/", response_class=HTMLResponse)
    def login_page(request: Request):
        ident, _ = who(request)
        if ident is not None:
            return RedirectResponse("/admin" if ident.instructor else "/me", status_code=303)
        return login_form(request, 200, "")

    def login_form(request: Request, status_code: int, message: str) -> HTMLResponse:
        """The form, with a fresh login CSRF value in a cookie and in the form (double submit:
        another site can post to /login but can neither read nor set that cookie)."""
        value = secrets.token_urlsafe(24)
        response = page("login.html", status_code, message=message, login_csrf=value)
        response.set_cookie(LOGIN_COOKIE, value, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    @app.post("/login")
    async def login(request: Request):
        if not rate.allow(f"ip:{request.client.host if request.client else ''}"):
            raise HTTPProblem(429, "too many attempts; wait a minute")
        form = await request.form(max_files=0, max_fields=3)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
            return login_form(request, 403, "the login form is out of date; log in again")
        ident = tokens.identify(str(form.get("token", "")).strip())
        if ident is None:
            return login_form(request, 401, "that token is not valid")
        response = RedirectResponse("/admin" if ident.instructor else "/me", status_code=303)
        response.delete_cookie(LOGIN_COOKIE)
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
    def me(request: Request):
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
    def report_page(request: Request, job_id: int):
        ident, _ = need(request)
        return page("report.html", job=own_job(ident, job_id), ident=ident, csrf=csrf_for(ident))

    @app.get("/board", response_class=HTMLResponse)
    def board_page(request: Request, part: str | None = None):
        ident, _ = need(request)
        return page("board.html", board=board_view(ident, part), ident=ident, csrf=csrf_for(ident))

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request):
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
    def api_status(request: Request, board: bool = True):
        ident, _ = need(request)
        jobs = queue.jobs(None if ident.instructor else ident.student)
        return {"student": ident.student, "role": ident.role,
                "submissions": [j.public() | ({"student": j.student, "detail": j.detail}
                                              if ident.instructor else {}) for j in jobs],
                "used_today": queue.used_today(ident.student), "daily_limit": config.daily_limit,
                "deadline": config.deadline.isoformat() if config.deadline else None,
                "board": board_view(ident) if board else None}

    @app.get("/api/submissions/{job_id}")
    def api_report(request: Request, job_id: int):
        ident, _ = need(request)
        job = own_job(ident, job_id)
        return {**job.public(), "report": job.summary}

    @app.post("/api/admin/reveal")
    def api_reveal(request: Request):
        need(request, instructor=True)
        queue.set_setting("revealed", "1")
        return {"revealed": True}

    @app.post("/api/admin/regrade")
    def api_regrade(request: Request):
        need(request, instructor=True)
        return {"queued": queue.regrade_all()}

    @app.get("/api/admin/board")
    def api_board(request: Request, part: str = "private"):
        ident, _ = need(request, instructor=True)
        return board_view(ident, "private" if part == "private" else "public")

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    return app
