"""CLI of the instructor's tools for the student side: ``challenge release OUT/`` (the student
bundle) and ``challenge stubs`` (the student modules regenerated from solutions/)."""

from __future__ import annotations

import click

from challenge.errors import ChallengeError


@click.command()
@click.argument("out", type=click.Path())
@click.option("--force", is_flag=True,
              help="Replace OUT even if it exists and is not empty.")
def release(out: str, force: bool) -> None:
    """Build the student bundle in OUT: stubs, public checks and tests, README, the course
    configuration and the public data.

    It never contains the grader, the solutions, hidden sets, secrets, reference checkpoints
    or the instructor's tests.
    """
    from grader.release import build_release

    result = build_release(out=out, force=force)
    click.echo(result.summary())


@click.command()
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 listing the stubs that differ from solutions/.")
def stubs(check: bool) -> None:
    """Regenerate challenge/'s student modules from the fenced reference in solutions/."""
    from grader.stubs import repo_root, write_stubs

    changed = write_stubs(check=check)
    names = [str(p.relative_to(repo_root())) for p in changed]
    if check and names:
        raise ChallengeError(f"stubs out of date with solutions/: {', '.join(names)}; "
                             f"run `challenge stubs` to regenerate them")
    if check:
        click.echo("stubs up to date")
    elif names:
        click.echo("wrote " + ", ".join(names))
    else:
        click.echo("stubs already up to date; nothing written")


COMMANDS: list = [release, stubs]
