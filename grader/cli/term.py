"""CLI: the instructor's term after the grading day: ``challenge regrade`` (stored submissions
under the current grader and rubric, keeping history), ``challenge feedback`` (one file per
student to hand back) and ``challenge similarity`` (pairs of students' code, for review)."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import click

_DB = click.option("--db", type=click.Path(dir_okay=False), default=None,
                   help="The leaderboard database; default: <data folder>/leaderboard.sqlite.")
_ROSTER = click.option("--roster", type=click.Path(dir_okay=False), default=None,
                       help="The class roster (docs/instructors.md); its extension column "
                            "moves a student's deadline under the rubric's [late] policy.")
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.command()
@click.argument("students", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Regrade every student on the board.")
@_DB
@click.option("--rubric", default=None, type=click.Path(dir_okay=False),
              help="The rubric to grade with (default: the course's, data/course.toml).")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="The data folder (default: $CHALLENGE_DATA_DIR or ./data).")
@click.option("--from", "source", default=None, type=click.Path(file_okay=False),
              help="A folder to look in for submission files the board did not keep (graded "
                   "before files were kept): found by their sha256.")
@_ROSTER
@click.option("--workers", default=2, show_default=True, help="Submissions graded in parallel.")
@click.option("--dask", default=None, metavar="ADDRESS",
              help="Grade on the Dask cluster whose scheduler is at ADDRESS.")
@click.option("--unsafe", is_flag=True,
              help="Grade even where the sandbox (bubblewrap and a cgroup) is unavailable; only "
                   "for code you trust.")
@_JSON
def regrade(students: tuple[str, ...], **options) -> None:
    """Grade STUDENTS' stored submissions again (or --all) under the current grader and rubric.

    Each regraded file becomes a new attempt: the board ranks the newest, and `challenge
    leaderboard --student NAME` still shows the grades before it. Exit 1 when a file could
    not be found or hit a grader error (the others are regraded and stored first).
    """
    from grader.board.roster import read_roster
    from grader.cli.grade import _isolation
    from grader.regrade import regrade as run

    o = SimpleNamespace(**options)
    isolate = _isolation(True, o.unsafe)
    result = run(list(students), every=o.every, db=o.db, source=o.source, workers=o.workers,
                 dask=o.dask, roster=read_roster(o.roster) if o.roster else None,
                 grade_kwargs={"rubric": o.rubric, "data_dir": o.data_dir, "isolate": isolate})
    click.echo(json.dumps(result.to_dict()) if o.as_json else result.summary())
    if result.rejected or result.crashed:
        sys.exit(1)


@click.command()
@click.argument("out", type=click.Path(file_okay=False))
@_DB
@_ROSTER
@click.option("--part", type=click.Choice(["public", "private", "whole"]), default=None,
              help="Which numbers: the public part of the hidden set (the default, as students "
                   "see it while the challenge runs); after the reveal, the part the final "
                   "gradebook uses (private or whole).")
@click.option("--private", is_flag=True, help="Short for --part private.")
@_JSON
def feedback(out, db, roster, part, private, as_json) -> None:
    """Write one feedback file per student into OUT (STUDENT.txt and STUDENT.html): their
    graded submission, points, quality, failed checks, deadline and any late penalty."""
    from grader.board.export import chosen_part
    from grader.board.feedback import write_feedback

    result = write_feedback(out, db=db, roster=roster, part=chosen_part(part, private))
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


@click.command()
@click.argument("subs", required=False, type=click.Path(file_okay=False))
@click.option("--db", type=click.Path(dir_okay=False), default=None,
              help="Compare the uploads a live server (`challenge serve --db DB`) stored, "
                   "instead of a folder SUBS.")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Folder for similarity.html and similarity.csv (default: "
                   "<data folder>/similarity).")
@_JSON
def similarity(subs, db, out, as_json) -> None:
    """Compare every pair of students' code submissions in SUBS (or the live server's stored
    uploads, --db), part by part (winnowed fingerprints, the given stubs left out), and write
    a ranked HTML report and a CSV.

    Evidence for you to read and judge, never a grade: nothing on the board changes.
    """
    from challenge.errors import ChallengeError
    from grader.similarity_report import similarity as run

    if (subs is None) == (db is None):
        raise ChallengeError("give either a folder of submissions (SUBS) or the live server's "
                             "--db, not both and not neither")
    if db is not None:
        from grader.serve.server import uploads_folder

        subs = uploads_folder(db)
    result = run(subs, out=out)
    click.echo(json.dumps(result.to_dict()) if as_json else result.summary())


COMMANDS: list = [regrade, feedback, similarity]
