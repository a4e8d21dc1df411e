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

# The random-weights probe of the sorter: the child also decodes up to PROBE_SIZE sequences of at
# least PROBE_MIN_LEN values (chance of sorting one by luck <= 1/5! = 1/120) with the model's
# parameters replaced by seeded random ones. A network that decodes with its weights then sorts
# almost none (the reference architectures: 0 of 64 at the graded setting, at most 6 of 64 = 0.09
# with only 10 distinct values); a generate that sorts directly still sorts them all. In range and
# longer sequences are judged apart (a cheat on the longer ones alone is seen too), each needing
# RANDOM_SORT_LIMIT of its share and at least RANDOM_SORT_HITS sequences: well above what chance
# gives, and a cheat that sorts less than that earns nothing from the default exact_match band.
PROBE_SIZE = 64
PROBE_MIN_LEN = 5
PROBE_SEED = 20240917
RANDOM_SORT_HITS = 3
RANDOM_SORT_LIMIT = 0.25


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

def probe_indices(inputs: Sequence[Sequence[int]]) -> list[int]:
    """The random-weights probe: up to PROBE_SIZE sequences of PROBE_MIN_LEN or more values,
    evenly spaced over ``inputs`` (so in range and longer ones both), the same on both sides."""
    eligible = [i for i, values in enumerate(inputs) if len(values) >= PROBE_MIN_LEN]
    k = min(PROBE_SIZE, len(eligible))
    return [eligible[j * len(eligible) // k] for j in range(k)]


def sorter_rows(output: Any, n: int, what: str = "generate()") -> list[list[int]]:
    """Validate the child's sorter output: integer tensors (B_i, L_i) with n rows in all."""
    chunks = output if isinstance(output, (list, tuple)) else [output]
    rows: list[list[int]] = []
    for k, t in enumerate(chunks):
        if not isinstance(t, torch.Tensor):
            raise Malformed(f"{what} returned {type(t).__name__}; expected a (B, L) tensor")
        if t.dim() != 2:
            raise Malformed(f"{what} returned shape {tuple(t.shape)}; expected (B, L)")
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise Malformed(f"{what} returned dtype {t.dtype}; expected integer token ids")
        rows.extend(t.long().tolist())
    if len(rows) != n:
        raise Malformed(f"{what} returned {len(rows)} rows for {n} input sequences")
    return rows


def sorter_outputs(output: Any, data: SorterSet) -> tuple[list[list[int]], list[list[int]]]:
    """Validate the child's sorter reply ``{"outputs": chunks, "random_weights": chunks}``: the
    rows for every input, and those of the random-weights probe (:func:`probe_indices`)."""
    if not isinstance(output, dict) or not {"outputs", "random_weights"} <= set(output):
        raise Malformed("expected {'outputs': tensors, 'random_weights': tensors}; the outputs of "
                        "the model with random weights are missing")
    rows = sorter_rows(output["outputs"], len(data.inputs))
    probe = sorter_rows(output["random_weights"], len(probe_indices(data.inputs)),
                        "with random weights, generate()")
    return rows, probe


def sorts_without_weights(data: SorterSet, random_rows: Sequence[Sequence[int]]) -> str:
    """Why the sorter's outputs do not depend on its learnt weights, or "" when they do: in
    range or longer, the random-weights model sorts RANDOM_SORT_LIMIT of the probe (and at least
    RANDOM_SORT_HITS sequences) exactly."""
    probe = probe_indices(data.inputs)
    for long, kind in ((False, ""), (True, "longer ")):
        part = [(i, ids) for i, ids in zip(probe, random_rows) if data.long[i] == long]
        hits = sum(decode_ids(ids) == sorted(data.inputs[i]) for i, ids in part)
        if part and hits >= max(RANDOM_SORT_HITS, RANDOM_SORT_LIMIT * len(part)):
            return (f"a model with random weights still sorts {100 * hits / len(part):.0f}% of "
                    f"sequences exactly ({hits} of {len(part)} {kind}sequences of "
                    f"{PROBE_MIN_LEN} or more values): generate must decode with the model's "
                    f"learnt weights, not sort directly")
    return ""


def sorter_quality(task: TaskRubric, data: SorterSet, rows: Sequence[Sequence[int]],
                   random_rows: Sequence[Sequence[int]]) -> tuple[QualityResult, dict | None]:
    """Exact match and token accuracy of ``rows``, in range and longer; zero points when the
    random-weights probe shows that generate sorts without the model (:func:`sorts_without_weights`)."""
    cheat = sorts_without_weights(data, random_rows)
    if cheat:
        return failed(task, "rejected", cheat), None
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
