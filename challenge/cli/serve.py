"""CLI of the live challenge: the instructor's ``challenge serve`` and everyone's
``challenge status --to`` (``challenge submit --to`` is the student's submit command)."""

from __future__ import annotations

import json

import click


@click.command()
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
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="The leaderboard file, which also holds the queue (default: "
                   "data/leaderboard.sqlite).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric TOML file (default: grader/rubric.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder holding the hidden sets (default: $CHALLENGE_DATA_DIR or ./data).")
def serve(host, port, roster, deadline, daily_limit, workers, dask, max_upload_mb, db, rubric,
          data_dir) -> None:
    """Run the live challenge: uploads, the queue, grading, the boards (Ctrl-C stops it;
    a restart picks up every submission where it was)."""
    from grader.serve.server import serve as serve_lib

    serve_lib(host=host, port=port, db=db, roster=roster, deadline=deadline,
              daily_limit=daily_limit, workers=workers, dask=dask, rubric=rubric,
              data_dir=data_dir, max_upload_mb=max_upload_mb, echo=click.echo)


@click.command()
@click.option("--to", "url", required=True, help="The challenge server's address.")
@click.option("--token", default=None, help="Your token (default: $CHALLENGE_TOKEN).")
@click.option("--id", "job_id", default=None, type=int,
              help="Show the report of your submission number ID.")
@click.option("--reveal", is_flag=True, help="Instructor: reveal the private board to students.")
@click.option("--regrade-all", is_flag=True,
              help="Instructor: grade every submission again (after a rubric change).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(url, token, job_id, reveal, regrade_all, as_json) -> None:
    """Your submissions on a challenge server (state, points, reason) and the live board."""
    from challenge import remote

    if reveal or regrade_all:
        data = {}
        if reveal:
            data |= remote.admin(url, token, "reveal")
        if regrade_all:
            data |= remote.admin(url, token, "regrade")
        click.echo(json.dumps(data) if as_json else
                   "; ".join(f"{k}: {v}" for k, v in data.items()))
        return
    if job_id is not None:
        data = remote.report(url, token, job_id)
        click.echo(json.dumps(data) if as_json else
                   f"#{data['id']} {data['filename']}: {data['state']}"
                   + (f" ({data['reason']})" if data["reason"] else "")
                   + (f"\n{data['report']}" if data["report"] else ""))
        return
    data = remote.status(url, token)
    click.echo(json.dumps(data) if as_json else remote.status_text(data))


COMMANDS: list = [serve, status]
