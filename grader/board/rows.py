"""The marked rows of the leaderboard: ``challenge leaderboard add-reference`` grades the
reference solutions on the hidden sets (code mode, like a student's submission) and
``add-baselines`` grades ComplementNB and TF-IDF+LR (predictions mode: they have no code for
the checks). Each is stored as a shaded, unranked row, so the class sees the bar.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from grader.board.leaderboard import Leaderboard

BASELINES = (("tfidf_cnb", "cnb", "ComplementNB"), ("tfidf_logreg", "logreg", "TF-IDF+LR"))


@dataclass
class Added:
    """One marked row: its name on the board, its points, and whether it was new."""

    name: str
    points: float
    max_points: float
    status: str
    new: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        shown = self.name.strip("_").replace("__", ": ")
        state = "added" if self.new else "already on the board (same predictions, same rubric)"
        return f"{shown}: {self.points:.2f} / {self.max_points:g} points, {state}"


def _store(report: dict, kind: str, name: str, db) -> Added:
    with Leaderboard(db) as store:
        new = store.record(report, kind=kind, student=name) is not None
    return Added(name, float(report["points"]), float(report["max_points"]), report["status"], new)


def add_reference(*, db: str | os.PathLike | None = None, rubric=None,
                  data_dir: str | os.PathLike | None = None, train: bool = True) -> Added:
    """Grade the reference solutions on the hidden sets (training their checkpoints first where
    none fits) and store the row as ``__reference__``."""
    from grader.grade import grade

    report = grade(impl="solutions", hidden=True, rubric=rubric, data_dir=data_dir, train=train)
    return _store(report.to_dict(), "reference", "__reference__", db)


def to_half(scores, threshold: float) -> list[float]:
    """``scores`` mapped monotonically so that ``threshold`` lands on 0.5 (the predictions
    file's cut): the labels at the model's own threshold and its ROC-AUC both survive."""
    t = min(max(float(threshold), 1e-9), 1 - 1e-9)
    return [0.5 * s / t if s < t else 0.5 + 0.5 * (s - t) / (1 - t) for s in map(float, scores)]


def add_baselines(*, db: str | os.PathLike | None = None, rubric=None,
                  data_dir: str | os.PathLike | None = None, seed: int = 0) -> list[Added]:
    """Fit each baseline on the course corpus's train part (threshold on dev), predict the
    hidden spam set and grade the predictions like a student's file; store each row."""
    from challenge.baseline import TfidfBaseline
    from challenge.rubric import Rubric, load_rubric
    from challenge.tasks.spam import load_texts
    from grader.grade import grade_predictions
    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions

    rub = rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=data_dir)
    data = hidden_spam(data_dir)
    corpus = rub.hidden.spam_corpus
    train = load_texts(corpus, "train", data_dir=data_dir)
    dev = load_texts(corpus, "dev", data_dir=data_dir)
    texts = [m.text() for m in data.messages]
    added = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, kind, label in BASELINES:
            model = TfidfBaseline(kind, random_state=seed).fit(*train, *dev)
            scores = to_half(model.predict_proba(texts)[:, 1], model.threshold_)
            path = write_predictions(Path(tmp) / f"{key}.csv", data.ids, scores)
            report = grade_predictions(path, rub, data_dir).to_dict()
            added.append(_store(report, "baseline", f"__baseline__ {label}", db))
    return added
