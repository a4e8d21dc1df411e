"""CLI: the student's ``challenge grade``: checks and model quality on the public dev sets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from challenge.errors import ChallengeError
from challenge.paths import atomic_write


@click.command()
@click.option("--impl", default=None,
              help="Whose modules to grade: 'challenge' (yours, the default) or a folder of "
                   "modules.")
@click.option("--submission", default=None, type=click.Path(dir_okay=False),
              help="Grade a submission .zip against the public dev sets (try your zip before "
                   "you hand it in).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric TOML file (default: the course's, data/course.toml, else the "
                   "kit's challenge/rubric.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Also write the report as JSON to this file (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object: the report.")
@click.option("--verbose", is_flag=True, help="Also show how the grade ran.")
def grade(impl, submission, rubric, data_dir, out, as_json, verbose) -> None:
    """Grade your modules and checkpoints: the public checks and your models' quality on the
    public dev sets, weighted by the course's rubric.

    \b
    challenge grade                             your modules, your checkpoints
    challenge grade --submission alice.zip      your zip, as `challenge submit` wrote it

    The exit status is 1 when the submission file cannot be graded at all (the report, with
    the reason, is still printed).
    """
    from challenge.grading import grade_local

    if impl and submission:
        raise ChallengeError("--impl grades modules in place; leave it out when grading a "
                             "submission file")
    report = grade_local(impl=impl, submission=submission, rubric=rubric, data_dir=data_dir)
    payload = report.student_dict()
    if out:
        with atomic_write(Path(out), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    click.echo(json.dumps(payload) if as_json else report.summary(verbose=verbose))
    if report.status != "ok":
        sys.exit(1)


COMMANDS: list = [grade]
