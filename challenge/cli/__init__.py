"""The ``challenge`` command line: a thin click layer over library functions.

Each sub-module holds the commands of one area; library errors (:class:`ChallengeError`)
become a one-line ``Error:`` message and exit code 1, never a traceback.
"""

from __future__ import annotations

import click

from challenge import __version__
from challenge.errors import ChallengeError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ChallengeError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="challenge")
def main() -> None:
    """The RNN challenge kit: data, training, checks, grading and the leaderboard."""


def _register() -> None:
    from challenge.cli import board, data, grade, serve, student, term, train

    for module in (data, train, grade, student, term, board, serve):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
