"""CLI of the live challenge, student's side: ``challenge status --to`` (``challenge submit
--to`` is the student's submit command)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--to", "url", required=True, help="The challenge server's address.")
@click.option("--token", default=None, help="Your token (default: $CHALLENGE_TOKEN).")
@click.option("--id", "job_id", default=None, type=int,
              help="Show the report of your submission number ID.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(url, token, job_id, as_json) -> None:
    """Your submissions on a challenge server (state, points, reason) and the live board."""
    from challenge import remote

    if job_id is not None:
        data = remote.report(url, token, job_id)
        click.echo(json.dumps(data) if as_json else
                   f"#{data['id']} {data['filename']}: {data['state']}"
                   + (f" ({data['reason']})" if data["reason"] else "")
                   + (f"\n{data['report']}" if data["report"] else ""))
        return
    data = remote.status(url, token)
    click.echo(json.dumps(data) if as_json else remote.status_text(data))


COMMANDS: list = [status]
