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
from challenge.report import QualityResult
from challenge.rubric import TaskRubric
from challenge.scoring import SorterSet, SpamSet, failed, sorter_metrics, spam_quality
from challenge.text import one_line

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


# --- sorter ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SorterPlan:
    """What the child decodes: ``jobs`` (``{"checkpoint", "inputs"}``, in the order sent), the
    index of each row of each job (into the set for a real job, into ``probe_set`` for a probe
    job), which jobs use the probe's checkpoint, and the probe's own inputs."""

    jobs: list
    rows: list
    probe: list
    probe_set: SorterSet | None = None


def probe_indices(inputs: Sequence[Sequence[int]]) -> list[int]:
    """The random-weights probe: up to PROBE_SIZE sequences of PROBE_MIN_LEN or more values,
    evenly spaced over ``inputs`` (so in range and longer ones both)."""
    eligible = [i for i, values in enumerate(inputs) if len(values) >= PROBE_MIN_LEN]
    k = min(PROBE_SIZE, len(eligible))
    return [eligible[j * len(eligible) // k] for j in range(k)]


#: What a checkpoint may hold before the grader allocates anything from it: values per tensor
#: and in all (2**26 float32 values are 256 MiB, the most a submission may unzip), and the
#: largest dimension as a multiple of the largest size its model config names.
MAX_TENSOR_VALUES = 1 << 26
MAX_CHECKPOINT_VALUES = 1 << 26
DIM_FACTOR = 8
MAX_CONFIG_SIZE = 1 << 20


def load_measured(src: Path, task: str) -> dict:
    """The checkpoint at ``src``, read without running code (``weights_only``) and measured
    before anything is allocated from it (:func:`measure_state`); :class:`Malformed` in the
    kit's words for a file that is not a checkpoint, holds a pickled object, or claims more
    than it holds."""
    from challenge.checkpoint import unreadable

    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - torch.load on arbitrary bytes raises almost anything
        raise Malformed(f"the {task} checkpoint {unreadable(e)}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise Malformed(f"the {task} checkpoint has no state_dict; save it with "
                        f"`challenge train {task}`")
    measure_state(ckpt["state_dict"], ckpt.get("config"), task)
    return ckpt


def measure_state(state: dict, config: Any, task: str) -> None:
    """Check every tensor of ``state`` before use: dense, in its storage's bounds, no two of its
    values at one place (a stride of 0, overlapping views), and within the task's sizes
    (:data:`MAX_TENSOR_VALUES`, :data:`MAX_CHECKPOINT_VALUES`, and no dimension over
    :data:`DIM_FACTOR` times the largest size the model config names)."""
    largest = _config_size(config, task)
    total = 0
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            continue
        what = f"the {task} checkpoint is malformed: tensor {one_line(str(name), 60)!r}"
        if t.layout != torch.strided or t.is_quantized or t.is_nested:
            raise Malformed(f"{what} is not a dense tensor; save the model's state_dict()")
        shape = tuple(t.shape)
        if t.numel() > MAX_TENSOR_VALUES or any(d > DIM_FACTOR * largest for d in shape):
            raise Malformed(f"{what} has shape {shape[:6]}, far larger than a {task} model of "
                            f"its config (sizes up to {largest}) could need")
        total += t.numel()
        if total > MAX_CHECKPOINT_VALUES:
            raise Malformed(f"the {task} checkpoint is malformed: its tensors hold more than "
                            f"{MAX_CHECKPOINT_VALUES:,} values in all")
        problem = _layout_problem(t)
        if problem:
            raise Malformed(f"{what} of shape {shape[:6]} {problem}; save the model's "
                            f"state_dict() as `challenge train {task}` does")


def _config_size(config: Any, task: str) -> int:
    """The largest integer size the checkpoint's model config names (vocab, embedding, hidden,
    ...), at least 1; a config naming an absurd size is malformed."""
    model = config.get("model") if isinstance(config, dict) else None
    sizes = [v for v in (model.values() if isinstance(model, dict) else ())
             if isinstance(v, int) and not isinstance(v, bool)]
    if any(v > MAX_CONFIG_SIZE or v < 0 for v in sizes):
        raise Malformed(f"the {task} checkpoint is malformed: its model config names a size "
                        f"outside 0..{MAX_CONFIG_SIZE:,}")
    return max([1, *sizes])


def _layout_problem(t: torch.Tensor) -> str:
    """Why ``t``'s sizes and strides do not describe distinct values inside its storage ("" when
    they do)."""
    if t.numel() == 0:
        return ""
    dims = sorted((stride, size) for size, stride in zip(t.shape, t.stride()) if size > 1)
    reach = 1                                 # values spanned by the dimensions seen so far
    for stride, size in dims:
        if stride < reach:
            return ("repeats its values (a stride of 0 or overlapping views): it claims "
                    f"{t.numel():,} values that its storage does not hold")
        reach = stride * (size - 1) + reach
    if t.storage_offset() + reach > t.untyped_storage().nbytes() // max(t.element_size(), 1):
        return "claims values beyond the end of its storage"
    return ""


def randomised_checkpoint(src: Path, dst: Path, seed: int) -> None:
    """Write to ``dst`` the checkpoint ``src`` with every tensor of its state dict replaced,
    parameters and buffers alike: floating ones by uniform(-k, k), k = 1/sqrt(fan_in) (torch's
    default for linear and recurrent layers), integer ones shuffled (or shifted, for a single
    value), all from a seeded generator. A model that decodes with its weights then sorts almost
    nothing; a generate that sorts by itself still does. The checkpoint is measured first
    (:func:`load_measured`): nothing is allocated from sizes it claims but does not hold."""
    ckpt = load_measured(src, "sorter")
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in ckpt["state_dict"].items():
        if not isinstance(t, torch.Tensor):
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


def fresh_probe(data: SorterSet, seed: int) -> SorterSet:
    """The probe's inputs, drawn fresh: one sequence for each of :func:`probe_indices`, of the
    same length (so in range and longer ones alike) with values drawn uniformly from the set's
    own range, as the real ones are. Never a copy of a real input, so a probe job cannot be
    spotted by inputs that repeat another job's."""
    values = [v for seq in data.inputs for v in seq]
    low, high = (min(values), max(values)) if values else (0, 9)
    rng = random.Random(seed)
    picked = probe_indices(data.inputs)
    inputs = tuple(tuple(rng.randint(low, high) for _ in data.inputs[i]) for i in picked)
    return SorterSet(ids=tuple(f"probe-{k}" for k in range(len(picked))), inputs=inputs,
                     long=tuple(data.long[i] for i in picked), private=(False,) * len(picked))


def sorter_plan(data: SorterSet, real: str, probe: str, seed: int) -> SorterPlan:
    """Every input in jobs of JOB_SIZE rows for checkpoint ``real``, and the probe's fresh inputs
    (:func:`fresh_probe`) in jobs of the same size for checkpoint ``probe``, all shuffled
    together: no position, size, order or repeated input tells the child which model it is
    decoding with."""
    rng = random.Random(seed)
    order = list(range(len(data.inputs)))
    rng.shuffle(order)
    chunks = [(real, order[i:i + JOB_SIZE]) for i in range(0, len(order), JOB_SIZE)]
    probe_set = fresh_probe(data, rng.getrandbits(32))
    probe_rows = list(range(len(probe_set.inputs)))
    rng.shuffle(probe_rows)
    chunks += [(probe, probe_rows[i:i + JOB_SIZE]) for i in range(0, len(probe_rows), JOB_SIZE)]
    rng.shuffle(chunks)
    source = {real: data.inputs, probe: probe_set.inputs}
    return SorterPlan(jobs=[{"checkpoint": name, "inputs": [list(source[name][i]) for i in rows]}
                            for name, rows in chunks],
                      rows=[rows for _, rows in chunks],
                      probe=[name == probe for name, _ in chunks], probe_set=probe_set)


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
    """The rows for every input, those of the probe's model (in the order of ``plan.probe_set``,
    whose inputs :func:`sorts_without_weights` judges them on), and what the probe's model did
    that is worth a review. A job of the real model that failed is the submission's error
    (:class:`Malformed`)."""
    if not isinstance(output, list) or len(output) != len(plan.jobs):
        raise Malformed("the sorter's reply is not in the grader's format")
    rows: dict[int, list[int]] = {}
    probe: dict[int, list[int]] = {}
    review: list[str] = []
    for job, indices, is_probe, out in zip(plan.jobs, plan.rows, plan.probe, output):
        if not isinstance(out, dict) or set(out) not in ({"rows"}, {"rows", "greedy"}, {"error"}):
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
    count = len(plan.probe_set.inputs) if plan.probe_set is not None else 0
    random_rows = [probe[k] for k in range(count) if k in probe]
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


def decode_caps(data: SorterSet) -> dict:
    """How the child decodes ``data``: sequences of ``long_from`` values or more (the
    length-generalisation measure) with ``max_len=long_cap``, the longest input of the set, so
    a model must stop itself; all others with generate's default cap (the contract: each row's
    own length). Empty when the set has no longer sequences."""
    in_range = [len(v) for v, long in zip(data.inputs, data.long) if not long]
    longer = [len(v) for v, long in zip(data.inputs, data.long) if long]
    if not longer:
        return {}
    return {"long_from": max(in_range, default=min(longer) - 1) + 1, "long_cap": max(longer)}


def decode_note(caps: dict) -> str:
    """The sentence a sorter's quality carries about how it was decoded."""
    rule = ("in-range sequences decoded as the contract says, with generate's default cap (each "
            "row's own length)")
    if not caps:
        return rule
    return (f"{rule}; longer sequences ({caps['long_from']} values or more, the "
            f"length-generalisation measure) with max_len={caps['long_cap']}, so the model "
            f"must stop itself")


def sorter_quality(task: TaskRubric, data: SorterSet, rows: Sequence[Sequence[int]],
                   random_rows: Sequence[Sequence[int]], probe: SorterSet | None = None
                   ) -> tuple[QualityResult, dict | None]:
    """The sorter's metrics and points (:func:`challenge.scoring.sorter_metrics`); zero points
    when the random-weights probe (on its inputs ``probe``, by default ``data``'s) shows that
    generate sorts without the model (:func:`sorts_without_weights`)."""
    cheat = sorts_without_weights(probe if probe is not None else data, random_rows)
    if cheat:
        return failed(task, "rejected", cheat), None
    result, examples = sorter_metrics(task, data, rows)
    result.notes.append(decode_note(decode_caps(data)))
    return result, examples


__all__ = ["Malformed", "failed", "spam_quality", "spam_scores", "sorter_quality",
           "sorter_outputs", "sorter_rows", "sorter_plan", "decode_caps", "decode_note", "randomised_checkpoint",
           "probe_indices", "sorts_without_weights", "SorterPlan", "fresh_probe",
           "load_measured", "measure_state"]
