"""What the spam benchmarks share: a split made in a temporary data folder, and the reference's
training settings changed by ``KEY=VALUE`` options.

    from common import split_folder, spam_training   # bench/common.py, beside the scripts
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def split_folder(data_dir: str, corpus: str, seed: int, scheme: str = "random"
                 ) -> Iterator[tuple[str, object]]:
    """A temporary data folder holding ``corpus`` (linked from ``data_dir``, not copied) and
    its split with ``seed``; yields the folder and the split (challenge.data.split.Split).
    The split on disk in ``data_dir`` is untouched, so benchmarks over several split seeds
    may run side by side."""
    from challenge.data.split import make_split

    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "corpora"))
        os.symlink(os.path.join(data_dir, "corpora", corpus), os.path.join(tmp, "corpora", corpus))
        yield tmp, make_split(corpus, seed, scheme, tmp)


def spam_training(pairs: list[str], *, script: str, option: str,
                  only: set[str] | None = None, forbidden: tuple[str, ...] = ()):
    """``["max_length=600", "lr=0.002"]`` -> the reference's SpamTraining with those fields
    changed (each by name, wherever it lives: data, model or loop; a value is read as JSON,
    else kept as a bare string: ``pooling=max``). ``only``: the keys allowed; ``forbidden``:
    keys the script sets by its own options. Exits naming ``script``, ``option`` and the pair
    on anything else, and with the settings' own message on a bad value (checked as
    `challenge train` checks them)."""
    from challenge.errors import ChallengeError
    from challenge.tasks.config import SpamTraining, override

    changes = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or (only is not None and key not in only):
            wanted = f" with KEY one of {', '.join(sorted(only))}" if only is not None else ""
            sys.exit(f"{script}: {option} wants KEY=VALUE{wanted}; got {pair!r}")
        if key in forbidden:
            sys.exit(f"{script}: {option} cannot set {key!r}; use the benchmark's own options")
        try:
            changes[key] = json.loads(text)
        except json.JSONDecodeError:
            changes[key] = text
    try:
        return override(SpamTraining(), **changes)
    except ChallengeError as e:
        sys.exit(f"{script}: {option}: {e}")
