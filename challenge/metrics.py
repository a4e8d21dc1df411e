"""Binary classification metrics for the spam task (spam = 1 is the positive class) and the
choice of a decision threshold on the dev split.

Everyone computes them here: training (dev metrics, early stopping), the scikit-learn
baselines, the benchmark and the grader, so one model's figures are comparable with another's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score

from challenge.errors import ChallengeError

METRICS = ("f1", "precision", "recall", "accuracy", "roc_auc")


@dataclass(frozen=True)
class BinaryMetrics:
    """Metrics of one model on one labelled set at one decision threshold."""

    f1: float          # F1 of the spam class
    precision: float   # of the spam class: flagged messages that are spam
    recall: float      # of the spam class: spam that was flagged
    accuracy: float
    roc_auc: float     # threshold-free ranking quality; NaN when only one class is present
    threshold: float   # scores >= threshold are called spam
    n: int             # messages
    positives: int     # spam messages among them

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"F1 {self.f1:.4f}  precision {self.precision:.4f}  recall {self.recall:.4f}  "
                f"accuracy {self.accuracy:.4f}  ROC-AUC {self.roc_auc:.4f}  "
                f"(threshold {self.threshold:.3f}, {self.n} messages, {self.positives} spam)")


def _arrays(labels: Sequence[int], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.int64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ChallengeError(f"metrics: {y.size} labels but {s.size} scores; pass one score "
                             "per labelled message")
    if y.size == 0:
        raise ChallengeError("metrics: no messages to score; the labelled set is empty")
    if not np.isin(y, (0, 1)).all():
        bad = y[~np.isin(y, (0, 1))][0]
        raise ChallengeError(f"metrics: labels must be 0 (ham) or 1 (spam), got {bad}")
    if not np.isfinite(s).all():
        raise ChallengeError("metrics: scores contain NaN or infinity; check the model's output")
    return y, s


def binary_metrics(labels: Sequence[int], scores: Sequence[float],
                   threshold: float = 0.5) -> BinaryMetrics:
    """Metrics of ``scores`` (higher = more likely spam) against 0/1 ``labels``.

    A message is called spam when its score is >= ``threshold``.
    """
    y, s = _arrays(labels, scores)
    pred = (s >= threshold).astype(np.int64)
    p, r, f, _ = precision_recall_fscore_support(y, pred, pos_label=1, average="binary",
                                                 zero_division=0)
    auc = float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan")
    return BinaryMetrics(f1=float(f), precision=float(p), recall=float(r),
                         accuracy=float(accuracy_score(y, pred)), roc_auc=auc,
                         threshold=float(threshold), n=int(y.size), positives=int(y.sum()))


def choose_threshold(labels: Sequence[int], scores: Sequence[float],
                     window: float = 1.0) -> float:
    """The threshold that maximises spam F1 on a labelled (dev) set, robustly.

    The F1 of a single cut point on a dev set of a few hundred messages is noisy: the exact
    maximiser often sits in a narrow gap of an over-confident model (a threshold of 0.005,
    say) that the test set does not share. So F1 is averaged over a neighbourhood of
    +/- ``window`` on the logit scale (probabilities; other scores on their own scale), that is
    a shift of the odds by a factor of e for ``window=1``, and the threshold with the best
    average is taken: the middle of a broad plateau of good thresholds, not a narrow spike.
    ``window=0`` gives the exact maximiser: a midpoint between consecutive distinct scores,
    the median one among equally good cut points. With a single class present, 0.5 for
    probabilities (or the midpoint of the scores) is returned.
    """
    y, s = _arrays(labels, scores)
    if window < 0 or not np.isfinite(window):
        raise ChallengeError(f"choose_threshold: window must be >= 0, got {window}")
    probabilities = s.min() >= 0.0 and s.max() <= 1.0
    if y.sum() == 0 or y.sum() == y.size:
        return 0.5 if probabilities else float((s.min() + s.max()) / 2)
    if window == 0:
        return _exact_threshold(y, s)
    z = _logit(s) if probabilities else s
    step = window / 20
    grid = np.arange(z.min() - step, z.max() + 2 * step, step)           # (G,)
    z_sorted = np.sort(z)
    flagged = z.size - np.searchsorted(z_sorted, grid, side="left")        # z >= g
    spam_sorted = np.sort(z[y == 1])
    tp = spam_sorted.size - np.searchsorted(spam_sorted, grid, side="left")
    f1 = 2 * tp / (flagged + y.sum())                                      # (G,)
    width = 20                                                             # grid points per window
    padded = np.r_[np.zeros(1), np.cumsum(f1)]
    lo = np.clip(np.arange(grid.size) - width, 0, grid.size)
    hi = np.clip(np.arange(grid.size) + width + 1, 0, grid.size)
    smoothed = (padded[hi] - padded[lo]) / (hi - lo)
    best = np.flatnonzero(smoothed >= smoothed.max() - 1e-12)
    g = float(grid[best[len(best) // 2]])
    return float(1 / (1 + np.exp(-g))) if probabilities else g


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)


def _exact_threshold(y: np.ndarray, s: np.ndarray) -> float:
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Calling the top k messages spam, for every k where the next score is strictly lower.
    tp = np.cumsum(y_sorted)
    k = np.arange(1, y.size + 1)
    f1 = 2 * tp / (k + y.sum())
    cut = np.r_[s_sorted[:-1] > s_sorted[1:], True]
    f1 = np.where(cut, f1, -1.0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    i = best[len(best) // 2]
    if i + 1 < y.size:
        return float((s_sorted[i] + s_sorted[i + 1]) / 2)
    return float(np.nextafter(s_sorted[i], -np.inf))
