"""The web app of a live challenge: browser pages and a JSON API over one :class:`JobQueue`.

:func:`create_app` only composes: the app's state, the routers of :mod:`grader.serve.routes`
(one per audience; who may call what, and the CSRF and Origin checks, are their
dependencies), the error handlers and one middleware for request sizes and security headers.
The app serves no files at all: not the data folder, not the hidden sets, not the uploads.
"""

from __future__ import annotations

import secrets

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from grader.serve.boards import BoardCache
from grader.serve.queue import JobQueue
from grader.serve.routes import admin, session, student_api, student_pages
from grader.serve.routes.deps import CrossSiteRefused, ServeState, same_origin
from grader.serve.tokens import Tokens
from grader.serve.uploads import HTTPProblem, RateWindow, ServeConfig, UploadDesk

_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}

__all__ = ["ServeConfig", "create_app"]


def create_app(queue: JobQueue, tokens: Tokens, config: ServeConfig, *,
               status: callable = lambda: {}) -> FastAPI:
    """The app; ``status()`` adds the dispatcher's state to the instructor's page."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(same_origin)])
    app.state.serve = serve_state(queue, tokens, config, status)
    app.add_exception_handler(session.LoginRefused, session.login_refused)
    app.add_exception_handler(HTTPProblem, problem)
    app.add_exception_handler(CrossSiteRefused, cross_site)
    app.middleware("http")(sizes_and_headers)
    for router in (session.router, student_pages.router, student_api.router, admin.views,
                   admin.api):
        app.include_router(router)
    return app


def serve_state(queue: JobQueue, tokens: Tokens, config: ServeConfig, status) -> ServeState:
    """The parts one app shares between requests; the CSRF key outlives a restart."""
    config.uploads.mkdir(parents=True, exist_ok=True)
    key = queue.setting("csrf_key") or secrets.token_hex(32)
    queue.set_setting("csrf_key", key)
    templates = Environment(loader=PackageLoader("grader.serve", "templates"),
                            autoescape=select_autoescape(default=True, default_for_string=True))
    return ServeState(queue=queue, tokens=tokens, config=config, status=status,
                      templates=templates, csrf_key=key,
                      rate=RateWindow(config.requests_per_minute),
                      desk=UploadDesk(queue, config),
                      boards=BoardCache(queue.path, config.board_cache_s))


async def problem(request: Request, e: HTTPProblem) -> Response:
    """A refusal: JSON for the API, the login page for a browser without a token, else the
    error page."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": e.message}, status_code=e.status)
    if e.status == 401 and request.method == "GET":
        return RedirectResponse("/", status_code=303)
    return request.app.state.serve.page("error.html", e.status, message=e.message)


async def cross_site(request: Request, e: CrossSiteRefused) -> Response:
    return JSONResponse({"error": "cross-site form refused"}, 403)


async def sizes_and_headers(request: Request, call_next):
    """Refuse a body of unknown or too large a size before it is read; add the security
    headers to every answer."""
    config: ServeConfig = request.app.state.serve.config
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
