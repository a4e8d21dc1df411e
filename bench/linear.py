"""A stronger linear baseline for bench/spam.py: TF-IDF over word 1-2 grams and character 2-5
grams (within word boundaries, so "v1agra" and "fr*e" still share pieces with the real words),
then class-balanced LogisticRegression whose strength C is chosen on dev, then the threshold
chosen on dev as for every other model. Follows challenge.baseline.TfidfBaseline's estimator
contract (fit returns self; learned attributes end in ``_``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from challenge.baseline import TfidfBaseline
from challenge.metrics import choose_threshold


class WordCharBaseline(TfidfBaseline):
    """Word 1-2 grams and char_wb 2-5 grams, TF-IDF each (sublinear tf), one LogisticRegression
    over both; ``Cs``: the strengths tried, the one with the best dev ROC-AUC kept."""

    def __init__(self, Cs: tuple[float, ...] = (1.0, 10.0, 100.0), min_df: int = 2,
                 max_features: int = 200_000, threshold: float = 0.5, random_state: int = 0):
        super().__init__("logreg", min_df=min_df, max_features=max_features,
                         threshold=threshold, random_state=random_state)
        self.Cs = Cs

    def _vectorizers(self) -> list[TfidfVectorizer]:
        common = dict(min_df=self.min_df, max_features=self.max_features, sublinear_tf=True,
                      lowercase=True, dtype=np.float32)
        return [TfidfVectorizer(ngram_range=(1, 2), **common),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common)]

    def _features(self, texts: Sequence[str]):
        return hstack([v.transform(texts) for v in self.vectorizers_]).tocsr()

    def fit(self, texts: Sequence[str], labels: Sequence[int],
            dev_texts: Sequence[str] | None = None,
            dev_labels: Sequence[int] | None = None) -> "WordCharBaseline":
        y = np.asarray(labels, dtype=np.int64)
        self.vectorizers_ = self._vectorizers()
        X = hstack([v.fit_transform(texts) for v in self.vectorizers_]).tocsr()
        X_dev = self._features(dev_texts) if dev_texts is not None else None
        best = None
        for C in self.Cs:
            clf = LogisticRegression(C=C, class_weight="balanced", max_iter=3000,
                                     random_state=self.random_state).fit(X, y)
            if X_dev is None or len(set(dev_labels)) < 2:
                best = (0.0, C, clf)
                break
            auc = roc_auc_score(dev_labels, clf.predict_proba(X_dev)[:, 1])
            if best is None or auc > best[0]:
                best = (auc, C, clf)
        _, self.C_, self.classifier_ = best
        self.threshold_ = float(self.threshold)
        if X_dev is not None:
            self.threshold_ = choose_threshold(dev_labels,
                                               self.classifier_.predict_proba(X_dev)[:, 1])
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(N, 2) class probabilities, columns ham and spam."""
        return self.classifier_.predict_proba(self._features(texts))
