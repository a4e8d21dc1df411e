"""The generic Trainer: budgets, early stopping, best weights restored, tie-breaks, clipping,
the learning-rate schedule and the progress callback."""

from __future__ import annotations

import itertools
import platform
import sys

import pytest
import torch
from torch import nn

import challenge.training as training
from challenge.training import ProgressCallback, TrainConfig, Trainer, seed_everything


def _batches(n: int = 4):
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([[1.0], [-2.0], [0.5]])
    xs = [torch.randn(8, 3, generator=g) for _ in range(n)]
    return [(x, x @ w + 0.1 * torch.randn(8, 1, generator=g)) for x in xs]


def _mse(model: nn.Module, batch) -> torch.Tensor:
    x, y = batch
    return nn.functional.mse_loss(model(x), y)


class Scripted:
    """evaluate() returning scripted metrics, remembering the weights each time."""

    def __init__(self, values: list[dict]):
        self.values, self.seen = iter(values), []

    def __call__(self, model: nn.Module) -> dict:
        self.seen.append(model.weight.detach().clone())
        return next(self.values)


def test_trains_for_the_given_epochs_and_reduces_the_loss():
    seed_everything(0)
    model = nn.Linear(3, 1)
    batches = _batches()
    def total_loss(m: nn.Module) -> dict:
        with torch.no_grad():
            return {"loss": sum(float(_mse(m, b)) for b in batches)}

    before = total_loss(model)["loss"]
    result = Trainer(model, TrainConfig(epochs=20, lr=0.05, patience=None), loss_fn=_mse,
                     evaluate=total_loss).fit(batches)
    assert (result.steps, result.epochs, result.stopped) == (80, 20.0, "epochs")
    assert result.best_metrics["loss"] < 0.5 * before
    assert len(result.history) == 20 and not model.training


def test_early_stopping_restores_the_best_weights():
    evaluate = Scripted([{"f1": v} for v in (0.5, 0.9, 0.8, 0.7, 0.95)])
    model = nn.Linear(3, 1)
    config = TrainConfig(epochs=10, patience=2, metric="f1", mode="max", lr=0.1)
    result = Trainer(model, config, loss_fn=_mse, evaluate=evaluate).fit(_batches())
    assert result.stopped == "early_stopping" and result.steps == 16   # 4 evaluations
    assert result.best_step == 8 and result.best_metrics == {"f1": 0.9}
    assert torch.equal(model.weight, evaluate.seen[1])                  # epoch 2's weights
    assert not torch.equal(model.weight, evaluate.seen[-1])


def test_tiebreak_prefers_the_lower_loss_among_equal_f1():
    values = [{"f1": 1.0, "loss": 0.5}, {"f1": 1.0, "loss": 0.2}, {"f1": 1.0, "loss": 0.3}]
    config = TrainConfig(epochs=3, patience=None, metric="f1", mode="max", tiebreak="loss")
    model = nn.Linear(3, 1)
    evaluate = Scripted(values)
    result = Trainer(model, config, loss_fn=_mse, evaluate=evaluate).fit(_batches())
    assert result.best_metrics == values[1]
    assert torch.equal(model.weight, evaluate.seen[1])
    plain = Trainer(nn.Linear(3, 1), TrainConfig(epochs=3, patience=None, metric="f1", mode="max"),
                    loss_fn=_mse, evaluate=Scripted(values)).fit(_batches())
    assert plain.best_metrics == values[0]          # without a tie-break the first one stays


def test_step_budget_stops_mid_epoch_and_evaluates_the_end():
    evaluate = Scripted([{"loss": 1.0}, {"loss": 0.5}])
    result = Trainer(nn.Linear(3, 1), TrainConfig(epochs=5, max_steps=6), loss_fn=_mse,
                     evaluate=evaluate).fit(_batches())
    assert (result.steps, result.stopped) == (6, "max_steps")
    assert [h["step"] for h in result.history] == [4, 6]


def test_time_budget_uses_the_clock(monkeypatch):
    clock = itertools.count(start=0.0, step=1.0)     # every clock reading is one second later
    monkeypatch.setattr(training.time, "monotonic", lambda: next(clock))
    result = Trainer(nn.Linear(3, 1), TrainConfig(epochs=100, max_seconds=10, patience=None),
                     loss_fn=_mse).fit(_batches())
    assert result.stopped == "max_seconds" and 0 < result.steps < 10


def test_gradients_are_clipped_to_the_configured_norm():
    model = nn.Linear(3, 1)
    trainer = Trainer(model, TrainConfig(epochs=1, grad_clip=0.5, patience=None),
                      loss_fn=lambda m, b: 1e4 * _mse(m, b))
    norms = []
    step = trainer.optimizer.step

    def spy(*args, **kwargs):
        norms.append(float(torch.cat([p.grad.flatten() for p in model.parameters()]).norm()))
        return step(*args, **kwargs)

    trainer.optimizer.step = spy
    trainer.fit(_batches())
    assert len(norms) == 4 and max(norms) <= 0.5 + 1e-5


def test_warmup_then_cosine_schedule():
    trainer = Trainer(nn.Linear(1, 1), TrainConfig(warmup_steps=4, min_lr_ratio=0.1), loss_fn=_mse)
    assert [trainer._lr_factor(s, 0.0) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert trainer._lr_factor(10, 0.0) == pytest.approx(1.0)
    assert trainer._lr_factor(10, 0.5) == pytest.approx(0.55)
    assert trainer._lr_factor(10, 1.0) == pytest.approx(0.1)


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="tiebreak_mode"):
        Trainer(nn.Linear(1, 1), TrainConfig(tiebreak_mode="up"), loss_fn=_mse)


def test_progress_callback_counts_every_step():
    callback = ProgressCallback(desc="t")
    Trainer(nn.Linear(3, 1), TrainConfig(epochs=2, patience=None), loss_fn=_mse,
            callbacks=[callback]).fit(_batches())
    assert callback.total == 8 and callback.running is not None


def test_ema_evaluates_and_keeps_the_running_average_of_the_weights():
    """With ema_decay, evaluation sees (and the result keeps) the exponential moving average
    of the weights after each step, computed here by hand from the raw weights."""
    seed_everything(0)
    model = nn.Linear(3, 1)
    decay = 0.5
    expected = [p.detach().clone() for p in model.parameters()]

    class Tracking:
        def on_step(self, trainer, step, loss):
            for e, p in zip(expected, trainer.model.parameters()):   # raw weights at this step
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        def on_eval(self, trainer, step, metrics): ...
        def on_end(self, trainer, result): ...

    seen = []
    def evaluate(m: nn.Module) -> dict:
        seen.append([p.detach().clone() for p in m.parameters()])
        return {"loss": float(len(seen))}          # the first evaluation stays the best

    config = TrainConfig(epochs=3, lr=0.1, patience=None, ema_decay=decay)
    trainer = Trainer(model, config, loss_fn=_mse, evaluate=evaluate, callbacks=[Tracking()])
    result = trainer.fit(_batches())
    assert result.steps == 12 and len(seen) == 3
    assert torch.allclose(seen[-1][0], expected[0]) and torch.allclose(seen[-1][1], expected[1])
    kept = [p.detach() for p in model.parameters()]
    assert torch.equal(kept[0], seen[0][0]) and torch.equal(kept[1], seen[0][1])
    assert not torch.equal(seen[0][0], seen[-1][0])


def test_ema_decay_outside_0_1_is_refused():
    with pytest.raises(ValueError, match="ema_decay"):
        Trainer(nn.Linear(3, 1), TrainConfig(ema_decay=1.0), loss_fn=_mse)


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's malloc_trim only")
def test_heap_trim_callback_calls_malloc_trim_every_n_steps():
    calls = []
    trim = training.HeapTrim(every=3)
    assert trim._trim is not None                    # glibc has it
    trim._trim = lambda pad: calls.append(pad) or 1
    model = nn.Linear(3, 1)
    result = Trainer(model, TrainConfig(epochs=3, patience=None), loss_fn=_mse,
                     evaluate=lambda m: {"loss": 1.0}, callbacks=[trim]).fit(_batches())
    assert result.steps == 12
    assert len(calls) == 12 // 3 + 3                 # steps 3, 6, 9, 12 and three evaluations
