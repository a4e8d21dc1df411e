"""Fair spam quality bands on any corpus: ``challenge hidden make`` measures the majority class,
ComplementNB, TF-IDF+LR and the reference (when trained) on the course corpus's hidden set and
derives the band from them; grading uses that band unless the rubric fixes its own thresholds
for this corpus.

The measured band: 0 points at or below ``max(majority class, ComplementNB)``, full points at
the reference's level less the rubric's ``margin`` (the best baseline's when the reference was
not measured, said so). Where ComplementNB comes within ``2 * margin`` of that full line, the
zero line is put at ``full - 2 * margin`` instead, and the band says so: the reference keeps
its full marks and the band keeps a width a student can climb.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from challenge.data.corpus import Message
from challenge.data.lineage import hidden_meta
from challenge.metrics import binary_metrics
from challenge.rubric import Band, Rubric, TaskRubric

SPAM_KEYS = ("f1", "precision", "recall", "accuracy", "roc_auc")
NAMES = {"majority": "majority class", "tfidf_cnb": "ComplementNB", "tfidf_logreg": "TF-IDF+LR",
         "reference": "reference"}


def _figures(labels: list[int], scores: Sequence[float], threshold: float) -> dict:
    m = binary_metrics(labels, scores, threshold)
    return {k: round(float(getattr(m, k)), 6) for k in SPAM_KEYS}


def measure_models(corpus: str, test: list[Message], data_dir=None,
                   reference: Path | None = None, seed: int = 0) -> dict[str, dict]:
    """Each model's figures on ``test``: the baselines fitted on the split's train part (their
    threshold chosen on dev, as for the LSTM), the reference from its checkpoint."""
    from challenge.baseline import TfidfBaseline
    from challenge.tasks.spam import load_texts

    labels = [m.label for m in test]
    texts = [m.text() for m in test]
    majority = int(2 * sum(labels) > len(labels))
    out = {"majority": _figures(labels, [float(majority)] * len(labels), 0.5)}
    out["majority"]["roc_auc"] = 0.5          # a constant ranks nothing
    train = load_texts(corpus, "train", data_dir=data_dir)
    dev = load_texts(corpus, "dev", data_dir=data_dir)
    for name, kind in (("tfidf_cnb", "cnb"), ("tfidf_logreg", "logreg")):
        model = TfidfBaseline(kind, random_state=seed).fit(*train, *dev)
        out[name] = _figures(labels, model.predict_proba(texts)[:, 1], model.threshold_)
    if reference is not None:
        from challenge.tasks.spam_predict import load_spam_predictor

        predictor = load_spam_predictor(reference)
        out["reference"] = _figures(labels, predictor.predict_proba(texts), predictor.threshold)
    return out


def derive_band(band: Band, figures: dict[str, dict]) -> dict:
    """The measured band of ``band.metric`` from the models' ``figures`` (module docstring)."""
    metric, margin = band.metric, band.margin
    floor_from = max(("majority", "tfidf_cnb"), key=lambda n: figures[n][metric])
    top_from = "reference" if "reference" in figures else \
        max(("tfidf_cnb", "tfidf_logreg"), key=lambda n: figures[n][metric])
    full = round(figures[top_from][metric] - margin, 6)
    floor = figures[floor_from][metric]
    notes = []
    if top_from != "reference":
        notes.append("the reference was not measured (not trained on this split), so full "
                     f"marks sit at the best baseline ({NAMES[top_from]}) less the margin")
    if floor > full - 2 * margin:
        notes.append(f"{NAMES[floor_from]} ({floor:.4f}) comes within {2 * margin:g} of the full "
                     f"line, so the zero line is at full - {2 * margin:g}")
        floor = round(full - 2 * margin, 6)
    return {"metric": metric, "floor": floor, "full": full, "margin": margin,
            "floor_from": floor_from, "full_from": top_from, "figures": figures, "notes": notes}


def band_note(measured: dict) -> str:
    fig = measured["figures"]
    metric = measured["metric"]
    models = ", ".join(f"{NAMES[n]} {fig[n][metric]:.4f}" for n in NAMES if n in fig)
    text = (f"{metric} band measured by `challenge hidden make` on the hidden set: 0 points at "
            f"{measured['floor']:.4f}, full at {measured['full']:.4f} ({models}; margin "
            f"{measured['margin']:g})")
    return "; ".join([text, *measured.get("notes", [])])


def effective_task(task: TaskRubric, rub: Rubric, *, hidden: bool,
                   data_dir: str | os.PathLike | None = None) -> tuple[TaskRubric, list[str]]:
    """``task`` with the band grading uses, and notes saying where the band came from."""
    band = task.quality
    if task.name != "spam" or band is None:
        return task, []
    corpus = rub.hidden.spam_corpus
    if band.fixed and band.corpus in ("", corpus):
        return task, []
    measured = None
    if hidden:
        spam = hidden_meta(data_dir)[1].get("spam")
        measured = spam.get("bands") if isinstance(spam, dict) else None
    if measured and measured.get("metric") == band.metric:
        new = replace(band, floor=measured["floor"], full=measured["full"])
        return replace(task, quality=new), [band_note(measured)]
    if band.fixed:
        return task, [f"the {band.metric} thresholds are the rubric's for corpus {band.corpus!r}, "
                      f"but the course corpus is {corpus!r}"
                      + ("" if hidden else "; the instructor's hidden sets use a band measured "
                         "on it") + (" (run `challenge hidden make` again to measure one)"
                                     if hidden else "")]
    return task, [f"no {band.metric} band: the rubric leaves it to `challenge hidden make`, and "
                  f"{'it measured none; run it again' if hidden else 'the dev sets have none'}"]


def checkpoint_note(checkpoint: Path | None, corpus: str, data_dir=None) -> str:
    """A note when the spam checkpoint says it was trained on another corpus than ``corpus``
    (what it says is a claim of the submission: a hint for the instructor, not a verdict)."""
    from challenge.checkpoint import load_checkpoint
    from challenge.errors import ChallengeError
    from challenge.evaluate import corpus_note, trained_on

    if checkpoint is None:
        return ""
    try:
        config = load_checkpoint(checkpoint)["config"]
    except ChallengeError:
        return ""
    if not isinstance(config, dict) or "corpus" not in config:
        return ""
    return corpus_note(trained_on(config), corpus, data_dir)
