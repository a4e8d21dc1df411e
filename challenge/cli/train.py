"""CLI: ``challenge train spam|sorter`` and ``challenge baseline spam``."""

from __future__ import annotations

import click

from challenge.cli.train_sorter import SORTER_COMMANDS
from challenge.cli.train_threads import passive_wait
from challenge.cli.train_spam import BASELINE_COMMANDS, SPAM_COMMANDS


@click.group()
def train() -> None:
    """Train a model (reference solutions or your own modules) and save a checkpoint.

    Sets OMP_WAIT_POLICY=PASSIVE where unset (before torch loads) and picks the torch threads
    from the free cores; each command says what it chose (--threads N to override)."""
    passive_wait()


for _command in SPAM_COMMANDS + SORTER_COMMANDS:
    train.add_command(_command)

COMMANDS: list = [train, *BASELINE_COMMANDS]
