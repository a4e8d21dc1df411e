"""The sorter task assembled: train a Sorter (any implementation, any architecture) on freshly
generated number sequences with the generic Trainer, evaluate greedy decoding, and save or load
the checkpoint.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from challenge.checkpoint import load_checkpoint, load_weights, save_checkpoint
from challenge.data.sequences import (EOS_ID, Pair, SequenceConfig, SequenceStream, collate,
                                      decode_ids, encode_values, id_scheme, make_sequences)
from challenge.device import describe, model_device, resolve_device, to_device
from challenge.errors import ChallengeError
from challenge.impl import build_model, default_impl, student_failure, unfinished
from challenge.paths import runs_dir
from challenge.training import (ProgressCallback, TrainConfig, Trainer, out_of_memory,
                                seed_everything)

ARCHS = ("seq2seq", "attention", "pointer")
#: The dev set that tracks progress is drawn from this offset of the run's seed, never its own.
DEV_SEED_OFFSET = 10_007


@dataclass
class SorterRun:
    """What :func:`train_sorter` returns: where the checkpoint went and how training went."""

    path: str
    impl: str
    arch: str
    metrics: dict[str, float]
    steps: int
    seconds: float
    stopped: str
    dev: dict = field(default_factory=dict)   # the run's own dev set: size, seed
    device: str = "cpu"                        # where it trained

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        own = (f" (this run's own dev set: {self.dev['size']} sequences of seed {self.dev['seed']}"
               f"; `challenge grade` measures on the rubric's public dev sets, other sequences, "
               f"so its figure differs a little)" if self.dev else "")
        return (f"sorter ({self.impl}, {self.arch}): {self.steps} steps in {self.seconds:.0f}s "
                f"on {self.device}; "
                f"dev exact match {self.metrics.get('exact_match', float('nan')):.4f}, "
                f"token accuracy {self.metrics.get('token_accuracy', float('nan')):.4f}{own}; "
                f"saved {self.path}")


class _Progress(ProgressCallback):
    """The trainer's bar, showing the running dev exact match beside the dev loss."""

    def on_eval(self, trainer: Trainer, step: int, metrics: dict[str, float]) -> None:
        self.last = (f"dev_exact={metrics.get('exact_match', float('nan')):.4f} "
                     f"dev_loss={metrics.get('loss', float('nan')):.4f}")


def build_sorter(impl: str, model_config: dict) -> nn.Module:
    """A fresh ``Sorter`` of implementation ``impl`` from a plain config dict."""
    return build_model(impl, "sorter_model", "Sorter", "SorterConfig", model_config, unfinished,
                       uses=("Sorter.loss", "Sorter.generate"))


def load_sorter(path: str | Path, impl: str | None = None) -> tuple[nn.Module, dict]:
    """Model (in eval mode) and checkpoint dict from ``path``; ``impl`` defaults to the one
    that trained it."""
    ckpt = load_checkpoint(path)
    config = ckpt["config"]
    if not isinstance(config, dict) or config.get("task") != "sorter":
        raise ChallengeError(f"checkpoint {path} is not a sorter checkpoint "
                             f"(task {config.get('task') if isinstance(config, dict) else None!r})")
    model = build_sorter(impl or config.get("impl", "solutions"), config["model"])
    load_weights(model, ckpt, path, "sorter")
    return model.eval(), ckpt


def evaluate_sorter(model: nn.Module, sequences: Sequence[Pair], batch_size: int = 512,
                    max_len: int | None = None) -> dict[str, float]:
    """Greedy-decode ``sequences`` and score them.

    exact_match: output equals the sorted input; token_accuracy: target tokens (values, then
    <eos>) matched position by position; permutation: output is a reordering of the input;
    early_eos: output is shorter than the input.
    """
    if len(sequences) == 0:
        raise ChallengeError("cannot evaluate the sorter on an empty set of sequences")
    was_training = model.training
    model.eval()
    exact = tokens = token_total = perm = early = 0
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start:start + batch_size]
        src, lengths, _ = to_device(collate(chunk), model_device(model))
        out = model.generate(src, lengths, max_len=max_len).tolist()
        for (values, target), ids in zip(chunk, out):
            pred = decode_ids(ids)
            exact += pred == target
            perm += sorted(pred) == sorted(values)
            early += len(pred) < len(values)
            expected = encode_values(target) + [EOS_ID]
            tokens += sum(int(a == b) for a, b in zip(ids, expected))
            token_total += len(expected)
    model.train(was_training)
    n = len(sequences)
    return {"exact_match": exact / n, "token_accuracy": tokens / token_total,
            "permutation": perm / n, "early_eos": early / n, "n": n}


def default_path(impl: str, arch: str) -> Path:
    """``runs/sorter/<impl>-<arch>.pt`` (a folder implementation is named by its folder)."""
    name = impl if impl in ("solutions", "challenge") else Path(impl).name or "impl"
    return runs_dir() / "sorter" / f"{name}-{arch}.pt"


def _check_args(arch: str, max_len: int, vocab: int, minutes: float | None,
                steps: int | None, batch_size: int) -> None:
    if arch not in ARCHS:
        raise ChallengeError(f"unknown sorter architecture {arch!r}; use one of {', '.join(ARCHS)}")
    if not isinstance(max_len, int) or max_len < 1:
        raise ChallengeError(f"--max-len must be a positive integer (the longest training "
                             f"sequence), got {max_len!r}")
    if not isinstance(vocab, int) or vocab < 2:
        raise ChallengeError(f"--vocab must be at least 2 (values 0..vocab-1), got {vocab!r}")
    if minutes is not None and not (minutes > 0 and math.isfinite(minutes)):
        raise ChallengeError(f"--minutes must be a positive number, got {minutes!r}")
    if steps is not None and steps < 1:
        raise ChallengeError(f"steps must be a positive integer, got {steps!r}")
    if minutes is None and steps is None:
        raise ChallengeError("give a training budget: minutes or steps")
    if batch_size < 1:
        raise ChallengeError(f"batch size must be a positive integer, got {batch_size!r}")


def train_sorter(impl: str | None = None, arch: str = "pointer", max_len: int = 10,
                 vocab: int = 100, minutes: float | None = 5.0, seed: int = 0,
                 out: str | Path | None = None, *, min_len: int = 1, steps: int | None = None,
                 batch_size: int = 256, lr: float = 3e-3, embed_dim: int = 64,
                 hidden_size: int = 128, length_power: float = 1.0, dev_size: int = 500,
                 eval_every: int = 200, device: str | None = "auto",
                 progress: bool = True) -> SorterRun:
    """Train a sorter on fresh batches (values 0..vocab-1, lengths min_len..max_len, a length
    L drawn in proportion to ``L ** length_power``) for ``minutes`` (or ``steps``), keep the
    weights best on a small dev set, save the checkpoint dict to ``out`` (default
    :func:`default_path`) and return the run. ``impl``: whose sorter_model (default
    :func:`challenge.impl.default_impl`). ``device``: where to train (:mod:`challenge.device`;
    "auto" is CUDA when present); the checkpoint is saved from the CPU and records it."""
    _check_args(arch, max_len, vocab, minutes, steps, batch_size)
    where = resolve_device(device)
    impl = impl or default_impl()
    data = SequenceConfig(min_len=min_len, max_len=max_len, low=0, high=vocab - 1)
    model_config = {"vocab_size": data.vocab_size, "embed_dim": embed_dim,
                    "hidden_size": hidden_size, "arch": arch}
    path = Path(out) if out is not None else default_path(impl, arch)
    seed_everything(seed)
    model = build_sorter(impl, model_config)
    dev = make_sequences(dev_size, seed + DEV_SEED_OFFSET, min_len, max_len, 0, vocab - 1)
    dev_batch = to_device(collate(dev), where)

    def loss(m: nn.Module, batch: tuple) -> torch.Tensor:
        value = m.loss(*batch)
        if not (isinstance(value, torch.Tensor) and value.ndim == 0
                and value.is_floating_point()):
            got = (f"a {value.dtype} tensor of shape {tuple(value.shape)}"
                   if isinstance(value, torch.Tensor) else f"a {type(value).__name__}")
            raise ChallengeError(f"sorter_model in {impl!r}: Sorter.loss returned {got}; it "
                                 f"must return one float (a 0-dimensional tensor: the mean over "
                                 f"the real target tokens, e.g. F.cross_entropy's default "
                                 f"reduction)")
        return value

    def evaluate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            dev_loss = float(loss(m, dev_batch))
        return {**evaluate_sorter(m, dev), "loss": dev_loss}

    # The weights are chosen by dev loss: dev exact match reaches 1.0 long before the model
    # stops improving (on longer sequences), and a tie would keep the early weights.
    train_config = TrainConfig(max_steps=steps, max_seconds=minutes * 60 if minutes else None,
                               lr=lr, weight_decay=0.0, warmup_steps=100, eval_every=eval_every,
                               patience=None, metric="loss", mode="min", seed=seed,
                               device=str(where))
    callbacks = [_Progress(desc=f"sorter {arch}", total=steps)] if progress else []
    trainer = Trainer(model, train_config, callbacks=callbacks,
                      loss_fn=loss, evaluate=evaluate)
    start = time.monotonic()
    try:
        result = trainer.fit(SequenceStream(data, batch_size=batch_size, seed=seed,
                                            length_power=length_power))
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except Exception as e:
        if isinstance(e, (MemoryError, RuntimeError)) and out_of_memory(e):
            raise ChallengeError(f"out of memory training the sorter: batches of {batch_size} "
                                 f"sequences up to {max_len} long need more than this machine "
                                 f"has; use a smaller --max-len (the graded setting is 20)") from None
        failure = student_failure(impl, e, "training the sorter")
        if failure is None:
            raise
        raise failure from None
    metrics = {k: float(v) for k, v in result.best_metrics.items()}
    model.to("cpu")      # a checkpoint loads anywhere
    config = {"task": "sorter", "impl": impl, "model": model_config,
              "train": {**train_config.to_dict(), "batch_size": batch_size,
                        "length_power": length_power, "device_name": describe(where)},
              "data": data.to_dict(), "dev": {"size": dev_size, "seed": seed + DEV_SEED_OFFSET}}
    save_checkpoint(path, state_dict=model.state_dict(), config=config,
                    tokenizer=id_scheme(data), metrics=metrics)
    return SorterRun(path=str(path), impl=impl, arch=arch, metrics=metrics, steps=result.steps,
                     seconds=time.monotonic() - start, stopped=result.stopped,
                     dev=config["dev"], device=describe(where))
