"""The scikit-learn baselines: estimator contract, learning a toy task, clear errors."""

from __future__ import annotations

import random

import numpy as np
import pytest

from challenge.baseline import TfidfBaseline, fit_and_score
from challenge.errors import ChallengeError

SPAM = ["free money now", "win cash prize", "cheap pills offer", "click here to claim",
        "act now limited offer"]
HAM = ["meeting notes attached", "see you at lunch", "the patch fixes the build",
       "review my code please", "minutes of the project call"]


def _toy(n: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        spam = i % 2
        words = rng.choice(SPAM if spam else HAM).split()
        words += rng.sample(["the", "a", "today", "hello"], 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(spam)
    return texts, labels


def test_init_stores_hyperparameters_only():
    model = TfidfBaseline("cnb", alpha=0.5, random_state=3)
    assert (model.classifier, model.alpha, model.random_state) == ("cnb", 0.5, 3)
    assert not [k for k in vars(model) if k.endswith("_")]


@pytest.mark.parametrize("classifier", ["logreg", "cnb"])
def test_fit_returns_self_and_separates_a_toy_set(classifier):
    train, dev, test = _toy(60, 0), _toy(20, 1), _toy(20, 2)
    model = TfidfBaseline(classifier, min_df=1)
    assert model.fit(*train, *dev) is model
    assert hasattr(model, "vectorizer_") and 0.0 < model.threshold_ < 1.0
    proba = model.predict_proba(test[0])
    assert proba.shape == (20, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert model.predict(test[0]).tolist() == test[1]


def test_fit_and_score_reports_dev_and_test():
    result = fit_and_score("cnb", TfidfBaseline("cnb", min_df=1), _toy(60, 0), _toy(20, 1),
                           _toy(20, 2))
    assert result.dev["f1"] == 1.0 and result.test["f1"] == 1.0
    assert result.messages_per_second > 0 and "cnb" in result.summary()
    assert set(result.to_dict()) >= {"name", "dev", "test", "train_seconds"}


def test_same_seed_same_predictions():
    train, test = _toy(60, 0), _toy(20, 2)
    a = TfidfBaseline("logreg", min_df=1, random_state=1).fit(*train).predict_proba(test[0])
    b = TfidfBaseline("logreg", min_df=1, random_state=1).fit(*train).predict_proba(test[0])
    assert np.array_equal(a, b)


def test_errors_name_the_problem():
    with pytest.raises(ChallengeError, match="unknown baseline classifier 'svm'"):
        TfidfBaseline("svm").fit(*_toy(10, 0))
    with pytest.raises(ChallengeError, match="both ham"):
        TfidfBaseline("cnb").fit(["a b", "c d"], [1, 1])
    with pytest.raises(ChallengeError, match="fit"):
        TfidfBaseline("cnb").predict_proba(["x"])
