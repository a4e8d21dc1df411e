"""Which checkpoints a grade uses: the student's, where ``challenge train`` saved them, or the
reference's, trained by the grader itself the first time (with progress) and cached under
``runs/grade/``, so a fresh clone grades ``--impl solutions`` with nothing else to do.

The reference sorter is trained on exactly the rubric's graded setting (its lengths and values),
the reference spam model on the split on disk; a cached checkpoint made for another setting or
another split is retrained.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from challenge import paths
from challenge.checkpoint import load_checkpoint
from challenge.errors import ChallengeError
from challenge.rubric import Rubric


@dataclass(frozen=True)
class ReferenceTraining:
    """How the grader trains the reference models when none is cached: fixed step and epoch
    counts (not time budgets), so a slow or busy machine trains the same model, only later.
    Measured on 2 shared CPU cores: the sorter about 4-5 minutes, the spam model about 5 (8
    epochs with adversarial training, on an AVX2 2-core machine)."""

    sorter_arch: str = "pointer"
    sorter_steps: int = 600
    spam_epochs: int = 8
    seed: int = 0
    device: str = "auto"       # where to train (challenge.device); the checkpoint records it


def reference_dir() -> Path:
    return paths.runs_dir() / "grade"


def reference_checkpoints(rub: Rubric, *, data_dir: str | os.PathLike | None = None,
                          train: bool = True,
                          config: ReferenceTraining = ReferenceTraining()) -> dict[str, Path]:
    """The reference's checkpoints for ``rub``, trained first where missing (``train``)."""
    found = {}
    for task, fits, make in (("sorter", _sorter_fits, _train_sorter), ("spam", _spam_fits, _train_spam)):
        if rub.task(task) is None or rub.task(task).quality is None:
            continue
        path = reference_dir() / f"{task}.pt"
        if path.is_file() and fits(path, rub, data_dir):
            found[task] = path
        elif train:
            print(f"grade: no cached reference {task} checkpoint for this rubric; training one "
                  f"(cached as {path})", file=sys.stderr)
            try:
                make(path, rub, data_dir, config)
            except ChallengeError as e:
                print(f"grade: could not train the reference {task} model: {e}", file=sys.stderr)
                continue
            found[task] = path
    return found


def reference_spam(rub: Rubric, *, data_dir: str | os.PathLike | None = None, train: bool = True,
                   config: ReferenceTraining = ReferenceTraining()) -> Path | None:
    """The reference spam checkpoint trained on the course corpus's split on disk (trained
    first when missing and ``train``), or None."""
    path = reference_dir() / "spam.pt"
    if path.is_file() and _spam_fits(path, rub, data_dir):
        return path
    if not train:
        return None
    print(f"no reference spam checkpoint for this split; training one (cached as {path})",
          file=sys.stderr)
    _train_spam(path, rub, data_dir, config)
    return path


def reference_spam_runs(rub: Rubric, *, data_dir: str | os.PathLike | None = None,
                        train: bool = False, seeds: tuple[int, ...] = (0, 1, 2),
                        config: ReferenceTraining = ReferenceTraining()) -> list[Path]:
    """The reference spam checkpoints of several training seeds on the split on disk: every
    cached one (``spam.pt`` for ``config.seed``, ``spam-seed<N>.pt`` for the others), the
    missing ones trained first only where ``train``."""
    found = []
    for seed in dict.fromkeys((config.seed, *seeds)):
        if seed == config.seed:
            path = reference_spam(rub, data_dir=data_dir, train=train, config=config)
            found += [path] if path else []
            continue
        path = reference_dir() / f"spam-seed{seed}.pt"
        if not (path.is_file() and _spam_fits(path, rub, data_dir)):
            if not train:
                continue
            print(f"training the reference spam model with seed {seed} (cached as {path})",
                  file=sys.stderr)
            _train_spam(path, rub, data_dir, replace(config, seed=seed))
        found.append(path)
    return found


def _sorter_fits(path: Path, rub: Rubric, data_dir=None) -> bool:
    try:
        data = load_checkpoint(path)["config"].get("data", {})
    except (ChallengeError, AttributeError):
        return False
    s = rub.sorter
    return (data.get("min_len") == s.min_len and data.get("max_len") == s.max_len
            and data.get("low", 0) <= s.low and data.get("high") == s.high)


def _train_sorter(path: Path, rub: Rubric, data_dir, config: ReferenceTraining) -> None:
    from challenge.tasks.config import SorterTraining, override
    from challenge.tasks.sorter import train_sorter

    s = rub.sorter
    run = override(SorterTraining(), impl="solutions", arch=config.sorter_arch, min_len=s.min_len,
                   max_len=s.max_len, vocab=s.high + 1, minutes=None, steps=config.sorter_steps,
                   seed=config.seed)
    train_sorter(run, out=path, device=config.device)


def _spam_fits(path: Path, rub: Rubric, data_dir=None) -> bool:
    """Trained on the split on disk now: after `challenge hidden make` re-splits the corpus, a
    model trained before may have seen today's hidden test messages."""
    from challenge.tasks.spam import split_info

    try:
        cfg = load_checkpoint(path)["config"]
        now = split_info(rub.hidden.spam_corpus, data_dir).get("sha256", {}).get("train")
    except ChallengeError:
        return False
    trained = (cfg.get("split") or {}).get("sha256", {}).get("train") if isinstance(cfg, dict) else None
    return cfg.get("task") == "spam" and trained is not None and trained == now


def _train_spam(path: Path, rub: Rubric, data_dir, config: ReferenceTraining) -> None:
    from challenge.tasks.config import SpamTraining, override
    from challenge.tasks.spam import train_spam

    run = override(SpamTraining(), impl="solutions", corpus=rub.hidden.spam_corpus,
                   epochs=config.spam_epochs, seed=config.seed)
    train_spam(run, out=path, data_dir=data_dir, device=config.device)
