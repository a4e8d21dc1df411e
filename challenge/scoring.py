"""Quality scoring, shared by the student's local grade and the instructor's grader: the sets a
model is measured on, its metrics on them, and the rubric's bands that map metrics to points.

Everything here is public: the student's kit scores the dev sets with it, and the grader scores
the hidden sets with the same functions (in its own process, from outputs it validated first).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from challenge.data.corpus import Message, load_split
from challenge.data.sequences import EOS_ID, decode_ids, encode_values, make_sequences
from challenge.metrics import binary_metrics
from challenge.report import QualityResult
from challenge.rubric import Rubric, TaskRubric

SPAM_KEYS = ("f1", "precision", "recall", "accuracy", "roc_auc")
ROUNDS = 400      # bootstrap resamples: the sd's own error is about 1/sqrt(2 * ROUNDS), 3.5%


@dataclass(frozen=True)
class SpamSet:
    """Labelled messages to grade on, in the order the model sees them."""

    ids: tuple[str, ...]
    messages: tuple[Message, ...]
    private: tuple[bool, ...]

    @property
    def labels(self) -> list[int]:
        return [m.label for m in self.messages]


@dataclass(frozen=True)
class SorterSet:
    """Number sequences to sort: ``long`` marks lengths beyond the training range."""

    ids: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]
    long: tuple[bool, ...]
    private: tuple[bool, ...]


def dev_spam(rubric: Rubric, data_dir: str | os.PathLike | None = None) -> SpamSet:
    """The public dev split of the course corpus, which a student grades on (no private part)."""
    messages = load_split(rubric.hidden.spam_corpus, "dev", data_dir)
    return SpamSet(ids=tuple(m.id for m in messages), messages=tuple(messages),
                   private=(False,) * len(messages))


def dev_sorter(rubric: Rubric) -> SorterSet:
    """Public dev sequences from the rubric's public seed, in range and longer."""
    s = rubric.sorter
    pairs = [(False, v) for v, _ in make_sequences(s.dev_size, s.dev_seed, s.min_len, s.max_len,
                                                   s.low, s.high)]
    pairs += [(True, v) for v, _ in make_sequences(s.dev_size, s.dev_seed + 1, s.long_min_len,
                                                   s.long_max_len, s.low, s.high)]
    return SorterSet(ids=tuple(f"dev-{j + 1:05d}" for j in range(len(pairs))),
                     inputs=tuple(tuple(v) for _, v in pairs), long=tuple(f for f, _ in pairs),
                     private=(False,) * len(pairs))


def failed(task: TaskRubric, status: str, reason: str) -> QualityResult:
    """No quality points, with the reason."""
    return QualityResult(points=0.0, max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason)


def clean(x: Any) -> Any:
    """NaN and inf become None, so reports stay valid JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def band_points(task: TaskRubric, metrics: dict) -> tuple[float, list]:
    """The points of ``metrics`` under the task's quality band and bonus, and one component
    (metric, value, band, points) for each."""
    components, points = [], 0.0
    for band, bonus in ((task.quality, False), (task.bonus, True)):
        if band is None:
            continue
        value = metrics.get(band.metric)
        got = band.score(value)
        points += got
        components.append({"metric": band.metric, "value": value, "floor": band.floor,
                           "full": band.full, "points": got, "max_points": band.points,
                           "bonus": bonus})
    return round(points, 6), components


def score(task: TaskRubric, metrics: dict, status: str = "ok", reason: str = "",
          public: dict | None = None, private: dict | None = None) -> QualityResult:
    """A quality result: the bands applied to the whole set and to each part alone (the public
    board ranks on the public part only)."""
    points, components = band_points(task, metrics)
    parts = {"whole": points, **{name: band_points(task, m)[0]
                               for name, m in (("public", public), ("private", private)) if m}}
    return QualityResult(points=points, max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason, metrics=metrics, public=public or {},
                         private=private or {}, components=components, part_points=parts)


def subsets(private: Sequence[bool]) -> tuple[list[int], list[int]]:
    """(indices of the public part, indices of the private part)."""
    pub = [i for i, p in enumerate(private) if not p]
    return pub, [i for i, p in enumerate(private) if p]


def _binary(metric: str, y: np.ndarray, s: np.ndarray, threshold: float) -> float:
    if metric == "roc_auc":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan")
    pred = s >= threshold
    tp, fp = float(np.sum(pred & (y == 1))), float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    if metric == "accuracy":
        return float(np.mean(pred == (y == 1)))
    if metric == "precision":
        return tp / (tp + fp) if tp + fp else 0.0
    if metric == "recall":
        return tp / (tp + fn) if tp + fn else 0.0
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def bootstrap_sd(labels: Sequence[int], scores: Sequence[float], threshold: float, metric: str,
                 seed: int, rounds: int = ROUNDS) -> float:
    """The sampling noise of a spam ``metric`` on a set: the standard deviation of the metric
    over ``rounds`` resamples of the set with replacement (Efron & Tibshirani, "An Introduction
    to the Bootstrap", 1993, ch. 6), from a seeded local generator."""
    y, s = np.asarray(labels, dtype=np.int64), np.asarray(scores, dtype=np.float64)
    if y.size < 2:
        return 0.0
    rng = np.random.default_rng(seed)
    values = [_binary(metric, y[i], s[i], threshold)
              for i in (rng.integers(0, y.size, y.size) for _ in range(rounds))]
    values = [v for v in values if math.isfinite(v)]
    return round(float(np.std(values, ddof=1)), 6) if len(values) > 1 else 0.0


def spam_quality(task: TaskRubric, data: SpamSet, scores: Sequence[float],
                 threshold: float) -> tuple[QualityResult, dict]:
    """F1, precision, recall, accuracy and ROC-AUC of spam probabilities at ``threshold``, on the
    whole set and on each part, scored by the task's bands; and the per-example outcomes."""
    labels = data.labels

    def metrics(rows: list[int]) -> dict:
        if not rows:
            return {}
        m = binary_metrics([labels[i] for i in rows], [scores[i] for i in rows], threshold)
        return {**{k: clean(getattr(m, k)) for k in SPAM_KEYS}, "n": m.n}

    pub, priv = subsets(data.private)
    everything = metrics(list(range(len(labels))))
    result = score(task, everything, public=metrics(pub) if priv else everything,
                   private=metrics(priv))
    preds = [int(s >= threshold) for s in scores]
    return result, {"y_true": list(labels), "y_pred": preds, "private": list(data.private)}


def sorter_metrics(task: TaskRubric, data: SorterSet,
                   rows: Sequence[Sequence[int]]) -> tuple[QualityResult, dict]:
    """Exact match and token accuracy of greedy outputs ``rows`` (token ids), in range and
    longer, on the whole set and on each part, scored by the task's bands."""
    exact, tokens = [], []
    for values, ids in zip(data.inputs, rows):
        target = sorted(values)
        expected = encode_values(target) + [EOS_ID]
        exact.append(int(decode_ids(ids) == target))
        tokens.append((sum(int(a == b) for a, b in zip(ids, expected)), len(expected)))

    def metrics(idx: list[int]) -> dict:
        out: dict = {}
        for suffix, long in (("", False), ("_long", True)):
            part = [i for i in idx if data.long[i] == long]
            if part:
                out[f"exact_match{suffix}"] = sum(exact[i] for i in part) / len(part)
                out[f"token_accuracy{suffix}"] = (sum(tokens[i][0] for i in part)
                                                  / sum(tokens[i][1] for i in part))
                out[f"n{suffix}"] = len(part)
        return out

    pub, priv = subsets(data.private)
    everything = metrics(list(range(len(rows))))
    result = score(task, everything, public=metrics(pub) if priv else everything,
                   private=metrics(priv))
    in_range = [i for i in range(len(rows)) if not data.long[i]]
    examples = {"y_true": [1] * len(in_range), "y_pred": [exact[i] for i in in_range],
                "private": [data.private[i] for i in in_range]}
    return result, examples
