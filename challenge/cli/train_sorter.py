"""CLI: ``challenge train sorter``, a thin layer over :func:`challenge.tasks.sorter.train_sorter`:
its options change only the fields they name of the course's
:class:`~challenge.tasks.config.SorterTraining`."""

from __future__ import annotations

import json

import click

from challenge.cli.trace import DEVICE, TRACEBACK, full_trace
from challenge.cli.train_threads import THREADS, choose_threads
from challenge.tasks.config import ARCHS, GRADED_LENGTHS, SorterTraining  # torch-free

_DEFAULT = SorterTraining()


@click.command("sorter")
@click.option("--impl", default=None,
              help="Whose sorter_model to train: 'solutions' (reference), 'challenge' (yours) "
                   "or a folder holding sorter_model.py [default: 'solutions' in the "
                   "instructor's kit, 'challenge' in the student bundle].")
@click.option("--arch", default=None,
              help=f"Decoder architecture: {', '.join(ARCHS)} [default: {_DEFAULT.model.arch}].")
@click.option("--max-len", type=int, default=None,
              help="Longest training sequence (lengths min_len..max-len) [default: the graded "
                   f"lengths, the rubric's [sorter] min_len..max_len, else "
                   f"{GRADED_LENGTHS[0]}..{GRADED_LENGTHS[1]}].")
@click.option("--vocab", type=int, default=None,
              help=f"Number of distinct values (values 0..vocab-1) [default: {_DEFAULT.data.vocab}].")
@click.option("--minutes", type=float, default=None,
              help=f"Training time budget in minutes [default: {_DEFAULT.loop.minutes:g}].")
@click.option("--seed", type=int, default=None,
              help=f"Seed for initialisation and the generated batches [default: {_DEFAULT.seed}].")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Checkpoint path [default: runs/sorter/<impl>-<arch>.pt].")
@THREADS
@DEVICE
@TRACEBACK
@click.option("--json", "as_json", is_flag=True,
              help="Print the run (with the threads chosen) as one JSON object instead of a "
                   "summary line.")
def sorter(out: str | None, as_json: bool, device: str, show_traceback: bool,
           threads: int | None, **settings: object) -> None:
    """Train the number sorter on freshly generated sequences and save a checkpoint."""
    choice = choose_threads(threads)                       # before torch loads
    from challenge.progress import enabled as progress_enabled
    from challenge.tasks.config import course_sorter_training, override
    from challenge.tasks.sorter import train_sorter
    from challenge.training import torch_threads

    if progress_enabled():
        click.echo(f"train sorter: {choice.summary()}", err=True)

    # --impl, --arch, --max-len, --vocab, --minutes, --seed: fields of SorterTraining
    given = {name: value for name, value in settings.items() if value is not None}
    with full_trace(show_traceback):
        config = override(course_sorter_training(), **given)
        with torch_threads(choice.threads):
            run = train_sorter(config, out=out, device=device)
    click.echo(json.dumps({**run.to_dict(), "threads": choice.to_dict()}) if as_json
               else run.summary())


SORTER_COMMANDS: list = [sorter]
