"""Where a model trains: ``--device auto|cpu|cuda|mps``. ``auto`` takes CUDA when torch sees a
GPU, else the CPU (Apple's ``mps`` only when asked for: some LSTM operations are not there).
An unavailable device is a one-line error naming what torch can use here."""

from __future__ import annotations

from typing import Any

import torch

from challenge.errors import ChallengeError

DEVICES = ("auto", "cpu", "cuda", "mps")


def available() -> list[str]:
    """The devices torch can use on this machine, CPU first."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def resolve_device(name: str | None = "auto") -> torch.device:
    """``name`` ("auto", "cpu", "cuda", "cuda:N" or "mps") as a torch device that exists here."""
    name = (name or "auto").strip().lower()
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise ChallengeError(f"unknown device {name!r}; use one of {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind not in available():
        raise ChallengeError(f"device {name!r} is not available here (torch {torch.__version__} "
                             f"can use: {', '.join(available())}); pass --device cpu or auto")
    device = torch.device(name)
    if kind == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ChallengeError(f"device {name!r}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s); use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def describe(device: torch.device) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H200)``: what a checkpoint and a report record."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (tuples, lists, dicts, nested) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple):
        return tuple(to_device(b, device) for b in batch)
    if isinstance(batch, list):
        return [to_device(b, device) for b in batch]
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
