"""CLI of the live challenge, instructor's side: ``challenge serve`` (and ``challenge serve
tokens --rotate STUDENT``), and the options ``--reveal``, ``--unreveal``, ``--force``,
``--regrade-all`` and ``--regrade STUDENT`` that join the student's ``challenge status --to``."""

from __future__ import annotations

import json

import click


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; put TLS in front of it).")
@click.option("--port", default=8000, show_default=True, help="Port to listen on.")
@click.option("--roster", default=None, type=click.Path(dir_okay=False),
              help="The class roster (a CSV whose header starts with student; see "
                   "docs/instructors.md): each new student gets a token, written to "
                   "<data>/serve/tokens.csv for you to mail out (needed on the first start).")
@click.option("--deadline", default=None,
              help="ISO 8601 time after which uploads are refused (no zone: UTC).")
@click.option("--daily-limit", default=5, show_default=True,
              help="Uploads per student per UTC day (failures of the grader's own never count).")
@click.option("--workers", default=2, show_default=True,
              help="Local worker processes grading in parallel.")
@click.option("--dask", default=None, metavar="ADDRESS",
              help="Grade on the Dask cluster whose scheduler is at ADDRESS (tcp://host:8786) "
                   "instead of local workers.")
@click.option("--max-upload-mb", default=120.0, show_default=True,
              help="Largest upload accepted, in MB.")
@click.option("--quota-mb", default=500.0, show_default=True,
              help="Uploads kept per student, all days together, in MB; an upload past it is "
                   "refused before its body is read.")
@click.option("--final-submissions", default=None, type=int, metavar="N",
              help="Students may mark up to N graded submissions final; the private board "
                   "ranks them on the best of those (0: on their best on the public part). "
                   "Default: the rubric's [live] final_submissions (else 0); this option, "
                   "where given, overrides the rubric.")
@click.option("--forwarded-allow-ips", default=None, metavar="ADDRESSES",
              help="Comma-separated addresses of the TLS proxy in front of the server, trusted "
                   "for X-Forwarded-For/-Proto (so each student, not the proxy, is a client).")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="The leaderboard file, which also holds the queue (default: "
                   "data/leaderboard.sqlite).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric TOML file (default: challenge/rubric.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder holding the hidden sets (default: $CHALLENGE_DATA_DIR or ./data).")
@click.pass_context
def serve(ctx: click.Context, **options) -> None:
    """Run the live challenge: uploads, the queue, grading, the boards (Ctrl-C stops it;
    a restart picks up every submission where it was)."""
    if ctx.invoked_subcommand is not None:
        return
    from grader.serve.server import serve as serve_lib

    serve_lib(echo=click.echo, **options)


@serve.command("tokens")
@click.option("--rotate", "students", multiple=True, required=True, metavar="STUDENT",
              help="Give STUDENT a new token (repeatable): the old one and every browser "
                   "session of it stop working at once, even on a running server.")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="The leaderboard file the server uses (default: data/leaderboard.sqlite).")
def tokens(students: tuple[str, ...], db: str | None) -> None:
    """Replace students' tokens; each new one is written to a new private CSV to mail out."""
    from grader.serve.server import rotate_tokens

    for student, path in rotate_tokens(students, db):
        click.echo(f"new token for {student}: {path} (mail it; the old token no longer works)")


@click.command()
@click.option("--reveal", is_flag=True,
              help="Instructor: reveal the private board to students (after the deadline, "
                   "or with --force).")
@click.option("--unreveal", is_flag=True, help="Instructor: hide the private board again.")
@click.option("--force", is_flag=True, help="Instructor: with --reveal, reveal before the deadline.")
@click.option("--regrade-all", is_flag=True,
              help="Instructor: grade every submission again (after a rubric change).")
@click.option("--regrade", "regrade_students", multiple=True, metavar="STUDENT",
              help="Instructor: grade STUDENT's stored submissions again under the current "
                   "rubric (repeatable); the old grades stay in the history.")
def admin_options() -> None:
    """The instructor's options of ``challenge status`` (see :func:`instructor_status`)."""


def instructor_status(url, token, reveal, regrade_all, as_json, unreveal=False, force=False,
                      regrade_students=(), **_) -> None:
    """``challenge status --to URL --reveal|--unreveal|--regrade-all|--regrade STUDENT``: the
    instructor's server actions."""
    from challenge import remote

    data = {}
    if reveal:
        data |= remote.admin(url, token, "reveal?force=true" if force else "reveal")
    if unreveal:
        data |= remote.admin(url, token, "unreveal")
    if regrade_all:
        data |= remote.admin(url, token, "regrade")
    lines = ["; ".join(f"{k}: {v}" for k, v in data.items())] if data else []
    regraded = [regrade_student(url, token, student) for student in regrade_students]
    lines += [f"{r['student']}: {r['queued']} submission(s) queued again" for r in regraded]
    if regraded:
        data["regraded"] = regraded
    click.echo(json.dumps(data) if as_json else "\n".join(lines))


def regrade_student(url: str, token: str | None, student: str) -> dict:
    """Ask the server at ``url`` to grade ``student``'s stored submissions again; a refusal
    names the student or the token, and the fix."""
    from challenge import remote
    from challenge.errors import ChallengeError

    try:
        return remote.admin(url, token, "regrade", {"student": student})
    except remote.Refused as e:
        if e.status == 404:
            raise ChallengeError(f"--regrade {student!r}: {e}; pass a student id from the "
                                 f"roster (`challenge status --to URL` with your token lists "
                                 f"every student's submissions)") from None
        if e.status in (401, 403):
            raise ChallengeError(f"--regrade {student!r}: {e}; pass the instructor's token "
                                 f"(serve/instructor-token.txt beside the server's leaderboard "
                                 f"file), not a student's") from None
        raise


COMMANDS: list = [serve]
