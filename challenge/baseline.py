"""The bar the LSTM must clear: TF-IDF over word 1-2 grams with LogisticRegression or
ComplementNB (scikit-learn), trained on the same split and scored with the same metrics.

:class:`TfidfBaseline` follows scikit-learn's estimator contract (``__init__`` stores
hyperparameters, ``fit`` returns ``self``, learned attributes end in ``_``);
:func:`run_baselines` is what ``challenge baseline spam`` and ``bench/spam.py`` call.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB

from challenge.errors import ChallengeError
from challenge.metrics import binary_metrics, choose_threshold

CLASSIFIERS = ("logreg", "cnb")


class TfidfBaseline:
    """TF-IDF (word n-grams, sublinear tf) followed by a linear classifier.

    ``classifier`` is "logreg" (LogisticRegression, class-balanced, strength ``C``) or "cnb"
    (ComplementNB, smoothing ``alpha``). ``threshold`` is the decision threshold on
    :meth:`predict_proba`'s spam column; :meth:`fit` sets ``threshold_`` from dev data when given.
    """

    def __init__(self, classifier: str = "logreg", ngram_range: tuple[int, int] = (1, 2),
                 min_df: int = 2, max_features: int | None = 200_000, C: float = 10.0,
                 alpha: float = 0.1, threshold: float = 0.5, random_state: int = 0):
        self.classifier = classifier
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.C = C
        self.alpha = alpha
        self.threshold = threshold
        self.random_state = random_state

    def _make_classifier(self):
        if self.classifier == "logreg":
            return LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000,
                                      random_state=self.random_state)
        if self.classifier == "cnb":
            return ComplementNB(alpha=self.alpha)
        raise ChallengeError(f"unknown baseline classifier {self.classifier!r}; use one of "
                             f"{', '.join(CLASSIFIERS)}")

    def fit(self, texts: Sequence[str], labels: Sequence[int],
            dev_texts: Sequence[str] | None = None,
            dev_labels: Sequence[int] | None = None) -> "TfidfBaseline":
        """Fit on ``texts``; with dev data, choose ``threshold_`` to maximise dev F1."""
        clf = self._make_classifier()
        y = np.asarray(labels, dtype=np.int64)
        if len(texts) != len(y) or len(np.unique(y)) < 2:
            raise ChallengeError("baseline: need as many labels as texts, with both ham (0) and "
                                 "spam (1) among them; check the training split")
        self.vectorizer_ = TfidfVectorizer(ngram_range=tuple(self.ngram_range), min_df=self.min_df,
                                           max_features=self.max_features, sublinear_tf=True,
                                           lowercase=True, dtype=np.float32)
        X = self.vectorizer_.fit_transform(texts)
        self.classifier_ = clf.fit(X, y)
        self.threshold_ = float(self.threshold)
        if dev_texts is not None and dev_labels is not None:
            self.threshold_ = choose_threshold(dev_labels, self.predict_proba(dev_texts)[:, 1])
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 2) class probabilities, columns ham and spam."""
        if not hasattr(self, "classifier_"):
            raise ChallengeError("baseline: call fit() before predict_proba()")
        return self.classifier_.predict_proba(self.vectorizer_.transform(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 predictions at ``threshold_``."""
        return (self.predict_proba(texts)[:, 1] >= self.threshold_).astype(np.int64)


@dataclass
class BaselineResult:
    """One baseline's figures on the dev split (and the test split when it was scored)."""

    name: str
    dev: dict
    test: dict | None = None
    train_seconds: float = 0.0
    messages_per_second: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        part, m = ("test", self.test) if self.test else ("dev", self.dev)
        return (f"{self.name:<14} {part}: F1 {m['f1']:.4f}  precision {m['precision']:.4f}  "
                f"recall {m['recall']:.4f}  accuracy {m['accuracy']:.4f}  "
                f"ROC-AUC {m['roc_auc']:.4f}  (trained in {self.train_seconds:.1f}s)")


def fit_and_score(name: str, model: TfidfBaseline, train: tuple[list[str], list[int]],
                  dev: tuple[list[str], list[int]],
                  test: tuple[list[str], list[int]] | None = None) -> BaselineResult:
    """Fit ``model`` on ``train`` (threshold on ``dev``) and score it on dev and test."""
    start = time.perf_counter()
    model.fit(train[0], train[1], dev[0], dev[1])
    seconds = time.perf_counter() - start
    dev_m = binary_metrics(dev[1], model.predict_proba(dev[0])[:, 1], model.threshold_)
    result = BaselineResult(name=name, dev=dev_m.to_dict(), train_seconds=round(seconds, 2))
    if test is not None:
        start = time.perf_counter()
        scores = model.predict_proba(test[0])[:, 1]
        elapsed = time.perf_counter() - start
        result.test = binary_metrics(test[1], scores, model.threshold_).to_dict()
        result.messages_per_second = round(len(test[0]) / max(elapsed, 1e-9), 1)
    return result


def run_baselines(corpus: str | None = None, *, view: str = "subject_body",
                  with_test: bool = False, seed: int = 0,
                  data_dir: str | os.PathLike | None = None) -> list[BaselineResult]:
    """Train both baselines on ``corpus``'s train split and score them on dev (and test).

    ``corpus`` defaults to the course's (:func:`challenge.tasks.spam.course_corpus`); ``seed``
    feeds the estimators' ``random_state``; the split itself is the one on disk.
    """
    from challenge.tasks.spam import (  # the task owns reading splits
        course_corpus,
        load_texts,
    )

    corpus = corpus or course_corpus(data_dir)

    train = load_texts(corpus, "train", view=view, data_dir=data_dir)
    dev = load_texts(corpus, "dev", view=view, data_dir=data_dir)
    test = load_texts(corpus, "test", view=view, data_dir=data_dir) if with_test else None
    models = {"tfidf_logreg": TfidfBaseline("logreg", random_state=seed),
              "tfidf_cnb": TfidfBaseline("cnb", random_state=seed)}
    return [fit_and_score(name, m, train, dev, test) for name, m in models.items()]
