"""The ``challenge`` command line: a thin click layer over library functions.

The student's commands live here. Other packages add theirs through the entry-point group
``challenge.commands`` (the instructor's grader does: hidden, release, stubs, leaderboard,
serve, and instructor options of ``grade`` and ``status``); where such a package is not
installed, as in the student bundle, its commands do not exist. Library errors
(:class:`ChallengeError`) become a one-line ``Error:`` message and exit code 1, never a
traceback.
"""

from __future__ import annotations

import copy
from importlib.metadata import entry_points
from typing import Callable

import click

from challenge import __version__
from challenge.errors import ChallengeError

#: The entry-point group of command plugins: each entry point is a function that takes the
#: ``challenge`` group and adds (or extends) commands.
PLUGIN_GROUP = "challenge.commands"


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ChallengeError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="challenge")
def main() -> None:
    """The RNN challenge kit: data, training, checks, grading and submission."""


def _given(kwargs: dict, params: list[click.Parameter]) -> bool:
    """Whether any of ``params`` was given a value other than its default."""
    return any(kwargs.get(p.name) not in (None, False, (), p.default) for p in params)


def extend(command: click.Command, options: click.Command, handler: Callable,
           wants: Callable[[dict], bool] | None = None) -> click.Command:
    """A copy of ``command`` with the options of ``options`` (a command that only declares
    options) added: where ``wants(arguments)`` holds (default: one of the new options was
    given), ``handler`` runs with every argument; otherwise the command's own callback runs,
    as before. ``command`` itself is left as it was."""
    extra = [p for p in options.params if p.name not in {q.name for q in command.params}]
    names = {p.name for p in extra}
    own = command.callback
    wants = wants or (lambda kwargs: _given(kwargs, extra))

    def callback(**kwargs):
        if wants(kwargs):
            return handler(**kwargs)
        return own(**{k: v for k, v in kwargs.items() if k not in names})

    extended = copy.copy(command)
    extended.params = [*command.params, *extra]
    extended.callback = callback
    return extended


def student_commands() -> list[click.Command]:
    """The student's commands, as the student bundle has them (no plugin)."""
    from challenge.cli import data, grade, remote, term, train

    return [command for module in (data, train, grade, term, remote)
            for command in module.COMMANDS]


def _register() -> None:
    for command in student_commands():
        main.add_command(command)
    for plugin in entry_points(group=PLUGIN_GROUP):
        try:
            register = plugin.load()
        except ModuleNotFoundError as e:
            # metadata of a package whose code is not here (an uninstalled kit's leftovers
            # seen through a shared site-packages): its commands are not available
            if e.name and plugin.module.split(".")[0] == e.name.split(".")[0]:
                continue
            raise
        register(main)


_register()
