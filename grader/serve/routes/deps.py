"""What every router of the live challenge depends on: the app's state, who is calling
(``Authorization: Bearer TOKEN`` from the CLI, or the session cookie the login form sets in a
browser), and the checks a browser's request must pass (CSRF, Origin), all as FastAPI
dependencies.

A POST sent with the cookie must carry a CSRF value derived from the caller's session (a form
field, or the ``X-CSRF-Token`` header on the JSON API); a request with the header needs none
(browsers never add that header by themselves). A POST whose ``Origin`` is another site's, or
``null`` (a sandboxed frame, a ``data:`` page), is refused.
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

from challenge.report import PARTS
from grader.serve.boards import BoardCache
from grader.serve.queue import Job, JobQueue, LimitReached
from grader.serve.review import IdenticalReview
from grader.serve.tokens import Identity, Tokens, hash_token
from grader.serve.uploads import (
    HTTPProblem,
    RateWindow,
    ServeConfig,
    UploadDesk,
    disk_problem,
)

COOKIE = "challenge_session"
CSRF_HEADER = "x-csrf-token"


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
    login_rate: RateWindow     # failed logins per client address
    desk: UploadDesk
    boards: BoardCache
    review: IdenticalReview          # byte-identical modules, for the instructor's page

    def csrf_for(self, caller: "Caller") -> str:
        """The CSRF value of ``caller``'s forms: bound to the session (or, for a caller by
        header, to the token), so a new session has new values."""
        basis = caller.session or caller.ident.token_hash
        return hmac.new(self.csrf_key.encode(), basis.encode(), hashlib.sha256).hexdigest()

    def page(self, name: str, status_code: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(self.templates.get_template(name).render(**context),
                            status_code=status_code)

    def board_view(self, ident: Identity | None, part: str | None = None) -> dict:
        """The board ``ident`` may see: the public part until the reveal, then the private
        one; the instructor picks the part (public, private or whole: challenge.report.PARTS)."""
        revealed = self.queue.setting("revealed") == "1"
        if not (part and ident and ident.instructor):
            part = "private" if revealed else "public"
        elif part not in PARTS:
            raise HTTPProblem(400, f"no part {part[:40]!r} of the hidden set: use one of "
                                   f"{', '.join(PARTS)}")
        # marks choose what counts for the final numbers (the private part and the whole set);
        # the public board shows every try
        finals = (self.queue.finals() if self.config.final_submissions and part != "public"
                  else None)
        return {**self.boards.get(part, finals), "revealed": revealed}

    def own_job(self, ident: Identity, job_id: str | int) -> Job:
        """Job ``job_id`` when it is the caller's (any job, for the instructor), else 404
        (an id that is no number SQLite can hold included)."""
        text = str(job_id)
        number = int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
        job = self.queue.job(number) if number else None
        if job is None or (job.student != ident.student and not ident.instructor):
            raise HTTPProblem(404, f"no submission {text[:20]!r} of yours")
        return job


    def mark_final(self, ident: Identity, job_id: str, on: bool) -> None:
        """Mark the caller's graded submission ``job_id`` final (or not), while the private
        board is still hidden, within the challenge's number of final submissions."""
        most = self.config.final_submissions
        if not most:
            raise HTTPProblem(403, "this challenge ranks your best submission on the public "
                                   "part; there is nothing to mark")
        job = self.own_job(ident, job_id)
        if on and (job.state != "graded" or job.points is None):
            raise HTTPProblem(409, f"submission {job.id} is {job.state}; only a graded one can "
                                   f"be final")
        if self.queue.setting("revealed") == "1":
            raise HTTPProblem(409, "the private board is revealed; final submissions are fixed")
        try:
            self.queue.mark_final(job, on, most)
        except LimitReached as e:
            raise HTTPProblem(409, str(e)) from None


@dataclass(frozen=True)
class Caller:
    ident: Identity
    by_cookie: bool      # then its POSTs need the CSRF value
    session: str = ""    # the hash of its session (a caller by cookie)


class CrossSiteRefused(Exception):
    """A POST whose Origin is another site's (defence in depth beside CSRF and SameSite)."""


def serve_state(request: Request) -> ServeState:
    return request.app.state.serve


def identify(request: Request, state: ServeState) -> Caller | None:
    """The caller, if any: by its token in the header, or by its live session's cookie."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        ident = state.tokens.identify(auth[7:].strip())
        return Caller(ident, False) if ident else None
    value = request.cookies.get(COOKIE)
    ident = state.tokens.session(value)
    return Caller(ident, True, hash_token(value)) if ident else None


def maybe_signed_in(request: Request,
                    state: ServeState = Depends(serve_state)) -> Caller | None:
    return identify(request, state)


def _caller(request: Request, state: ServeState, instructor: bool) -> Caller:
    caller = identify(request, state)
    if caller is None:
        raise HTTPProblem(401, "no valid token: log in with the token your instructor sent you")
    if instructor and not caller.ident.instructor:
        raise HTTPProblem(403, "this needs the instructor's token")
    if not state.rate.allow(caller.ident.token_hash):
        raise HTTPProblem(429, "too many requests; wait a minute", retry_after=60)
    return caller


def signed_in(request: Request, state: ServeState = Depends(serve_state)) -> Caller:
    """Any valid token, a student's or the instructor's (401 without one; 429 past the rate)."""
    return _caller(request, state, instructor=False)


def instructor(request: Request, state: ServeState = Depends(serve_state)) -> Caller:
    """The instructor's token (403 with a student's)."""
    return _caller(request, state, instructor=True)


def same_origin(request: Request) -> None:
    """Refuse a POST that a page of another site, or of no site (``Origin: null``), sent. Our
    pages' Referrer-Policy (same-origin) keeps a browser sending their real origin."""
    origin = request.headers.get("origin")
    if (request.method == "POST" and origin is not None
            and (origin == "null" or urlsplit(origin).netloc != request.headers.get("host"))):
        raise CrossSiteRefused()


def check_csrf(state: ServeState, caller: Caller, value) -> None:
    """A caller by cookie must send its CSRF value (403 otherwise)."""
    if caller.by_cookie and not hmac.compare_digest(str(value or ""), state.csrf_for(caller)):
        raise HTTPProblem(403, "the form is out of date (CSRF check failed); reload the "
                               "page and try again")


def instructor_api(request: Request, caller: Caller = Depends(instructor),
                   state: ServeState = Depends(serve_state)) -> Caller:
    """The instructor's JSON API: by header, or by cookie with the CSRF value in
    ``X-CSRF-Token`` for a POST (the cookie alone is what a forged request would carry)."""
    if request.method == "POST":
        check_csrf(state, caller, request.headers.get(CSRF_HEADER))
    return caller


def csrf_form(who: Callable = signed_in, *, upload: bool = False) -> Callable:
    """A dependency: the form of a POST by ``who``, its CSRF value checked when the caller
    came by cookie. Without ``upload`` a caller by header sends no form and gets None. With
    ``upload``, the upload desk first says whether the caller may upload at all (the
    deadline, the instructor's token), before any byte of the body is read."""

    async def form(request: Request, caller: Caller = Depends(who),
                   state: ServeState = Depends(serve_state)):
        if not upload:
            if not caller.by_cookie:
                yield None
                return
            data = await request.form()
            check_csrf(state, caller, data.get("csrf"))
            yield data
            return
        length = int(request.headers.get("content-length") or 0)
        with state.desk.admit(caller.ident, length):    # every rule, before the body is read
            try:
                data = await request.form(max_files=1, max_fields=4)
            except OSError as e:
                raise disk_problem(e) from None
            try:
                check_csrf(state, caller, data.get("csrf"))
                yield data
            finally:
                await data.close()

    return form


student_form = csrf_form(signed_in)
upload_form = csrf_form(signed_in, upload=True)
instructor_form = csrf_form(instructor)
