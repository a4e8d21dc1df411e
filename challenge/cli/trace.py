"""``--traceback`` for commands that run the student's code: by default an error there is a few
lines naming the student's file, line and tensor shapes; with the flag the full trace comes
first."""

from __future__ import annotations

import contextlib
import traceback
from typing import Iterator

import click

from challenge.errors import StudentCodeError

TRACEBACK = click.option("--traceback", "show_traceback", is_flag=True,
                         help="When your code raises, print the full traceback too (torch's "
                              "frames included), not only your file and line.")


@contextlib.contextmanager
def full_trace(show: bool) -> Iterator[None]:
    """Print the original traceback of a :class:`StudentCodeError` when ``show``, then let the
    CLI report the error's short message as usual."""
    try:
        yield
    except StudentCodeError as e:
        if show:
            click.echo("".join(traceback.format_exception(e.original)).rstrip(), err=True)
        raise
