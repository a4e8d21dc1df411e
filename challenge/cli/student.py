"""CLI of the student side: ``challenge stubs`` regenerates the student modules from solutions/."""

from __future__ import annotations

import click

from challenge.errors import ChallengeError


@click.command()
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 listing the stubs that differ from solutions/.")
def stubs(check: bool) -> None:
    """Regenerate challenge/'s student modules from the fenced reference in solutions/."""
    try:
        from challenge.stubs import repo_root, write_stubs
    except ModuleNotFoundError:
        raise ChallengeError("`challenge stubs` is the instructor's command; the student bundle "
                             "does not carry it (your modules are yours to edit)") from None

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


COMMANDS: list = [stubs]
