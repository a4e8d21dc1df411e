"""CLI: ``challenge train sorter``, a thin layer over :func:`challenge.tasks.sorter.train_sorter`."""

from __future__ import annotations

import json

import click

from challenge.cli.trace import DEVICE, TRACEBACK, full_trace

# challenge.tasks.sorter.ARCHS, repeated so that the CLI starts without importing torch
# (tests/test_cli_startup.py keeps the two equal).
ARCHS = ("seq2seq", "attention", "pointer")


@click.command("sorter")
@click.option("--impl", default=None,
              help="Whose sorter_model to train: 'solutions' (reference), 'challenge' (yours) "
                   "or a folder holding sorter_model.py [default: 'solutions' in the "
                   "instructor's kit, 'challenge' in the student bundle].")
@click.option("--arch", default="pointer", show_default=True,
              help=f"Decoder architecture: {', '.join(ARCHS)}.")
@click.option("--max-len", type=int, default=10, show_default=True,
              help="Longest training sequence (lengths 1..max-len).")
@click.option("--vocab", type=int, default=100, show_default=True,
              help="Number of distinct values (values 0..vocab-1).")
@click.option("--minutes", type=float, default=5.0, show_default=True,
              help="Training time budget in minutes.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for initialisation and the generated batches.")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint path [default: runs/sorter/<impl>-<arch>.pt].")
@DEVICE
@TRACEBACK
@click.option("--json", "as_json", is_flag=True,
              help="Print the run as one JSON object instead of a summary line.")
def sorter(impl: str | None, arch: str, max_len: int, vocab: int, minutes: float, seed: int,
           out: str | None, as_json: bool, device: str,
           show_traceback: bool) -> None:
    """Train the number sorter on freshly generated sequences and save a checkpoint."""
    from challenge.tasks.sorter import train_sorter

    with full_trace(show_traceback):
        run = train_sorter(impl=impl, arch=arch, max_len=max_len, vocab=vocab, minutes=minutes,
                           seed=seed, out=out, device=device)
    click.echo(json.dumps(run.to_dict()) if as_json else run.summary())


SORTER_COMMANDS: list = [sorter]
