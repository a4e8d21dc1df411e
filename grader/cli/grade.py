"""CLI: the instructor's side of ``challenge grade`` (the hidden sets, the reference, a folder of
submissions) and ``challenge hidden make``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import click

from challenge.errors import ChallengeError
from challenge.paths import atomic_write


@click.command()
@click.option("--hidden", "hidden_submission", default=None, type=click.Path(),
              metavar="SUBMISSION",
              help="Instructor: grade SUBMISSION (a .zip from `challenge submit`, or a predictions "
                   ".csv) against the hidden sets; a folder grades every submission in it into "
                   "the leaderboard (isolated workers, resumable).")
@click.option("--workers", default=2, show_default=True,
              help="With --hidden FOLDER: submissions graded in parallel.")
@click.option("--dask", default=None, metavar="ADDRESS",
              help="With --hidden FOLDER: grade on the Dask cluster whose scheduler is at ADDRESS "
                   "(tcp://host:8786) instead of local workers.")
@click.option("--db", default=None, type=click.Path(dir_okay=False),
              help="With --hidden FOLDER: the leaderboard file (default: data/leaderboard.sqlite).")
@click.option("--on-hidden", is_flag=True,
              help="With --impl: measure on the hidden sets instead of the dev sets (instructor).")
@click.option("--no-train", is_flag=True,
              help="With --impl solutions: never train a missing reference checkpoint.")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|mps",
              help="With --impl solutions: where a missing reference checkpoint trains (auto: "
                   "CUDA when present, else the CPU; recorded in the checkpoint). The grade "
                   "itself runs on the CPU, in the sandbox, and the report says so.")
@click.option("--roster", default=None, type=click.Path(dir_okay=False),
              help="With --hidden FOLDER: the class roster (a CSV whose header starts with "
                   "student; docs/instructors.md); files of students not on it are listed, not "
                   "graded.")
@click.option("--unsafe", is_flag=True,
              help="Instructor: grade on the hidden sets even where the sandbox (bubblewrap and "
                   "a cgroup) is unavailable. Student code then runs with your files and "
                   "network; only for code you trust.")
@click.option("--with-examples", is_flag=True,
              help="Instructor: keep the per-example labels and predictions in --json/--out "
                   "(never hand such a report to a student).")
def instructor_options() -> None:
    """The instructor's options of ``challenge grade`` (see :func:`instructor_grade`)."""


def wants_grader(kwargs: dict) -> bool:
    """The grader grades (sandbox, hidden sets, reference): with an instructor option, or for
    the reference solutions; a student's own modules or zip are graded by the student kit."""
    defaults = {p.name: p.default for p in instructor_options.params}
    return kwargs.get("impl") == "solutions" or any(
        kwargs.get(name) not in (None, False, default) for name, default in defaults.items())


def instructor_grade(**options) -> None:
    """Grade on the grader: every submission isolated; see ``challenge grade --help``.

    The exit status is 1 when a submission file cannot be graded at all (an unreadable or
    unsafe zip, a malformed predictions file): the report, with the reason, is still printed.
    A failure of the grader itself is an error (exit 1) that says so, never a zero.
    For a folder it is 1 when a file was rejected (an unsafe name, or one that looks like
    another student's) or hit a grader error; every other file is graded and stored first.
    """
    o = SimpleNamespace(**options)
    isolate = _isolation(bool(o.hidden_submission) or o.on_hidden, o.unsafe)
    if o.hidden_submission and Path(o.hidden_submission).is_dir():
        if o.impl or o.submission or o.out:
            raise ChallengeError("--hidden FOLDER grades into the leaderboard; leave out --impl, "
                                 "--submission and --out")
        _grade_folder(o.hidden_submission, workers=o.workers, dask=o.dask, db=o.db,
                      roster=o.roster, as_json=o.as_json,
                      kwargs={"rubric": o.rubric, "data_dir": o.data_dir, "isolate": isolate})
        return
    if o.hidden_submission and o.submission:
        raise ChallengeError("pass either --hidden SUBMISSION or --submission SUBMISSION, not both")
    if (o.hidden_submission or o.submission) and o.impl:
        raise ChallengeError("--impl grades modules in place; leave it out when grading a "
                             "submission file")
    if o.roster:
        raise ChallengeError("--roster goes with --hidden FOLDER")
    from grader.grade import grade as grade_lib

    report = grade_lib(impl=o.impl, submission=o.hidden_submission or o.submission,
                       hidden=bool(o.hidden_submission) or o.on_hidden, rubric=o.rubric,
                       data_dir=o.data_dir, train=not o.no_train, isolate=isolate,
                       device=o.device)
    payload = report.to_dict() if o.with_examples else report.student_dict()
    if o.out:
        with atomic_write(Path(o.out), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    click.echo(json.dumps(payload) if o.as_json else report.summary(verbose=o.verbose))
    if report.status != "ok":
        sys.exit(1)


def _isolation(hidden: bool, unsafe: bool) -> bool | None:
    """Whether to require the sandbox: on the hidden sets, refuse without it unless --unsafe."""
    if not hidden:
        return None
    from grader.sandbox import isolation_problem

    why = isolation_problem()
    if why and not unsafe:
        raise ChallengeError(f"refusing to run untrusted code on the hidden sets without the "
                             f"sandbox: {why}. Install it, or pass --unsafe for code you trust")
    return not why


def _grade_folder(folder: str, *, workers: int, dask: str | None, db, roster, as_json: bool,
                  kwargs: dict) -> None:
    from grader.batch import grade_many
    from grader.board.roster import read_roster

    people = read_roster(roster) if roster else None
    result = grade_many(folder, workers=workers, dask=dask, db=db, roster=people,
                        grade_kwargs=kwargs)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())
    if result.rejected or result.crashed:
        sys.exit(1)


@click.group()
def hidden() -> None:
    """Instructor: the hidden test sets (made from a secret, kept under data/hidden/)."""


@hidden.command("make")
@click.option("--secret-file", required=True, type=click.Path(dir_okay=False),
              help="File holding the instructor's secret; every hidden set derives from it. "
                   "Keep it out of the student bundle and out of version control.")
@click.option("--new", is_flag=True,
              help="Create --secret-file with a fresh random secret first (refuses to overwrite).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric whose [hidden] and [sorter] settings to follow (default: the "
                   "course's, data/course.toml, else the kit's). It becomes the course's: "
                   "hidden make writes it to data/course.toml, and release ships it.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")
@click.option("--train-reference", is_flag=True,
              help="Where the spam band is measured (a course corpus the rubric sets no "
                   "thresholds for): train the reference on the new split first if none is "
                   "cached, so full marks sit at its level (minutes).")
@click.option("--test-fraction", default=None, type=click.FloatRange(0, 0.8, min_open=True,
                                                                      max_open=True),
              help="Share of the spam corpus in the hidden test set (random split; default "
                   "0.2): more for a small corpus, whose hidden set would be too small to "
                   "grade on.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of what was written.")
def make(secret_file, new, rubric, data_dir, train_reference, test_fraction, as_json) -> None:
    """Split the spam corpus with a secret seed (public train/dev, hidden test), make the hidden
    sorter sets (in range and longer), fix each set's public/private partition, and publish the
    unlabelled spam test file for predictions submissions."""
    from grader.bands import band_note
    from grader.hidden import make_hidden

    summary = make_hidden(secret_file=secret_file, data_dir=data_dir, rubric=rubric, new=new,
                          train_reference=train_reference, test_fraction=test_fraction)
    if as_json:
        click.echo(json.dumps(summary))
        return
    spam, sorter = summary["spam"], summary["sorter"]
    click.echo(f"hidden sets in {summary['folder']} (secret fingerprint "
               f"{summary['secret_fingerprint']}):\n"
               f"  spam: {spam['messages']} test messages of corpus {spam['corpus']} "
               f"({spam['scheme']} split), {spam['private']} of them private\n"
               f"  sorter: {sorter['in_range']} sequences of lengths {sorter['lengths']}, "
               f"{sorter['longer']} of lengths {sorter['long_lengths']}\n"
               f"  published for predictions submissions: {summary['public_file']}")
    if summary["bands"]:
        click.echo(f"  spam quality: {band_note(summary['bands'])}")


COMMANDS: list = [hidden]
