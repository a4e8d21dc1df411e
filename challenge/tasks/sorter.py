"""The sorter task assembled: train a Sorter (any implementation, any architecture) on freshly
generated number sequences with the generic Trainer, evaluate greedy decoding, and save or load
the checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from challenge.checkpoint import load_checkpoint, load_weights, save_checkpoint
from challenge.data.sequences import (
    EOS_ID,
    Pair,
    SequenceConfig,
    SequenceStream,
    collate,
    decode_ids,
    encode_values,
    id_scheme,
    make_sequences,
)
from challenge.device import describe, model_device, resolve_device, to_device
from challenge.errors import ChallengeError
from challenge.impl import build_model, default_impl, student_failure, unfinished
from challenge.paths import runs_dir
from challenge.tasks.config import ARCHS, SorterTraining, course_sorter_training  # noqa: F401
from challenge.training import (
    Callback,
    ProgressCallback,
    TrainConfig,
    Trainer,
    TrainResult,
    out_of_memory,
    seed_everything,
)

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


def _loss_fn(impl: str) -> Callable[[nn.Module, tuple], torch.Tensor]:
    """``Sorter.loss`` on a batch, refused (naming ``impl``) unless it is one float tensor."""

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

    return loss


def _train_config(config: SorterTraining, where: torch.device) -> TrainConfig:
    # The weights are chosen by dev loss: dev exact match reaches 1.0 long before the model
    # stops improving (on longer sequences), and a tie would keep the early weights.
    loop = config.loop
    return TrainConfig(max_steps=loop.steps,
                       max_seconds=loop.minutes * 60 if loop.minutes else None, lr=loop.lr,
                       weight_decay=0.0, warmup_steps=100, eval_every=loop.eval_every,
                       patience=None, metric="loss", mode="min", seed=config.seed,
                       device=str(where))


def _fit(config: SorterTraining, model: nn.Module, data: SequenceConfig, where: torch.device,
         callbacks: list) -> tuple[TrainResult, TrainConfig]:
    """Fit ``model`` on fresh batches of ``data``, keeping the weights best on the run's own
    dev set (drawn from the seed + :data:`DEV_SEED_OFFSET`)."""
    d, impl = config.data, str(config.impl)
    dev = make_sequences(d.dev_size, config.seed + DEV_SEED_OFFSET, data.min_len, data.max_len,
                         data.low, data.high)
    dev_batch = to_device(collate(dev), where)
    loss = _loss_fn(impl)

    def evaluate(m: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            dev_loss = float(loss(m, dev_batch))
        return {**evaluate_sorter(m, dev), "loss": dev_loss}

    train_config = _train_config(config, where)
    trainer = Trainer(model, train_config, callbacks=callbacks, loss_fn=loss, evaluate=evaluate)
    stream = SequenceStream(data, batch_size=config.loop.batch_size, seed=config.seed,
                            length_power=d.length_power)
    return trainer.fit(stream), train_config


def train_sorter(config: SorterTraining | None = None, *, out: str | Path | None = None,
                 device: str | None = "auto", progress: bool = True,
                 callbacks: Sequence[Callback] = ()) -> SorterRun:
    """Train the sorter that ``config`` describes on fresh batches for its minutes (or steps),
    keep the weights best on a small dev set, save the checkpoint dict to ``out`` (default
    :func:`default_path`) and return the run. ``device``: where to train
    (:mod:`challenge.device`; "auto" is CUDA when present); the checkpoint is saved from the
    CPU and records it. ``callbacks``: more Trainer callbacks, after the progress bar."""
    config = SorterTraining() if config is None else config
    if not isinstance(config, SorterTraining):
        raise ChallengeError(f"train_sorter takes a SorterTraining, got {type(config).__name__}; "
                             f"build one with challenge.tasks.config.override(SorterTraining(), "
                             f"max_len=..., ...)")
    where = resolve_device(device)
    config = replace(config, impl=config.impl or default_impl())
    impl, arch, d = str(config.impl), config.model.arch, config.data
    data = SequenceConfig(min_len=d.min_len, max_len=d.max_len, low=0, high=d.vocab - 1)
    model_config = {"vocab_size": data.vocab_size, "embed_dim": config.model.embed_dim,
                    "hidden_size": config.model.hidden_size, "arch": arch}
    path = Path(out) if out is not None else default_path(impl, arch)
    seed_everything(config.seed)
    model = build_sorter(impl, model_config)
    hooks = [*([_Progress(desc=f"sorter {arch}", total=config.loop.steps)] if progress else []),
             *callbacks]
    start = time.monotonic()
    try:
        result, train_config = _fit(config, model, data, where, hooks)
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except Exception as e:
        failure = _training_failure(config, e)
        if failure is e:
            raise
        raise failure from None
    metrics = {k: float(v) for k, v in result.best_metrics.items()}
    model.to("cpu")      # a checkpoint loads anywhere
    saved = {"task": "sorter", "impl": impl, "model": model_config,
             "train": {**train_config.to_dict(), "batch_size": config.loop.batch_size,
                       "length_power": d.length_power, "device_name": describe(where)},
             "data": data.to_dict(), "dev": {"size": d.dev_size, "seed": config.seed + DEV_SEED_OFFSET}}
    save_checkpoint(path, state_dict=model.state_dict(), config=saved,
                    tokenizer=id_scheme(data), metrics=metrics)
    return SorterRun(path=str(path), impl=impl, arch=arch, metrics=metrics, steps=result.steps,
                     seconds=time.monotonic() - start, stopped=result.stopped,
                     dev=saved["dev"], device=describe(where))


def _training_failure(config: SorterTraining, e: Exception) -> Exception:
    """What a failed run raises instead of ``e``: out of memory and a student's bug are
    ChallengeErrors; anything else is ``e`` itself, a bug of ours."""
    if isinstance(e, (MemoryError, RuntimeError)) and out_of_memory(e):
        return ChallengeError(f"out of memory training the sorter: batches of "
                              f"{config.loop.batch_size} sequences up to {config.data.max_len} "
                              f"long need more than this machine has; use a smaller --max-len "
                              f"(the graded setting is 20)")
    failure = student_failure(str(config.impl), e, "training the sorter")
    return e if failure is None else failure
