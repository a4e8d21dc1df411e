"""bench/compare.py, the reading of bench/spam.py's runs over seeds, on fixed numbers (nothing
trained): the sample sd, the paired difference's standard error and the verdicts; and
bench/linear.py's stronger baseline on a toy corpus."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import compare  # noqa: E402  (bench/compare.py)


def _runs(**per_model: list[float]) -> dict:
    seeds = range(len(next(iter(per_model.values()))))
    return {s: {m: {"f1": v[s]} for m, v in per_model.items()} for s in seeds}


def test_sample_sd_is_ddof_1():
    assert compare.sample_sd([0.97, 0.98, 0.99]) == pytest.approx(0.01)   # pstdev: 0.00816
    assert compare.sample_sd([0.5]) is None


def test_paired_difference_and_its_standard_error():
    p = compare.paired([0.98, 0.99, 0.97, 0.985], [0.97, 0.975, 0.965, 0.97])
    diffs = [0.01, 0.015, 0.005, 0.015]
    sd = math.sqrt(sum((d - 0.01125) ** 2 for d in diffs) / 3)
    assert p["differences"] == pytest.approx(diffs)
    assert p["mean_difference"] == pytest.approx(0.0112, abs=1e-4)
    assert p["se"] == pytest.approx(sd / 2, abs=1e-4)
    assert p["verdict"] == "ahead beyond noise"


def test_a_gap_inside_the_spread_is_a_tie_though_the_means_differ():
    # the case: the reference's mean is higher, but one seed goes the other way
    p = compare.paired([0.985, 0.980, 0.986, 0.979, 0.982], [0.978, 0.984, 0.975, 0.981, 0.980])
    assert p["mean_difference"] > 0 and p["verdict"] == "tie"


def test_behind_and_the_edges():
    assert compare.paired([0.96, 0.965, 0.97], [0.98, 0.985, 0.984])["verdict"] == "behind"
    assert compare.verdict(0.01, None).startswith("tie")          # one seed: no SE
    assert compare.verdict(0.02, 0.01) == "tie"                    # exactly 2 SE is not beyond
    assert compare.verdict(0.0201, 0.01) == "ahead beyond noise"
    with pytest.raises(ValueError, match="one value per seed"):
        compare.paired([0.9, 0.8], [0.9])


def test_compare_lists_per_seed_figures_and_one_verdict_per_baseline():
    out = compare.compare(_runs(lstm=[0.98, 0.99, 0.985], tfidf_logreg=[0.97, 0.975, 0.972],
                                tfidf_cnb=[0.99, 0.995, 0.992]))
    assert out["seeds"] == [0, 1, 2]
    assert out["models"]["lstm"]["per_seed"] == [0.98, 0.99, 0.985]
    assert out["models"]["lstm"]["sd"] == pytest.approx(0.005)
    assert set(out["paired"]) == {"tfidf_logreg", "tfidf_cnb"}
    assert out["verdicts"] == [
        "lstm vs tfidf_logreg: f1 +0.0127 (SE 0.0015, 3 seeds): ahead beyond noise",
        "lstm vs tfidf_cnb: f1 -0.0073 (SE 0.0015, 3 seeds): behind"]
    assert "verdicts" not in compare.compare(_runs(a=[0.9, 0.8]), reference="lstm")


def test_wordchar_baseline_learns_and_picks_c_and_threshold_on_dev():
    from linear import WordCharBaseline   # bench/linear.py

    spam = ["fr33 c4sh prize click now", "winner free money click", "cheap v1agra offer now",
            "free prize winner today"] * 5
    ham = ["meeting agenda for monday", "patch review thanks", "lunch at noon with team",
           "kernel build failed again"] * 5
    texts, labels = spam + ham, [1] * len(spam) + [0] * len(ham)
    model = WordCharBaseline(Cs=(0.1, 10.0)).fit(texts, labels, texts[::3], labels[::3])
    assert model.C_ in (0.1, 10.0) and 0.0 < model.threshold_ < 1.0
    scores = model.predict_proba(["free c4sh winner", "team meeting review"])[:, 1]
    assert scores[0] > 0.5 > scores[1]
