"""Logging in and out: the login page, the login form (with its own double-submit CSRF
cookie, since the caller has no token yet) and the health check.

A valid token always logs in: only failed attempts are counted, per client address (the
proxy's ``X-Forwarded-For`` when ``--forwarded-allow-ips`` trusts it), so neither one student's
loop nor a class behind one NAT locks anyone out. Logging in opens a server-side session;
logging out deletes it."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from grader.serve.routes.deps import (
    COOKIE,
    Caller,
    ServeState,
    maybe_signed_in,
    serve_state,
    student_form,
)
from grader.serve.uploads import HTTPProblem

LOGIN_COOKIE = "challenge_login"

router = APIRouter()


class LoginRefused(HTTPProblem):
    """A login that failed: answered with a fresh login form and the reason."""


def login_form(request: Request, state: ServeState, status_code: int = 200,
               message: str = "") -> HTMLResponse:
    """The form, with a fresh login CSRF value in a cookie and in the form (double submit:
    another site can post to /login but can neither read nor set that cookie)."""
    value = secrets.token_urlsafe(24)
    response = state.page("login.html", status_code, message=message, login_csrf=value)
    response.set_cookie(LOGIN_COOKIE, value, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


async def login_refused(request: Request, e: LoginRefused) -> Response:
    return login_form(request, serve_state(request), e.status, e.message)


async def login_attempt(request: Request, state: ServeState = Depends(serve_state)):
    """The login form, once the double submit matches."""
    form = await request.form(max_files=0, max_fields=3)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(str(form.get("csrf", "")), expected):
        raise LoginRefused(403, "the login form is out of date; log in again")
    return form


def home(caller: Caller) -> str:
    return "/admin" if caller.ident.instructor else "/me"


@router.get("/", response_class=HTMLResponse)
def login_page(request: Request, caller: Caller | None = Depends(maybe_signed_in),
               state: ServeState = Depends(serve_state)):
    if caller is not None:
        return RedirectResponse(home(caller), status_code=303)
    return login_form(request, state)


@router.post("/login")
def login(request: Request, form=Depends(login_attempt), state: ServeState = Depends(serve_state)):
    token = str(form.get("token", "")).strip()
    ident = state.tokens.identify(token)
    if ident is None:
        client = request.client.host if request.client else ""
        if not state.login_rate.allow(f"ip:{client}"):
            raise LoginRefused(429, "too many failed logins from your address; wait a minute")
        raise LoginRefused(401, "that token is not valid")
    session = state.tokens.open_session(ident, state.config.session_seconds)
    response = RedirectResponse(home(Caller(ident, True)), status_code=303)
    response.delete_cookie(LOGIN_COOKIE)
    response.set_cookie(COOKIE, session, httponly=True, samesite="strict",
                        max_age=int(state.config.session_seconds),
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout", dependencies=[Depends(student_form)])
def logout(request: Request, state: ServeState = Depends(serve_state)):
    state.tokens.close_session(request.cookies.get(COOKIE))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/healthz")
async def healthz():
    return {"ok": True}
