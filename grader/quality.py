"""Quality of a trained model, computed in the grader's process from the submission's unlabelled
outputs and the labels only the grader holds; metrics mapped to points by the rubric's bands."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from challenge.data.sequences import EOS_ID, decode_ids, encode_values
from challenge.metrics import binary_metrics
from grader.hidden import SorterSet, SpamSet
from grader.report import QualityResult
from grader.rubric import Band, TaskRubric

SPAM_KEYS = ("f1", "precision", "recall", "accuracy", "roc_auc")


class Malformed(ValueError):
    """The submission's output has the wrong type, shape or values; the message says which."""


def failed(task: TaskRubric, status: str, reason: str) -> QualityResult:
    return QualityResult(points=0.0, max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason)


def _clean(x: Any) -> Any:
    """NaN and inf become None, so reports stay valid JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _score(task: TaskRubric, metrics: dict, status: str = "ok", reason: str = "",
           public: dict | None = None, private: dict | None = None) -> QualityResult:
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
    return QualityResult(points=round(points, 6), max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason, metrics=metrics, public=public or {},
                         private=private or {}, components=components)


def _subsets(private: Sequence[bool]) -> tuple[list[int], list[int]]:
    pub = [i for i, p in enumerate(private) if not p]
    return pub, [i for i, p in enumerate(private) if p]


# --- spam --------------------------------------------------------------------------------------

def spam_scores(output: Any, n: int) -> tuple[list[float], float]:
    """Validate the child's spam output: ``{"scores": (n,) floats, "threshold": float}``."""
    if not isinstance(output, dict) or "scores" not in output or "threshold" not in output:
        raise Malformed("expected {'scores': tensor, 'threshold': number}")
    scores = output["scores"]
    if not isinstance(scores, torch.Tensor):
        raise Malformed(f"scores: expected a tensor, got {type(scores).__name__}")
    if tuple(scores.shape) != (n,):
        raise Malformed(f"scores: expected shape ({n},), got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise Malformed(f"scores: expected floating point, got {scores.dtype}")
    if not torch.isfinite(scores).all():
        bad = int(torch.nonzero(~torch.isfinite(scores))[0])
        raise Malformed(f"scores contain NaN or inf (first at message {bad}); check the model")
    threshold = output["threshold"]
    if isinstance(threshold, torch.Tensor) and threshold.numel() == 1:
        threshold = threshold.item()
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not math.isfinite(threshold):
        raise Malformed(f"threshold: expected a finite number, got {threshold!r}")
    return scores.double().tolist(), float(threshold)


def spam_quality(task: TaskRubric, data: SpamSet, scores: Sequence[float],
                 threshold: float) -> tuple[QualityResult, dict]:
    labels = data.labels

    def metrics(rows: list[int]) -> dict:
        if not rows:
            return {}
        m = binary_metrics([labels[i] for i in rows], [scores[i] for i in rows], threshold)
        return {**{k: _clean(getattr(m, k)) for k in SPAM_KEYS}, "n": m.n}

    pub, priv = _subsets(data.private)
    everything = metrics(list(range(len(labels))))
    result = _score(task, everything, public=metrics(pub) if priv else everything,
                    private=metrics(priv))
    preds = [int(s >= threshold) for s in scores]
    return result, {"y_true": list(labels), "y_pred": preds, "private": list(data.private)}


# --- sorter ------------------------------------------------------------------------------------

def sorter_rows(output: Any, n: int) -> list[list[int]]:
    """Validate the child's sorter output: integer tensors (B_i, L_i) with n rows in all."""
    chunks = output if isinstance(output, (list, tuple)) else [output]
    rows: list[list[int]] = []
    for k, t in enumerate(chunks):
        if not isinstance(t, torch.Tensor):
            raise Malformed(f"generate() returned {type(t).__name__}; expected a (B, L) tensor")
        if t.dim() != 2:
            raise Malformed(f"generate() returned shape {tuple(t.shape)}; expected (B, L)")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise Malformed(f"generate() returned dtype {t.dtype}; expected integer token ids")
        rows.extend(t.long().tolist())
    if len(rows) != n:
        raise Malformed(f"generate() returned {len(rows)} rows for {n} input sequences")
    return rows


def sorter_quality(task: TaskRubric, data: SorterSet, rows: Sequence[Sequence[int]]
                   ) -> tuple[QualityResult, dict]:
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

    pub, priv = _subsets(data.private)
    everything = metrics(list(range(len(rows))))
    result = _score(task, everything, public=metrics(pub) if priv else everything,
                    private=metrics(priv))
    in_range = [i for i in range(len(rows)) if not data.long[i]]
    examples = {"y_true": [1] * len(in_range), "y_pred": [exact[i] for i in in_range],
                "private": [data.private[i] for i in in_range]}
    return result, examples


def band_text(band: Band) -> str:
    return f"{band.metric}: {band.floor:g} -> 0, {band.full:g} -> {band.points:g}"
