"""CLI: ``challenge grade`` (students, the reference, one submission) and ``challenge hidden make``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from challenge.errors import ChallengeError
from challenge.paths import atomic_write


@click.command()
@click.option("--impl", default=None,
              help="Whose modules to grade: 'challenge' (yours, the default), 'solutions' (the "
                   "reference; trains its checkpoints first when none is cached) or a folder.")
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
@click.option("--submission", default=None, type=click.Path(dir_okay=False),
              help="Grade a submission .zip against the public dev sets (try your zip before "
                   "you hand it in).")
@click.option("--on-hidden", is_flag=True,
              help="With --impl: measure on the hidden sets instead of the dev sets (instructor).")
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric TOML file (default: the one shipped in grader/rubric.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")
@click.option("--no-train", is_flag=True,
              help="With --impl solutions: never train a missing reference checkpoint.")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="Also write the report as JSON to this file (atomically).")
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|mps",
              help="With --impl solutions: where a missing reference checkpoint trains (auto: "
                   "CUDA when present, else the CPU; recorded in the checkpoint). The grade "
                   "itself runs on the CPU, in the sandbox, and the report says so.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object: the report.")
@click.option("--verbose", is_flag=True,
              help="Also show the isolation achieved on this machine (the sandbox, namespaces, "
                   "limits).")
@click.option("--roster", default=None, type=click.Path(dir_okay=False),
              help="With --hidden FOLDER: the class roster (one student id per line, optionally "
                   "'id,display name'); files of students not on it are listed, not graded.")
@click.option("--unsafe", is_flag=True,
              help="Instructor: grade on the hidden sets even where the sandbox (bubblewrap and "
                   "a cgroup) is unavailable. Student code then runs with your files and "
                   "network; only for code you trust.")
@click.option("--with-examples", is_flag=True,
              help="Instructor: keep the per-example labels and predictions in --json/--out "
                   "(never hand such a report to a student).")
def grade(impl, hidden_submission, workers, dask, db, submission, on_hidden, rubric, data_dir, no_train,
          out, device, as_json, verbose, roster, unsafe, with_examples) -> None:
    """Grade modules and checkpoints: checks and model quality, weighted by the rubric.

    \b
    challenge grade                          your modules, your checkpoints, the dev sets
    challenge grade --impl solutions --json  the reference (must earn full marks)
    challenge grade --hidden alice.zip       instructor: one submission, the hidden sets
    challenge grade --hidden alice.csv       instructor: a predictions file
    challenge grade --hidden SUBS/           instructor: every submission, into the leaderboard

    The exit status is 1 when a submission file cannot be graded at all (an unreadable or
    unsafe zip, a malformed predictions file): the report, with the reason, is still printed.
    A failure of the grader itself is an error (exit 1) that says so, never a zero.
    For a folder it is 1 when a file was rejected (an unsafe name, or one that looks like
    another student's) or hit a grader error; every other file is graded and stored first.
    """
    from grader.grade import grade as grade_lib
    from grader.sandbox import isolation_problem

    hidden = bool(hidden_submission) or on_hidden
    isolate = None
    if hidden:
        why = isolation_problem()
        if why and not unsafe:
            raise ChallengeError(f"refusing to run untrusted code on the hidden sets without the "
                                 f"sandbox: {why}. Install it, or pass --unsafe for code you "
                                 f"trust")
        isolate = not why

    if hidden_submission and Path(hidden_submission).is_dir():
        from grader.batch import grade_many

        if impl or submission or out:
            raise ChallengeError("--hidden FOLDER grades into the leaderboard; leave out --impl, "
                                 "--submission and --out")
        from grader.board.names import read_roster

        kwargs = {"rubric": rubric, "data_dir": data_dir, "isolate": isolate}
        people = read_roster(roster) if roster else None
        result = grade_many(hidden_submission, workers=workers, dask=dask, db=db, roster=people,
                            grade_kwargs=kwargs)
        click.echo(json.dumps(result.to_dict()) if as_json else result.summary())
        if result.rejected or result.crashed:
            sys.exit(1)
        return
    if hidden_submission and submission:
        raise ChallengeError("pass either --hidden SUBMISSION or --submission SUBMISSION, not both")
    if (hidden_submission or submission) and impl:
        raise ChallengeError("--impl grades modules in place; leave it out when grading a "
                             "submission file")
    if roster:
        raise ChallengeError("--roster goes with --hidden FOLDER")
    report = grade_lib(impl=impl, submission=hidden_submission or submission, hidden=hidden,
                       rubric=rubric, data_dir=data_dir, train=not no_train, isolate=isolate,
                       device=device)
    payload = report.to_dict() if with_examples else report.student_dict()
    if out:
        with atomic_write(Path(out), "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1)
    click.echo(json.dumps(payload) if as_json else report.summary(verbose=verbose))
    if report.status != "ok":
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
              help="The rubric whose [hidden] and [sorter] settings to follow (default: shipped).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")
@click.option("--train-reference", is_flag=True,
              help="Where the spam band is measured (a course corpus the rubric sets no "
                   "thresholds for): train the reference on the new split first if none is "
                   "cached, so full marks sit at its level (minutes).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of what was written.")
def make(secret_file, new, rubric, data_dir, train_reference, as_json) -> None:
    """Split the spam corpus with a secret seed (public train/dev, hidden test), make the hidden
    sorter sets (in range and longer), fix each set's public/private partition, and publish the
    unlabelled spam test file for predictions submissions."""
    from grader.hidden import make_hidden

    from grader.bands import band_note

    summary = make_hidden(secret_file=secret_file, data_dir=data_dir, rubric=rubric, new=new,
                          train_reference=train_reference)
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


COMMANDS: list = [grade, hidden]
