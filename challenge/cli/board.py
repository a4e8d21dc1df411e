"""CLI: ``challenge leaderboard``, the ranking (or one student's history) and its exports."""

from __future__ import annotations

import click


@click.command()
@click.option("--task", type=click.Choice(["spam", "sorter"]), default=None,
              help="Rank one task on its primary metric (spam: f1, sorter: exact_match), with "
                   "ties where bootstrap intervals overlap; default: overall, by points.")
@click.option("--private", is_flag=True,
              help="Show the private part of the hidden set (the final ranking); default: public.")
@click.option("--select-on", "select", type=click.Choice(["public", "part"]), default="public",
              show_default=True,
              help="Which part picks each student's best submission: 'public' keeps the private "
                   "part an unbiased final score; 'part' picks on the part shown.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "md", "html"]),
              default="table", show_default=True,
              help="table (terminal), csv (an LMS import: students only), md, or html "
                   "(one self-contained page with per-check pass rates).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (atomically) instead of printing.")
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="The leaderboard database; default: <data folder>/leaderboard.sqlite.")
@click.option("--student", default=None,
              help="Show this student's submissions (every attempt, failed ones with reasons).")
def leaderboard(task: str | None, private: bool, select: str, fmt: str, out: str | None,
                db: str | None, student: str | None) -> None:
    """Rank each student's best graded submission, or show one student's history.

    Baseline and reference rows are marked and take no rank; "=N" marks a tie. A missing
    default database prints a notice and exits 0; a --db that does not exist is an error.
    """
    from grader.export import leaderboard as show

    shown = show(db=db, task=task, private=private, fmt=fmt, out=out, student=student,
                 select=select)
    if shown.text:
        click.echo(shown.text, nl=False)
    if shown.message:
        click.echo(shown.message, err=True)


COMMANDS: list = [leaderboard]
