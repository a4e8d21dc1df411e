"""The web app of a live challenge: browser pages and a JSON API over one :class:`JobQueue`.

:func:`create_app` only composes: the app's state, the routers of :mod:`grader.serve.routes`
(one per audience; who may call what, and the CSRF and Origin checks, are their
dependencies), the error handlers and one middleware for request sizes and security headers.
Every refusal and failure is ``{"error": ...}`` (JSON routes) or the error page, with the same
security headers as any answer; an error of ours never shows its text.
The app serves no files at all: not the data folder, not the hidden sets, not the uploads.
"""

from __future__ import annotations

import logging
import math
import secrets

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.serve.boards import BoardCache
from grader.serve.queue import JobQueue
from grader.serve.review import IdenticalReview
from grader.serve.routes import admin, session, student_api, student_pages
from grader.serve.routes.deps import CrossSiteRefused, ServeState, same_origin
from grader.serve.tokens import Tokens
from grader.serve.uploads import HTTPProblem, RateWindow, ServeConfig, UploadDesk

_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "form-action 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
            # not no-referrer: with it a browser sends `Origin: null` on our own forms' POSTs,
            # which the Origin check refuses; same-origin sends no Referer to other sites
            "Referrer-Policy": "same-origin"}
_PAGES = {"/", "/login", "/logout", "/me", "/board", "/admin"}   # first parts of pages' paths
_LOG = logging.getLogger("challenge.serve")

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
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, our_error)
    app.middleware("http")(sizes_and_headers)
    if config.forwarded_allow_ips:    # outermost: the client's address, as the proxy saw it
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=config.forwarded_allow_ips)
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
                      login_rate=RateWindow(config.login_failures_per_minute),
                      desk=UploadDesk(queue, config),
                      boards=BoardCache(queue.path, config.board_cache_s),
                      review=IdenticalReview(queue, config.uploads))


def refusal(request: Request, status: int, message: str,
            retry_after: float | None = None) -> Response:
    """One shape for every refusal: ``{"error": message}`` for the API (and any path that is no
    page of ours), the error page for a browser's page; always with the security headers."""
    first = "/" + request.url.path.strip("/").split("/")[0]
    if first not in _PAGES:
        response = JSONResponse({"error": message}, status_code=status)
    else:
        response = request.app.state.serve.page("error.html", status, message=message)
    response.headers.update(_HEADERS)
    if retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


async def problem(request: Request, e: HTTPProblem) -> Response:
    """A refusal: JSON for the API, the login page for a browser without a token, else the
    error page."""
    if e.status == 401 and request.method == "GET" and not request.url.path.startswith("/api/"):
        return RedirectResponse("/", status_code=303)
    return refusal(request, e.status, e.message, e.retry_after)


async def cross_site(request: Request, e: CrossSiteRefused) -> Response:
    return refusal(request, 403, "cross-site form refused")


async def http_error(request: Request, e: StarletteHTTPException) -> Response:
    """Routing's own refusals (no such path: 404, a method it does not take: 405)."""
    words = {404: "no such page or API call", 405: f"{request.method} is not allowed here"}
    return refusal(request, e.status_code, words.get(e.status_code, str(e.detail)))


async def invalid_request(request: Request, e: RequestValidationError) -> Response:
    where = "; ".join(".".join(str(p) for p in err.get("loc", ())) for err in e.errors()[:3])
    return refusal(request, 400, f"the request is malformed ({where or 'its parameters'})")


async def our_error(request: Request, e: Exception) -> Response:
    """An exception of ours: logged for the instructor, a plain 500 for the caller (never the
    exception's text: it may name our paths)."""
    _LOG.exception("challenge serve: %s %s failed", request.method, request.url.path)
    return refusal(request, 500, "the server failed on this request; it is logged for the "
                                 "instructor; try again later")


async def sizes_and_headers(request: Request, call_next):
    """Refuse a body of unknown or too large a size before it is read; add the security
    headers to every answer."""
    config: ServeConfig = request.app.state.serve.config
    length = request.headers.get("content-length")
    if request.method == "POST" and length is None and request.headers.get("transfer-encoding"):
        return refusal(request, 411, "send a Content-Length (no chunked uploads)")
    if length is not None and (not length.isdigit() or
                               int(length) > config.max_upload_bytes + (64 << 10)):
        return refusal(request, 413, f"upload too large: at most "
                                     f"{config.max_upload_bytes >> 20} MB")
    response = await call_next(request)
    response.headers.update(_HEADERS)
    return response
