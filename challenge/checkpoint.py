"""Checkpoints are plain dicts ``{state_dict, config, tokenizer, metrics}``, never pickled modules.

They load with ``torch.load(weights_only=True)``, so a checkpoint from an untrusted submission
cannot run code when it is read.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from challenge.errors import ChallengeError
from challenge.paths import atomic_write

REQUIRED_KEYS = ("state_dict", "config")


def save_checkpoint(path: str | os.PathLike, *, state_dict: dict, config: dict,
                    tokenizer: dict | None = None, metrics: dict | None = None,
                    **extra: Any) -> Path:
    """Write the checkpoint dict atomically (a crash never leaves half a file)."""
    path = Path(path)
    payload = {"state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
               "config": config, "tokenizer": tokenizer, "metrics": metrics or {}, **extra}
    with atomic_write(path, "wb") as f:
        torch.save(payload, f)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint with ``weights_only=True``; a bad file is a :class:`ChallengeError`."""
    path = Path(path)
    if not path.is_file():
        raise ChallengeError(f"checkpoint {path} does not exist; train one first "
                             f"(challenge train ...) or pass the right path")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load on arbitrary bytes raises almost anything
        raise ChallengeError(f"checkpoint {path} {unreadable(e)}") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        raise ChallengeError(f"checkpoint {path} is not a challenge checkpoint: expected a dict "
                             f"with keys {', '.join(REQUIRED_KEYS)}")
    return ckpt


def unreadable(error: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in the kit's words (never torch's
    advice to load it without ``weights_only``): a pickled object it names, or no checkpoint at
    all. Completes "checkpoint X ..."."""
    text = str(error)
    culprit = re.search(r"GLOBAL ([\w.]+)", text)
    if isinstance(error, pickle.UnpicklingError) and culprit:
        return (f"cannot be loaded safely: it holds a pickled object ({culprit.group(1)}), "
                f"which could run code when loaded; save plain tensors and dicts (`challenge "
                f"train` does)")
    return ("is not a readable torch checkpoint: it is empty, cut short or another kind of "
            "file; train again with `challenge train ...` or pass the right path")


def load_weights(model: torch.nn.Module, ckpt: dict, path: str | os.PathLike, task: str) -> None:
    """``model.load_state_dict(ckpt["state_dict"])``; a state dict that does not fit the model
    (another architecture or size, the module changed since training) is a ChallengeError."""
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise ChallengeError(f"checkpoint {path} does not fit this {task}_model "
                             f"({lines[-1] if lines else 'state_dict mismatch'}); retrain it "
                             f"with `challenge train {task}`") from None
