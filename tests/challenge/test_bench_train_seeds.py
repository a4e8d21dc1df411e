"""bench/spam.py's ``--train-seeds``: the LSTM trained once per training seed on every split,
each split's LSTM figures the mean over them, the baselines trained once; checked with the
child runs replaced by fixed figures (nothing trained)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import spam as bench_spam  # noqa: E402  (bench/spam.py)

#: F1 by (split seed, model, training seed); a baseline's figure ignores the training seed.
LSTM = {0: [0.990, 0.986, 0.988], 1: [0.984, 0.982, 0.986], 2: [0.980, 0.979, 0.984]}
LR = {0: 0.984, 1: 0.978, 2: 0.976}


@pytest.fixture
def calls(monkeypatch) -> list:
    made: list = []

    def child(name, seed, data_dir, folder, corpus, args, timing, train_seed):
        made.append((seed, name, train_seed))
        f1 = LSTM[seed][train_seed or 0] if name == "lstm" else LR[seed]
        return {**dict.fromkeys(bench_spam.KEYS, 0.5), "f1": f1, "train_seconds": 1.0,
                "stopped": "epochs"}

    monkeypatch.setattr(bench_spam, "_child", child)
    return made


def _args(train_seeds):
    return SimpleNamespace(train_seeds=train_seeds, train_seed=None, lstm=[])


def test_the_lstm_trains_once_per_training_seed_and_the_baseline_once(calls):
    models = bench_spam._models(["lstm", "tfidf_logreg"], 1, "/nowhere", "spam",
                                _args([0, 1, 2]), timing=False)
    assert calls == [(1, "lstm", 0), (1, "lstm", 1), (1, "lstm", 2),
                     (1, "tfidf_logreg", None)]
    assert models["lstm"]["f1"] == pytest.approx(0.984)
    assert [r["f1"] for r in models["lstm"]["train_seeds"]] == LSTM[1]
    assert [r["train_seed"] for r in models["lstm"]["train_seeds"]] == [0, 1, 2]
    assert "stopped" not in models["lstm"]           # a string is kept per run, not averaged
    assert models["tfidf_logreg"]["f1"] == LR[1]


def test_the_comparison_pairs_split_seeds_on_the_mean_over_training_seeds(calls):
    runs = {s: bench_spam._models(["lstm", "tfidf_logreg"], s, "/nowhere", "spam",
                                  _args([0, 1, 2]), timing=False) for s in (0, 1, 2)}
    out = bench_spam.summarise(runs)
    paired = out["comparison"]["paired"]["tfidf_logreg"]
    # means over training seeds 0.988, 0.984, 0.981 against 0.984, 0.978, 0.976
    assert paired["differences"] == pytest.approx([0.004, 0.006, 0.005], abs=1e-4)
    assert out["comparison"]["models"]["lstm"]["per_seed"] == pytest.approx(
        [0.988, 0.984, 0.981], abs=1e-4)
    assert out["verdicts"] == ["lstm vs tfidf_logreg: f1 +0.0050 (SE 0.0006, 3 seeds): "
                               "ahead beyond noise"]


def test_without_training_seeds_each_model_runs_once_with_the_split_seed(calls):
    bench_spam._models(["lstm", "tfidf_logreg"], 2, "/nowhere", "spam", _args(None),
                       timing=False)
    assert calls == [(2, "lstm", None), (2, "tfidf_logreg", None)]


@pytest.mark.parametrize("text", ["", "0,a", "1,1", " , "])
def test_seed_lists_must_be_distinct_whole_numbers(text):
    with pytest.raises(SystemExit, match="--train-seeds takes distinct"):
        bench_spam.seed_list(text, "--train-seeds")
    assert bench_spam.seed_list("4, 0,2", "--train-seeds") == [4, 0, 2]


@pytest.mark.parametrize("argv", [["--train-seeds", "0,1"],
                                  ["--seeds", "0", "--train-seeds", "0,1", "--train-seed", "3"]])
def test_training_seeds_need_split_seeds_and_no_single_training_seed(monkeypatch, argv):
    monkeypatch.setattr(sys, "argv", ["bench/spam.py", *argv])
    with pytest.raises(SystemExit, match="--train-seeds goes with --seeds"):
        bench_spam.main()


def test_splits_run_side_by_side_give_the_figures_of_splits_run_in_turn(monkeypatch, calls,
                                                                          tmp_path):
    import challenge.data.split as split

    made = []

    def fake_split(corpus, seed, scheme, data_dir):
        made.append(seed)
        return SimpleNamespace(counts={"train": 10 + seed})

    monkeypatch.setattr(split, "make_split", fake_split)
    (tmp_path / "corpora" / "spam").mkdir(parents=True)
    out = {}
    for jobs in (1, 3):
        args = SimpleNamespace(train_seeds=[0, 1, 2], train_seed=None, lstm=[], jobs=jobs,
                               scheme="random")
        out[jobs] = bench_spam._seeded_runs(["lstm", "tfidf_logreg"], [0, 1, 2],
                                            str(tmp_path), "spam", args)
    assert sorted(made) == [0, 0, 1, 1, 2, 2]
    assert out[1] == out[3]
    assert list(out[3]["runs"]) == [0, 1, 2]                  # seed order, whatever ran first
    assert out[3]["splits"] == {0: {"train": 10}, 1: {"train": 11}, 2: {"train": 12}}
    assert out[3]["verdicts"][0].endswith("ahead beyond noise")
