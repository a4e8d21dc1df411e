"""The student's side of a live challenge: upload a submission to ``challenge serve`` and read
back its state, reports and the board (``challenge submit --to``, ``challenge status --to``).

The token goes in an ``Authorization: Bearer`` header; it may come from ``$CHALLENGE_TOKEN`` so
it stays out of the shell's history. Every request has a time limit; an answer the server
refuses becomes one :class:`ChallengeError` carrying the server's reason. A token about to
travel over plain http to another machine is warned about first (anyone on the way can read
it).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from challenge.errors import ChallengeError

TIMEOUT = 60.0


class Refused(ChallengeError):
    """The server answered with an error: ``status`` is its HTTP status, the message its
    reason."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def _token(token: str | None) -> str:
    token = token or os.environ.get("CHALLENGE_TOKEN", "")
    if not token.strip():
        raise ChallengeError("no token: pass --token TOKEN (the one your instructor sent you) or "
                             "set CHALLENGE_TOKEN")
    return token.strip()


def is_local(host: str | None) -> bool:
    """Whether ``host`` is this machine (a token sent there crosses no network)."""
    if not host or host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_plain_http(base: str) -> None:
    """Say so on stderr when ``base`` is plain http to another machine."""
    where = urlsplit(base)
    if where.scheme == "http" and not is_local(where.hostname):
        sys.stderr.write(f"Warning: {base} is plain http: your token crosses the network "
                         f"unencrypted; ask your instructor for the https:// address\n")


def _request(method: str, url: str, token: str | None, path: str, **kwargs) -> dict:
    import httpx

    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ChallengeError(f"--to {url!r} is not a web address; pass the one your instructor "
                             f"gave, e.g. https://challenge.example.org")
    token = _token(token)
    warn_plain_http(base)
    try:
        response = httpx.request(method, base + path, timeout=TIMEOUT,
                                 headers={"Authorization": f"Bearer {token}"}, **kwargs)
    except httpx.HTTPError as e:
        raise ChallengeError(f"cannot reach the challenge server at {base} ({e}); check --to "
                             f"and your connection, then try again") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        why = body.get("error") if isinstance(body, dict) else None
        raise Refused(f"the server refused ({response.status_code}): "
                      f"{why or response.reason_phrase}", response.status_code)
    return body


def upload(url: str, token: str | None, path: str | os.PathLike) -> dict:
    """Send a submission zip or predictions CSV; ``{"id", "state", "student"}``."""
    path = Path(path)
    if not path.is_file():
        raise ChallengeError(f"{path} does not exist; make it with `challenge submit` or pass "
                             f"your predictions .csv with --file")
    with open(path, "rb") as f:
        return _request("POST", url, token, "/api/submissions", files={"file": (path.name, f)})


def status(url: str, token: str | None) -> dict:
    """Your submissions (state, points, reason) and the live board."""
    return _request("GET", url, token, "/api/status")


def admin(url: str, token: str | None, action: str, params: dict | None = None) -> dict:
    """Instructor: ``"reveal"`` the private board, or ``"regrade"`` every submission (with
    ``params={"student": NAME}``, that student's alone). The token travels in the header, so
    the server asks no CSRF value (that guards a browser's cookie)."""
    return _request("POST", url, token, f"/api/admin/{action}", params=params)


def report(url: str, token: str | None, job_id: int) -> dict:
    """One of your submissions, with its report text."""
    return _request("GET", url, token, f"/api/submissions/{int(job_id)}")


def status_text(data: dict) -> str:
    """What ``challenge status`` prints."""
    from challenge.report import part_name
    from challenge.text import (
        printable,  # names and reasons from the server: no terminal codes
    )

    lines = [f"{data['student']}: {data['used_today']} submission(s) today"
             + (f" of {data['daily_limit']}" if data.get("daily_limit") else "")
             + (f"; deadline {data['deadline']}" if data.get("deadline") else "")]
    everyone = data.get("role") == "instructor"
    rows = [[str(s["id"])] + ([s["student"]] if everyone else []) +
            [s["filename"], s["state"],
             "" if s["points"] is None else f"{s['points']:.2f}/{s['max_points']:g}", s["reason"]]
            for s in data["submissions"]]
    # a live report's points are its public part's (challenge.report.PART_NAMES)
    columns = ["#"] + (["student"] if everyone else []) + ["file", "state",
                                                           f"points ({part_name('public')})",
                                                           "reason"]
    lines.append(plain_table(columns, rows) if rows else "no submissions yet")
    board = data.get("board")
    if board:
        lines.append(f"\n{board.get('title') or board['part'] + ' leaderboard'}:")
        lines.append(plain_table(board["columns"], board["rows"]) if board["rows"]
                     else "no graded submissions yet")
    return printable("\n".join(lines))


def plain_table(columns: list[str], rows: list[list[str]]) -> str:
    cells = [columns] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines[:1] + ["  ".join("-" * w for w in widths)] + lines[1:])
