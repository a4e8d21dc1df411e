"""Options shared by the commands that run the student's code: ``--device`` (where to train)
and ``--traceback`` (by default an error in the student's code is a few lines naming their file,
line and tensor shapes; with the flag the full trace comes first)."""

from __future__ import annotations

import contextlib
import traceback
from typing import Iterator

import click

from challenge.errors import StudentCodeError

#: challenge.device.DEVICES, written out so that --help does not import torch
DEVICES = ("auto", "cpu", "cuda", "mps")
DEVICE = click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda|mps",
                      help="Where to train: auto is CUDA when torch sees a GPU, else the CPU "
                           "(cuda:N picks a GPU). Recorded in the checkpoint.")

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
