"""Evidence that the sorter's checkpoint is the network doing the work, resting on no name in the
source: the same model with every weight moved a little, and generate against the model's own
forward scores.

A trained network degrades smoothly: moving each floating tensor of its state dict by Gaussian
noise of NOISE times the tensor's own standard deviation leaves its greedy outputs almost
unchanged (the reference pointer model: exact match 1.00 before and after, at 0.1% to 10%
noise). A ``generate`` that switches on a fingerprint of its own weights (and sorts directly when
they match) falls to an untrained model's output. The moved model decodes one more job inside
the sorter's unit, of JOB_SIZE fresh sequences drawn like the real ones (lengths of real inputs,
values in their range), under a random name and at a random place, so the child cannot tell it
from the others. When its exact match collapses (below COLLAPSE times the real one), the
instructor gets a REVIEW flag with both figures: evidence, never a zero.

A network that decodes greedily agrees with its own scores: teacher-forced on generate's output,
its forward's argmax (special ids excluded, as generate excludes them) is that output, step by
step (the reference: every step but near-ties). The child computes those choices for every job
alike, after generate returned; the parent compares them over each row's free steps. A
generate that sorts by itself, or switches on a fingerprint, disagrees with the network's own
scores: below AGREE of the steps, while exact match is at least MIN_EXACT, the instructor gets a
REVIEW flag with the figures.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from challenge.data.sequences import decode_ids
from challenge.scoring import SorterSet
from challenge.text import one_line
from challenge.data.sequences import EOS_ID
from grader.quality import JOB_SIZE, Malformed, SorterPlan, decode_caps, sorter_rows

NOISE = 0.01
COLLAPSE = 0.5
AGREE = 0.6              # generate against greedy from forward: below this share, a review
MIN_EXACT = 0.2          # below this the real model sorts too little for a collapse to show


@dataclass(frozen=True)
class Perturbed:
    """The sorter's ``plan`` (what quality judges), the jobs the child decodes (``plan.jobs``
    with the moved model's job at ``position``) and that job's fresh ``inputs``."""

    plan: SorterPlan
    jobs: list
    position: int
    inputs: list


def moved_checkpoint(src: Path, dst: Path, seed: int, noise: float = NOISE) -> bool:
    """Write to ``dst`` the checkpoint ``src`` with each floating tensor ``t`` of its state dict
    replaced by ``t + noise * std(t) * N(0, 1)`` (``|t|`` for a single value), from a seeded
    generator; everything else unchanged. Call after the checkpoint was measured and read once
    (:func:`grader.quality.randomised_checkpoint` refuses a malformed one). False, and nothing
    written, where it cannot (then there is no such evidence; the grade goes on)."""
    try:
        _write_moved(src, dst, seed, noise)
    except Exception:  # noqa: BLE001 - the file is the submission's; quality reports its fault
        dst.unlink(missing_ok=True)
        return False
    return True


def _write_moved(src: Path, dst: Path, seed: int, noise: float) -> None:
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in ckpt["state_dict"].items():
        if isinstance(t, torch.Tensor) and t.layout == torch.strided and t.is_floating_point():
            spread = t.double().std() if t.numel() > 1 else t.double().abs().sum()
            step = torch.randn(t.shape, generator=g, dtype=torch.float64) * noise * spread
            state[name] = (t.double() + step).to(t.dtype)
        else:
            state[name] = t
    torch.save({**ckpt, "state_dict": state}, dst)


def fresh_inputs(inputs, n: int, seed: int) -> list[list[int]]:
    """``n`` sequences drawn like ``inputs``: the length of a random one of them, values uniform
    over the range they span; none copied from them."""
    rng = random.Random(seed)
    values = [v for seq in inputs for v in seq]
    low, high = (min(values), max(values)) if values else (0, 9)
    lengths = [len(seq) for seq in inputs if seq] or [1]
    return [[rng.randint(low, high) for _ in range(rng.choice(lengths))] for _ in range(n)]


def with_moved_job(plan: SorterPlan, name: str, inputs, seed: int) -> Perturbed:
    """``plan``'s jobs with one job of JOB_SIZE fresh sequences for checkpoint ``name`` at a
    random place."""
    rng = random.Random(seed)
    fresh = fresh_inputs(inputs, JOB_SIZE, rng.getrandbits(32))
    position = rng.randint(0, len(plan.jobs))
    jobs = list(plan.jobs)
    jobs.insert(position, {"checkpoint": name, "inputs": fresh})
    return Perturbed(plan=plan, jobs=jobs, position=position, inputs=fresh)


def split(output: Any, how) -> tuple[Any, Any]:
    """The child's reply without the moved model's job, and that job's output (None when
    ``how`` is a plain plan or the reply is not a list of the expected length)."""
    if not isinstance(how, Perturbed) or not isinstance(output, list) \
            or len(output) != len(how.jobs):
        return output, None
    rest = list(output)
    moved = rest.pop(how.position)
    return rest, moved


def _exact(rows, inputs) -> float:
    return sum(decode_ids(r) == sorted(v) for r, v in zip(rows, inputs)) / max(len(inputs), 1)


def review(data: SorterSet, rows, how, moved: Any) -> list[str]:
    """REVIEW lines when the moved model fails, or sorts far less than the real one."""
    if not isinstance(how, Perturbed) or moved is None:
        return []
    if not isinstance(moved, dict) or set(moved) not in ({"rows"}, {"rows", "greedy"}, {"error"}):
        return ["the model with its weights moved slightly answered in no format the grader "
                "reads"]
    if "error" in moved:
        return [f"the model with its weights moved by {NOISE:.0%} of each tensor's spread failed "
                f"where the trained one did not ({one_line(str(moved['error']), 200)})"]
    try:
        got = sorter_rows(moved["rows"], len(how.inputs))
    except Malformed as e:
        return [f"the model with its weights moved slightly returned malformed output ({e})"]
    real, after = _exact(rows, data.inputs), _exact(got, how.inputs)
    if real >= MIN_EXACT and after < COLLAPSE * real:
        return [f"with every weight moved by {NOISE:.0%} of its tensor's spread, exact match "
                f"fell from {real:.0%} (the hidden set) to {after:.0%} ({len(how.inputs)} fresh "
                f"sequences drawn alike): a trained network degrades smoothly, so generate may "
                f"switch on a fingerprint of its weights"]
    return []


def forward_review(data: SorterSet, rows, output: Any, plan: SorterPlan) -> list[str]:
    """A REVIEW line when generate's outputs for the hidden set disagree with greedy decoding
    from the model's own forward scores on them; none where that evidence is missing (a
    forward that failed, a reply without it)."""
    counts = _agreement(data, rows, output, plan)
    if counts is None or not counts[1]:
        return []
    agreed, steps = counts
    real = _exact(rows, data.inputs)
    if real >= MIN_EXACT and agreed < AGREE * steps:
        return [f"generate's outputs agree with greedy decoding from the model's own forward "
                f"scores (teacher-forced on those outputs) at {agreed / steps:.0%} of {steps:,} "
                f"decoded steps, while exact match is {real:.0%}: a network that decodes "
                f"greedily agrees with its own scores, so generate may not be the network's (it "
                f"may sort by itself, or switch on a fingerprint of its weights)"]
    return []


def _agreement(data: SorterSet, rows, output: Any, plan: SorterPlan) -> tuple[int, int] | None:
    """(steps where forward's greedy choice is generate's, steps compared) over the real jobs:
    each row's values but its last, up to its first <eos> and its cap. The last value and the
    capped <eos> are (nearly) forced, whatever the scores say: a masked pointer has one unused
    position left, and counting them would lift any generate's agreement."""
    if not isinstance(output, list) or len(output) != len(plan.jobs):
        return None
    caps = decode_caps(data)
    agreed = steps = 0
    for indices, is_probe, out in zip(plan.rows, plan.probe, output):
        if is_probe:
            continue
        if not isinstance(out, dict) or out.get("greedy") is None:
            return None
        try:
            greedy = sorter_rows(out["greedy"], len(indices), "forward's greedy choices")
        except Malformed:
            return None
        for i, choices in zip(indices, greedy):
            row, n = rows[i], len(data.inputs[i])
            long = caps.get("long_from") is not None and n >= caps["long_from"]
            cap = caps["long_cap"] if long else n
            end = row.index(EOS_ID) + 1 if EOS_ID in row else len(row)
            count = min(end, cap, n, len(row), len(choices)) - 1
            steps += count
            agreed += sum(row[t] == choices[t] for t in range(count))
    return agreed, steps
