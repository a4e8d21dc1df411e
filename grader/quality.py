"""Quality of a trained model, computed in the grader's process from the submission's unlabelled
outputs and the labels only the grader holds; metrics mapped to points by the rubric's bands."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch

from challenge.data.sequences import EOS_ID, decode_ids, encode_values
from challenge.metrics import binary_metrics
from grader.hidden import SorterSet, SpamSet
from grader.report import QualityResult
from grader.rubric import TaskRubric
from grader.text import one_line

SPAM_KEYS = ("f1", "precision", "recall", "accuracy", "roc_auc")

# The random-weights probe of the sorter: the child also decodes up to PROBE_SIZE sequences of at
# least PROBE_MIN_LEN values (chance of sorting one by luck <= 1/5! = 1/120) with the model's
# parameters replaced by seeded random ones. A network that decodes with its weights then sorts
# almost none (the reference architectures: 0 of 64 at the graded setting, at most 6 of 64 = 0.09
# with only 10 distinct values); a generate that sorts directly still sorts them all. In range and
# longer sequences are judged apart (a cheat on the longer ones alone is seen too), each needing
# RANDOM_SORT_LIMIT of its share and at least RANDOM_SORT_HITS sequences: well above what chance
# gives, and a cheat that sorts less than that earns nothing from the default exact_match band.
PROBE_SIZE = 128
PROBE_MIN_LEN = 5
JOB_SIZE = 128
RANDOM_SORT_HITS = 3
RANDOM_SORT_LIMIT = 0.25


class Malformed(ValueError):
    """The submission's output has the wrong type, shape or values (or its code failed:
    ``status``); the message says which."""

    def __init__(self, message: str, status: str = "malformed"):
        super().__init__(message)
        self.status = status


def failed(task: TaskRubric, status: str, reason: str) -> QualityResult:
    return QualityResult(points=0.0, max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason)


def _clean(x: Any) -> Any:
    """NaN and inf become None, so reports stay valid JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _band_points(task: TaskRubric, metrics: dict) -> tuple[float, list]:
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


def _score(task: TaskRubric, metrics: dict, status: str = "ok", reason: str = "",
           public: dict | None = None, private: dict | None = None) -> QualityResult:
    points, components = _band_points(task, metrics)
    # the same bands on each part alone: the public board ranks on the public part only
    parts = {"all": points, **{name: _band_points(task, m)[0]
                               for name, m in (("public", public), ("private", private)) if m}}
    return QualityResult(points=points, max_points=task.quality.points if task.quality else 0.0,
                         status=status, reason=reason, metrics=metrics, public=public or {},
                         private=private or {}, components=components, part_points=parts)


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
    try:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError
        value = float(threshold)
    except (TypeError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise Malformed(f"threshold: expected a finite number, got {one_line(repr(threshold), 40)}")
    return scores.double().tolist(), value


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

@dataclass(frozen=True)
class SorterPlan:
    """What the child decodes: ``jobs`` (``{"checkpoint", "inputs"}``, in the order sent), the
    input index of each row of each job, and which jobs use the probe's checkpoint."""

    jobs: list
    rows: list
    probe: list


def probe_indices(inputs: Sequence[Sequence[int]]) -> list[int]:
    """The random-weights probe: up to PROBE_SIZE sequences of PROBE_MIN_LEN or more values,
    evenly spaced over ``inputs`` (so in range and longer ones both)."""
    eligible = [i for i, values in enumerate(inputs) if len(values) >= PROBE_MIN_LEN]
    k = min(PROBE_SIZE, len(eligible))
    return [eligible[j * len(eligible) // k] for j in range(k)]


def randomised_checkpoint(src: Path, dst: Path, seed: int) -> None:
    """Write to ``dst`` the checkpoint ``src`` with every tensor of its state dict replaced,
    parameters and buffers alike: floating ones by uniform(-k, k), k = 1/sqrt(fan_in) (torch's
    default for linear and recurrent layers), integer ones shuffled (or shifted, for a single
    value), all from a seeded generator. A model that decodes with its weights then sorts almost
    nothing; a generate that sorts by itself still does."""
    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # the child reports the same file's problem in its own words
        raise Malformed(f"the sorter checkpoint cannot be read ({one_line(str(e), 160)})") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise Malformed("the sorter checkpoint has no state_dict; save it with "
                        "`challenge train sorter`")
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in ckpt["state_dict"].items():
        if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
            state[name] = t
        elif t.is_floating_point():
            k = 1.0 / max(t.shape[-1] if t.dim() > 1 else t.numel(), 1) ** 0.5
            state[name] = torch.empty(t.shape, dtype=t.dtype).uniform_(-k, k, generator=g)
        elif t.numel() > 1:
            order = torch.randperm(t.numel(), generator=g)
            state[name] = t.reshape(-1)[order].reshape(t.shape).clone()
        elif t.numel() == 1 and t.dtype != torch.bool:
            state[name] = t + int(torch.randint(1, 1 << 15, (), generator=g))
        else:
            state[name] = t.clone()
    torch.save({**ckpt, "state_dict": state}, dst)


def sorter_plan(data: SorterSet, real: str, probe: str, seed: int) -> SorterPlan:
    """Every input in jobs of JOB_SIZE rows for checkpoint ``real``, and the probe's inputs in
    jobs of the same size for checkpoint ``probe``, all shuffled together: no position, size
    or order tells the child which model it is decoding with."""
    rng = random.Random(seed)
    order = list(range(len(data.inputs)))
    rng.shuffle(order)
    chunks = [(real, order[i:i + JOB_SIZE]) for i in range(0, len(order), JOB_SIZE)]
    probe_rows = probe_indices(data.inputs)
    rng.shuffle(probe_rows)
    chunks += [(probe, probe_rows[i:i + JOB_SIZE]) for i in range(0, len(probe_rows), JOB_SIZE)]
    rng.shuffle(chunks)
    return SorterPlan(jobs=[{"checkpoint": name, "inputs": [list(data.inputs[i]) for i in rows]}
                            for name, rows in chunks],
                      rows=[rows for _, rows in chunks],
                      probe=[name == probe for name, _ in chunks])


def sorter_rows(output: Any, n: int, what: str = "generate()") -> list[list[int]]:
    """Validate one job's output: integer tensors (B_i, L_i) with n rows in all."""
    chunks = output if isinstance(output, (list, tuple)) else [output]
    rows: list[list[int]] = []
    for t in chunks:
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


def sorter_outputs(output: Any, data: SorterSet, plan: SorterPlan
                   ) -> tuple[list[list[int]], list[list[int]], list[str]]:
    """The rows for every input, those of the probe's model (in :func:`probe_indices` order),
    and what the probe's model did that is worth a review. A job of the real model that failed
    is the submission's error (:class:`Malformed`)."""
    if not isinstance(output, list) or len(output) != len(plan.jobs):
        raise Malformed("the sorter's reply is not in the grader's format")
    rows: dict[int, list[int]] = {}
    probe: dict[int, list[int]] = {}
    review: list[str] = []
    for job, indices, is_probe, out in zip(plan.jobs, plan.rows, plan.probe, output):
        if not isinstance(out, dict) or not ({"rows"} == set(out) or {"error"} == set(out)):
            raise Malformed("the sorter's reply is not in the grader's format")
        if "error" in out:
            message = one_line(str(out["error"]), 300)
            if not is_probe:
                status = "not_implemented" if message.startswith("not implemented") else "error"
                raise Malformed(message if status == "not_implemented" else
                                f"generate failed: {message}", status)
            review.append(f"the model with every weight replaced failed where the trained one "
                          f"did not ({message})")
            continue
        got = sorter_rows(out["rows"], len(indices))
        (probe if is_probe else rows).update(zip(indices, got))
    order = probe_indices(data.inputs)
    random_rows = [probe[i] for i in order if i in probe]
    if random_rows and all(probe[i] == rows[i] for i in order if i in probe):
        review.append(f"the outputs did not change when every tensor of the state dict "
                      f"(parameters and buffers) was replaced ({len(random_rows)} probe "
                      f"sequences): the model may not be doing the work")
    return [rows[i] for i in range(len(data.inputs))], random_rows, review


def sorts_without_weights(data: SorterSet, random_rows: Sequence[Sequence[int]]) -> str:
    """Why the sorter's outputs do not depend on its learnt weights, or "" when they do: in
    range or longer, the random-weights model sorts RANDOM_SORT_LIMIT of the probe (and at least
    RANDOM_SORT_HITS sequences) exactly."""
    probe = probe_indices(data.inputs)[:len(random_rows)]
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
