"""What every router of the live challenge depends on: the app's state, who is calling
(``Authorization: Bearer TOKEN`` from the CLI, or the cookie the login form sets in a browser),
and the checks a browser's form must pass (CSRF, Origin), all as FastAPI dependencies.

A form sent with the cookie must carry a CSRF value derived from the caller's token; a request
with the header needs none (browsers never add that header by themselves).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from grader.serve.boards import BoardCache
from grader.serve.queue import Job, JobQueue
from grader.serve.tokens import Identity, Tokens
from grader.serve.uploads import (
    HTTPProblem,
    RateWindow,
    ServeConfig,
    UploadDesk,
    disk_problem,
)

COOKIE = "challenge_token"


@dataclass
class ServeState:
    """One running app's parts, kept on ``app.state.serve``."""

    queue: JobQueue
    tokens: Tokens
    config: ServeConfig
    status: Callable[[], dict]       # the dispatcher's state, for the instructor's page
    templates: Environment
    csrf_key: str
    rate: RateWindow
    desk: UploadDesk
    boards: BoardCache

    def csrf_for(self, ident: Identity) -> str:
        return hmac.new(self.csrf_key.encode(), ident.token_hash.encode(),
                        hashlib.sha256).hexdigest()

    def page(self, name: str, status_code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(name).render(**context),
                            status_code=status_code)

    def board_view(self, ident: Identity | None, part: str | None = None) -> dict:
        """The board ``ident`` may see: the public part until the reveal, then the private
        one; the instructor picks the part."""
        revealed = self.queue.setting("revealed") == "1"
        if not (part and ident and ident.instructor):
            part = "private" if revealed else "public"
        return {**self.boards.get(part), "revealed": revealed}

    def own_job(self, ident: Identity, job_id: int) -> Job:
        """Job ``job_id`` when it is the caller's (any job, for the instructor), else 404."""
        job = self.queue.job(job_id)
        if job is None or (job.student != ident.student and not ident.instructor):
            raise HTTPProblem(404, f"no submission {job_id} of yours")
        return job


@dataclass(frozen=True)
class Caller:
    ident: Identity
    by_cookie: bool    # then its forms need the CSRF value


class CrossSiteRefused(Exception):
    """A POST whose Origin is another site's (defence in depth beside CSRF and SameSite)."""


def serve_state(request: Request) -> ServeState:
    return request.app.state.serve


def identify(request: Request, state: ServeState) -> tuple[Identity | None, bool]:
    """The caller's identity, if any, and whether it came from the cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return state.tokens.identify(auth[7:].strip()), False
    return state.tokens.identify(request.cookies.get(COOKIE)), True


def maybe_signed_in(request: Request,
                    state: ServeState = Depends(serve_state)) -> Caller | None:
    ident, by_cookie = identify(request, state)
    return None if ident is None else Caller(ident, by_cookie)


def _caller(request: Request, state: ServeState, instructor: bool) -> Caller:
    ident, by_cookie = identify(request, state)
    if ident is None:
        raise HTTPProblem(401, "no valid token: log in with the token your instructor sent you")
    if instructor and not ident.instructor:
        raise HTTPProblem(403, "this needs the instructor's token")
    if not state.rate.allow(ident.token_hash):
        raise HTTPProblem(429, "too many requests; wait a minute")
    return Caller(ident, by_cookie)


def signed_in(request: Request, state: ServeState = Depends(serve_state)) -> Caller:
    """Any valid token, a student's or the instructor's (401 without one; 429 past the rate)."""
    return _caller(request, state, instructor=False)


def instructor(request: Request, state: ServeState = Depends(serve_state)) -> Caller:
    """The instructor's token (403 with a student's)."""
    return _caller(request, state, instructor=True)


def same_origin(request: Request) -> None:
    """Refuse a POST that a page of another site sent."""
    origin = request.headers.get("origin")
    if (request.method == "POST" and origin and origin != "null"
            and urlsplit(origin).netloc != request.headers.get("host")):
        raise CrossSiteRefused()


def csrf_form(who: Callable = signed_in, *, upload: bool = False) -> Callable:
    """A dependency: the form of a POST by ``who``, its CSRF value checked when the caller
    came by cookie. Without ``upload`` a caller by header sends no form and gets None. With
    ``upload``, the upload desk first says whether the caller may upload at all (the
    deadline, the instructor's token), before any byte of the body is read."""

    async def form(request: Request, caller: Caller = Depends(who),
                   state: ServeState = Depends(serve_state)):
        if upload:
            state.desk.check_open(caller.ident)
            try:
                data = await request.form(max_files=1, max_fields=4)
            except OSError as e:
                raise disk_problem(e) from None
        elif not caller.by_cookie:
            return None
        else:
            data = await request.form()
        if caller.by_cookie and not hmac.compare_digest(str(data.get("csrf", "")),
                                                        state.csrf_for(caller.ident)):
            raise HTTPProblem(403, "the form is out of date (CSRF check failed); reload the "
                                   "page and try again")
        return data

    return form


student_form = csrf_form(signed_in)
upload_form = csrf_form(signed_in, upload=True)
instructor_form = csrf_form(instructor)
