"""One generic training loop for every task: seeded, AdamW, gradient clipping, warmup+cosine
learning rate, early stopping on a dev metric, a time budget, and callbacks for progress.

It knows nothing about spam or sorting: a task hands it a model, an iterable of batches, a
``loss_fn(model, batch) -> loss`` and an ``evaluate(model) -> {metric: value}``.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Protocol

import numpy as np
import torch
from torch import nn

from challenge import progress
from challenge.device import to_device


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every task."""

    epochs: int = 10             # passes over a finite loader (ignored when the budget ends first)
    max_steps: int | None = None  # stop after this many optimiser steps
    max_seconds: float | None = None  # stop after this much wall-clock training time
    lr: float = 2e-3
    weight_decay: float = 1e-2
    grad_clip: float = 1.0       # max global gradient norm (exploding gradients); 0 disables
    warmup_steps: int = 0
    schedule: str = "cosine"     # "cosine" (decays to min_lr_ratio * lr) or "constant"
    min_lr_ratio: float = 0.05
    eval_every: int | None = None  # evaluate every N steps; None: at the end of every epoch
    patience: int | None = 3     # stop after this many evaluations without improvement
    metric: str = "loss"         # the dev metric that selects the best weights
    mode: str = "min"            # "min" or "max" for ``metric``
    tiebreak: str | None = None  # a second dev metric that decides between equal ``metric``s
    tiebreak_mode: str = "min"   # (a coarse metric such as F1 on a small dev set ties often)
    ema_decay: float | None = None  # evaluate and keep an exponential moving average of the
                                    # weights (Polyak averaging) instead of the raw weights
    seed: int = 0
    device: str = "cpu"          # where the model trains: a torch device ("cpu", "cuda", ...)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns: the best dev metrics and how long it took."""

    best_metrics: dict[str, float]
    best_step: int
    steps: int
    epochs: float
    seconds: float
    stopped: str                 # "epochs", "max_steps", "max_seconds" or "early_stopping"
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in self.best_metrics.items())
        return (f"{self.steps} steps in {self.seconds:.1f}s (stopped: {self.stopped}); "
                f"best at step {self.best_step}: {metrics}")


class Callback(Protocol):
    def on_step(self, trainer: "Trainer", step: int, loss: float) -> None: ...
    def on_eval(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None: ...
    def on_end(self, trainer: "Trainer", result: TrainResult) -> None: ...


class ProgressCallback:
    """A tqdm bar with the running loss and the last dev metric."""

    def __init__(self, desc: str = "train", total: int | None = None):
        self.desc, self.total, self.bar, self.last = desc, total, None, ""
        self.running: float | None = None

    def on_step(self, trainer: "Trainer", step: int, loss: float) -> None:
        if self.bar is None:
            self.bar = progress.bar(total=self.total, desc=self.desc, unit="step")
        self.running = loss if self.running is None else 0.98 * self.running + 0.02 * loss
        self.bar.update(1)
        if step % 10 == 0:
            self.bar.set_postfix_str(f"loss={self.running:.4f} {self.last}")

    def on_eval(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        m = trainer.config.metric
        if m in metrics:
            self.last = f"dev_{m}={metrics[m]:.4f}"

    def on_end(self, trainer: "Trainer", result: TrainResult) -> None:
        if self.bar is not None:
            self.bar.close()


def out_of_memory(e: BaseException) -> bool:
    """Whether ``e`` is the allocator giving up (``MemoryError``, torch's ``OutOfMemoryError``
    or the CPU allocator's "can't allocate memory" RuntimeError), not a bug."""
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and (
        type(e).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(e)
        or "not enough memory" in str(e)))


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch generator for data order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class HeapTrim:
    """A callback that hands freed heap memory back to the system every ``every`` steps.

    Batches of many different lengths leave glibc's heap fragmented, and the process keeps
    what it once used: without trimming, the spam reference's peak RSS came close to the issue's
    1.5 GB limit; with it, bench/spam.py measures about 730 MB. Setting glibc's mmap threshold
    instead also held RSS down but slowed training and inference by about a third. A no-op
    where ``malloc_trim`` does not exist (not glibc).
    """

    def __init__(self, every: int = 3):
        self.every = max(1, int(every))
        self._trim = _malloc_trim()

    def on_step(self, trainer: "Trainer", step: int, loss: float) -> None:
        if self._trim is not None and step % self.every == 0:
            self._trim(0)

    def on_eval(self, trainer: "Trainer", step: int, metrics: dict[str, float]) -> None:
        if self._trim is not None:
            self._trim(0)

    def on_end(self, trainer: "Trainer", result: TrainResult) -> None:
        pass


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` intra-op torch threads (None: leave the setting alone).

    Small recurrent models are a long chain of tiny matrix products; splitting each over
    threads costs more than it saves. The spam model (hidden size 32) trained in 110 s on one
    thread and 316 s on two on a 2-core machine (bench/spam.py --lstm threads=2, README).
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def usable_cores(cap: int | None = None) -> int:
    """CPU cores this process may use: its affinity mask, lowered by ``OMP_NUM_THREADS`` when
    that is set (the batch grader gives each worker its share that way), at most ``cap``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):                  # not Linux
        cores = os.cpu_count() or 1
    share = os.environ.get("OMP_NUM_THREADS", "")
    if share.isdigit() and int(share) > 0:
        cores = min(cores, int(share))
    return max(1, min(cores, cap) if cap else cores)


class Trainer:
    """Fits ``model`` with AdamW; keeps (and restores at the end) the best weights on dev."""

    def __init__(self, model: nn.Module, config: TrainConfig, *,
                 loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                 evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
                 callbacks: Iterable[Callback] = ()):
        for name in ("mode", "tiebreak_mode"):
            if getattr(config, name) not in ("min", "max"):
                raise ValueError(f"TrainConfig.{name} must be 'min' or 'max', "
                                 f"got {getattr(config, name)!r}")
        self.device = torch.device(config.device)
        self.model, self.config = model.to(self.device), config
        self.loss_fn, self.evaluate = loss_fn, evaluate
        self.callbacks = list(callbacks)
        if config.ema_decay is not None and not 0.0 < config.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in (0, 1), got {config.ema_decay!r}")
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        # The averaged weights: floating-point parameters only (what the optimiser moves).
        self._ema = ([p.detach().clone() for p in model.parameters()]
                     if config.ema_decay is not None else None)

    def _update_ema(self) -> None:
        if self._ema is None:
            return
        with torch.no_grad():
            for avg, p in zip(self._ema, self.model.parameters()):
                avg.lerp_(p.detach(), 1.0 - self.config.ema_decay)

    def _swap_ema(self) -> None:
        """Exchange the model's weights and the averaged ones (twice restores both)."""
        if self._ema is None:
            return
        with torch.no_grad():
            for avg, p in zip(self._ema, self.model.parameters()):
                tmp = p.detach().clone()
                p.copy_(avg)
                avg.copy_(tmp)

    def _lr_factor(self, step: int, progress_frac: float) -> float:
        c = self.config
        if c.warmup_steps and step < c.warmup_steps:
            return (step + 1) / c.warmup_steps
        if c.schedule == "constant":
            return 1.0
        p = min(max(progress_frac, 0.0), 1.0)
        return c.min_lr_ratio + (1 - c.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))

    def _better(self, metrics: dict[str, float], best: dict[str, float] | None) -> bool:
        c = self.config
        value = metrics.get(c.metric, float("nan"))
        if best is None or math.isnan(best.get(c.metric, float("nan"))):
            return not math.isnan(value)
        old = best[c.metric]
        if value != old or c.tiebreak is None:
            return value < old if c.mode == "min" else value > old
        new_t = metrics.get(c.tiebreak, float("nan"))
        old_t = best.get(c.tiebreak, float("nan"))
        if math.isnan(new_t) or math.isnan(old_t):
            return False
        return new_t < old_t if c.tiebreak_mode == "min" else new_t > old_t

    def fit(self, batches: Iterable) -> TrainResult:
        """Train over ``batches`` (re-iterated each epoch) until a budget or patience ends it."""
        c = self.config
        try:
            per_epoch = len(batches)  # type: ignore[arg-type]
        except TypeError:
            per_epoch = None
        total_steps = c.max_steps
        if per_epoch is not None and (total_steps is None or c.epochs * per_epoch < total_steps):
            total_steps = c.epochs * per_epoch
        for cb in self.callbacks:
            if isinstance(cb, ProgressCallback) and cb.total is None:
                cb.total = total_steps
        state = _FitState(start=time.monotonic(), total_steps=total_steps)
        stopped, epoch = self._epochs(batches, state, per_epoch)
        if stopped in ("max_steps", "max_seconds") and (
                not state.history or state.history[-1]["step"] != state.step):
            self._run_eval(state)
        if state.best_state is not None:
            self.model.load_state_dict(state.best_state)
        elif self._ema is not None and state.step:
            self._swap_ema()                 # no evaluation: the averaged weights are the result
        self.model.eval()
        result = TrainResult(best_metrics=state.best or {}, best_step=state.best_step,
                             steps=state.step,
                             epochs=state.step / per_epoch if per_epoch else float(epoch),
                             seconds=time.monotonic() - state.start, stopped=stopped,
                             history=state.history)
        for cb in self.callbacks:
            cb.on_end(self, result)
        return result

    def _epochs(self, batches: Iterable, state: "_FitState", per_epoch: int | None
                ) -> tuple[str, int]:
        """The passes over ``batches``: why they stopped and how many began."""
        c = self.config
        self.model.train()
        epoch, stopped = 0, "epochs"
        while stopped == "epochs" and epoch < c.epochs:
            for batch in batches:
                reason = self._step(batch, state)
                if reason is not None:
                    stopped = reason
                    break
            epoch += 1
            if per_epoch == 0 or state.step == 0:
                break
            if stopped == "epochs" and not c.eval_every and self._run_eval(state):
                stopped = "early_stopping"
        return stopped, epoch

    def _step(self, batch: Any, state: "_FitState") -> str | None:
        """One optimiser step on ``batch``; the reason to stop after it, if any."""
        c = self.config
        elapsed = time.monotonic() - state.start
        frac = max(state.step / state.total_steps if state.total_steps else 0.0,
                   elapsed / c.max_seconds if c.max_seconds else 0.0)
        for group in self.optimizer.param_groups:
            group["lr"] = c.lr * self._lr_factor(state.step, frac)
        # Zeroed before the loss: a loss_fn may back-propagate a part itself (see
        # challenge.adversarial), and those gradients must survive to the step.
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.model, to_device(batch, self.device))
        loss.backward()
        if c.grad_clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self.optimizer.step()
        self._update_ema()
        state.step += 1
        for cb in self.callbacks:
            cb.on_step(self, state.step, float(loss.detach()))
        if c.eval_every and state.step % c.eval_every == 0 and self._run_eval(state):
            return "early_stopping"
        if c.max_steps is not None and state.step >= c.max_steps:
            return "max_steps"
        if c.max_seconds is not None and time.monotonic() - state.start >= c.max_seconds:
            return "max_seconds"
        return None

    def _run_eval(self, state: "_FitState") -> bool:
        """Evaluate (the averaged weights, with EMA) and keep the best weights; whether
        patience has run out."""
        if self.evaluate is None:
            return False
        self.model.eval()
        self._swap_ema()                 # evaluate (and keep) the averaged weights
        try:
            metrics = dict(self.evaluate(self.model))
            state.history.append({"step": state.step, **metrics})
            for cb in self.callbacks:
                cb.on_eval(self, state.step, metrics)
            if self._better(metrics, state.best):
                state.best, state.best_step, state.bad_evals = metrics, state.step, 0
                state.best_state = copy.deepcopy(self.model.state_dict())
            else:
                state.bad_evals += 1
        finally:
            self._swap_ema()
            self.model.train()
        return self.config.patience is not None and state.bad_evals >= self.config.patience


@dataclass
class _FitState:
    """Where one :meth:`Trainer.fit` stands: steps taken, the best evaluation so far."""

    start: float                          # time.monotonic() when fitting began
    total_steps: int | None               # the planned steps, for the learning-rate schedule
    step: int = 0
    best: dict[str, float] | None = None
    best_step: int = 0
    bad_evals: int = 0
    best_state: dict | None = None
    history: list[dict[str, float]] = field(default_factory=list)
