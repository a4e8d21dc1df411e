"""CLI: ``challenge leaderboard``, the ranking (or one student's history) and its exports, and
``challenge leaderboard add-reference|add-baselines``, the marked rows."""

from __future__ import annotations

import json

import click

_DB = click.option("--db", type=click.Path(dir_okay=False), default=None,
                   help="The leaderboard database; default: <data folder>/leaderboard.sqlite.")
_RUBRIC = click.option("--rubric", default=None, type=click.Path(dir_okay=False),
                       help="The rubric to grade with (default: the shipped one).")
_DATA_DIR = click.option("--data-dir", default=None, type=click.Path(file_okay=False),
                         help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")


@click.group(invoke_without_command=True)
@click.option("--task", type=click.Choice(["spam", "sorter"]), default=None,
              help="Rank one task on its primary metric (spam: f1, sorter: exact_match), with "
                   "ties where bootstrap intervals overlap; default: overall, by points.")
@click.option("--part", type=click.Choice(["public", "private", "whole"]), default=None,
              help="Which number ranks and fills the board: the public part of the hidden set "
                   "(the default, while the challenge runs), the private part or the whole "
                   "hidden set. For the final gradebook choose private (recommended: no "
                   "student's choice was tuned on it) or whole; its header names the part.")
@click.option("--private", is_flag=True,
              help="Short for --part private: the private part of the hidden set (the final "
                   "ranking).")
@click.option("--select-on", "select", type=click.Choice(["public", "part"]), default="public",
              show_default=True,
              help="Which part picks each student's best submission: 'public' keeps the private "
                   "part an unbiased final score; 'part' picks on the part shown.")
@click.option("--format", "fmt",
              type=click.Choice(["table", "csv", "md", "html", "canvas", "moodle"]),
              default="table", show_default=True,
              help="table (terminal), csv (a gradebook: one row per student, ids, points to 2 "
                   "decimals), md, html (a page to show a class: histogram, per-student "
                   "detail, per-check pass rates), or canvas / moodle (a file that LMS's "
                   "gradebook import takes as it is).")
@click.option("--roster", type=click.Path(dir_okay=False), default=None,
              help="With --format csv, canvas or moodle: every student of this roster gets a "
                   "row (empty scores for those who did not submit), its sis_id as the LMS id; "
                   "the class roster is a CSV whose header starts with student "
                   "(docs/instructors.md).")
@click.option("--assignment", default="RNN challenge", show_default=True,
              help="With --format canvas or moodle: the name of the grade column (Canvas makes "
                   "a new assignment of a name it does not know).")
@click.option("--cap-bonus", is_flag=True,
              help="With --format canvas or moodle: cap each score at the maximum points (a "
                   "bonus band can lift it above).")
@click.option("--public-details", "details", type=click.Choice(["none", "points", "messages"]),
              default="points", show_default=True,
              help="With --format html: what the page shows of each student, always on the "
                   "board's part alone: none, points (per task and part, and the names of "
                   "failed checks) or messages (the failed checks' messages too, which the "
                   "whole class will read).")
@click.option("--anonymise", is_flag=True,
              help="With --format html: name students 'Student 1', 'Student 2', ... in board "
                   "order and leave out submission file names.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (atomically) instead of printing.")
@_DB
@click.option("--student", default=None,
              help="Show this student's submissions (every attempt, failed ones with reasons).")
@click.pass_context
def leaderboard(ctx: click.Context, assignment: str, cap_bonus: bool, details: str,
                anonymise: bool, **options) -> None:
    """Rank each student's best graded submission, or show one student's history.

    Baseline and reference rows (add them with `challenge leaderboard add-baselines` and
    `add-reference`) are shaded and take no rank; "=N" marks a tie. A missing default database
    prints a notice and exits 0; a --db that does not exist is an error.
    """
    if ctx.invoked_subcommand is not None:
        return
    from grader.board.export import LmsOptions, PageOptions, chosen_part
    from grader.board.export import leaderboard as show

    options["part"] = chosen_part(options["part"], options.pop("private"))
    shown = show(**options, lms=LmsOptions(assignment, cap_bonus),
                 page=PageOptions(details, anonymise))
    if shown.text:
        click.echo(shown.text, nl=False)
    if shown.message:
        click.echo(shown.message, err=True)


@leaderboard.command("add-reference")
@_DB
@_RUBRIC
@_DATA_DIR
@click.option("--no-train", is_flag=True,
              help="Do not train the reference's checkpoints when none fits (minutes); grade "
                   "without them instead.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def add_reference(db, rubric, data_dir, no_train, as_json) -> None:
    """Grade the reference solutions on the hidden sets and add them as a shaded row."""
    from grader.board.rows import add_reference as add

    row = add(db=db, rubric=rubric, data_dir=data_dir, train=not no_train)
    click.echo(json.dumps(row.to_dict()) if as_json else row.summary())


@leaderboard.command("add-baselines")
@_DB
@_RUBRIC
@_DATA_DIR
@click.option("--seed", default=0, show_default=True, help="The baselines' random_state.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def add_baselines(db, rubric, data_dir, seed, as_json) -> None:
    """Grade ComplementNB and TF-IDF+LR on the hidden spam set (as predictions) and add them
    as shaded rows."""
    from grader.board.rows import add_baselines as add

    rows = add(db=db, rubric=rubric, data_dir=data_dir, seed=seed)
    click.echo(json.dumps([r.to_dict() for r in rows]) if as_json
               else "\n".join(r.summary() for r in rows))


COMMANDS: list = [leaderboard]
