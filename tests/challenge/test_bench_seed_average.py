"""bench/seed_average.py: several training seeds' scores read as one model (the mean of their
logits, a threshold chosen on the averaged dev scores), checked on hand-made scores."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import seed_average  # noqa: E402  (bench/seed_average.py)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _run(seed: int, dev: list[float], test: list[float], threshold: float = 0.5) -> dict:
    return {"train_seed": seed, "threshold": threshold, "seconds": 1.0,
            "dev": {"labels": [0, 0, 1, 1], "scores": [_sigmoid(x) for x in dev]},
            "test": {"labels": [0, 0, 1, 1], "scores": [_sigmoid(x) for x in test]}}


def test_two_members_that_err_on_different_messages_are_right_together():
    # each run misses one spam at its threshold (logit -1), but is sure of the other (+5):
    # the mean of the logits (+2 for both spam) gets both right
    a = _run(0, [-4, -4, 4, 4], [-4, -4, -1, 5])
    b = _run(1, [-4, -4, 4, 4], [-4, -4, 5, -1])
    figures = seed_average.one_split_figures([a, b], group=2)
    assert figures["single_per_run"] == [pytest.approx(2 / 3, abs=1e-4)] * 2
    assert figures["averaged_per_group"] == [1.0] and figures["groups"] == [[0, 1]]


def test_the_logits_are_averaged_not_the_probabilities():
    # ham: logits -20 and +8 (mean -6; mean probability 0.4998); spam: -0.5 twice (mean -0.5;
    # probability 0.3775): the mean of the logits ranks spam above ham, that of the
    # probabilities the other way round
    dev = [-8, -8, 1, 1]
    members = [_run(0, dev, [-20, -20, -0.5, -0.5]), _run(1, dev, [8, 8, -0.5, -0.5])]
    out = seed_average.average_members(members)
    assert _sigmoid(-6) < out["threshold"] < _sigmoid(-0.5)   # chosen on the averaged dev scores
    assert out["f1"] == 1.0


def test_groups_are_disjoint_and_in_order_and_a_left_over_seed_is_not_grouped():
    runs = [_run(s, [-3, -3, 3, 3], [-3, -3, 3, 3]) for s in range(5)]
    figures = seed_average.one_split_figures(runs, group=2)
    assert figures["groups"] == [[0, 1], [2, 3]]
    assert figures["single"] == figures["averaged"] == 1.0
