"""Fair spam quality bands on any corpus, measured from the hidden set's own noise:
``challenge hidden make`` measures the majority class, ComplementNB, TF-IDF+LR and the reference
(over every cached training seed) on the course corpus's hidden set, and the sampling noise of
the band's metric there (a bootstrap over the whole set, and over each part, with a seed from the
secret). Grading uses that band unless the rubric fixes its own thresholds for this corpus.

The measured band (noise sd = the bootstrap sd, as in Efron & Tibshirani, "An Introduction to
the Bootstrap", 1993, ch. 6, of the noisiest part a grade is read on: the live board reads the
public part, the final gradebook the private part, a single grade the whole set; each half has
about sqrt(2) times the whole set's noise, so a band measured on the whole set alone would let
luck on the half that counts move points):
- full points one noise sd (at least ``margin``) below the reference's mean over its seeds, and
  never above its weakest seed, so the reference earns full marks whatever its seed;
- 0 points at least ``width_sd`` noise sd below the full line, and one sd below the weaker
  baseline, so baseline-level work earns partial credit that grows with its score and a point
  is worth more than the noise; never below the majority class (a constant earns nothing).
The band records a hash of the rubric's settings it depends on: a grade under other settings
is refused with the fix (run `challenge hidden make` again).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from challenge.data.corpus import Message
from challenge.data.lineage import hidden_meta
from challenge.errors import ChallengeError
from challenge.metrics import binary_metrics
from challenge.rubric import Band, Rubric, TaskRubric
from challenge.scoring import ROUNDS, bootstrap_sd

SPAM_KEYS = ("f1", "precision", "recall", "accuracy", "roc_auc")
NAMES = {"majority": "majority class", "tfidf_cnb": "ComplementNB", "tfidf_logreg": "TF-IDF+LR",
         "reference": "reference"}
BASELINES = ("tfidf_cnb", "tfidf_logreg")


def _figures(labels: list[int], scores: Sequence[float], threshold: float) -> dict:
    m = binary_metrics(labels, scores, threshold)
    return {k: round(float(getattr(m, k)), 6) for k in SPAM_KEYS}


def measure_models(corpus: str, test: list[Message], data_dir=None,
                   references: Sequence[Path] = (), seed: int = 0) -> dict[str, dict]:
    """Each model's figures on ``test`` and its scores (key ``scores``, with its threshold):
    the baselines fitted on the split's train part (threshold chosen on dev, as for the LSTM),
    each reference run from its checkpoint; ``reference`` holds the runs' mean."""
    from challenge.baseline import TfidfBaseline
    from challenge.tasks.spam import load_texts

    labels = [m.label for m in test]
    texts = [m.text() for m in test]
    majority = int(2 * sum(labels) > len(labels))
    out = {"majority": _figures(labels, [float(majority)] * len(labels), 0.5)}
    out["majority"]["roc_auc"] = 0.5          # a constant ranks nothing
    train = load_texts(corpus, "train", data_dir=data_dir)
    dev = load_texts(corpus, "dev", data_dir=data_dir)
    scores: dict[str, tuple[list[float], float]] = {}
    for name, kind in (("tfidf_cnb", "cnb"), ("tfidf_logreg", "logreg")):
        model = TfidfBaseline(kind, random_state=seed).fit(*train, *dev)
        scores[name] = (list(model.predict_proba(texts)[:, 1]), float(model.threshold_))
        out[name] = _figures(labels, *scores[name])
    runs = []
    for path in references:
        from challenge.tasks.spam_predict import load_spam_predictor

        predictor = load_spam_predictor(path)
        run = (list(predictor.predict_proba(texts)), float(predictor.threshold))
        scores.setdefault("reference", run)
        runs.append(_figures(labels, *run))
    if runs:
        out["reference"] = {k: round(float(np.mean([r[k] for r in runs])), 6) for k in SPAM_KEYS}
        out["reference_runs"] = runs
    out["scores"] = scores
    return out


def measure_noise(metric: str, figures: dict, labels: Sequence[int], private: Sequence[bool],
                  seed: int) -> dict:
    """The noise sd of ``metric`` on the whole hidden set and on each part, bootstrapping the
    predictions of the reference (else of the better baseline)."""
    scores = figures["scores"]
    model = "reference" if "reference" in scores else \
        max(BASELINES, key=lambda n: figures[n][metric])
    s, threshold = scores[model]
    out = {"model": model, "rounds": ROUNDS}
    for part, keep in (("whole", None), ("public", False), ("private", True)):
        idx = [i for i in range(len(labels)) if keep is None or bool(private[i]) == keep]
        out[part] = bootstrap_sd([labels[i] for i in idx], [s[i] for i in idx], threshold,
                                 metric, seed)
    return out


def band_inputs(band: Band, rub: Rubric) -> dict:
    """The rubric's settings a measured band depends on (a change to any needs a new band)."""
    return {"metric": band.metric, "margin": band.margin, "width_sd": band.width_sd,
            "corpus": rub.hidden.spam_corpus, "scheme": rub.hidden.spam_scheme,
            "public_fraction": rub.hidden.public_fraction}


def inputs_hash(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def graded_noise(noise: dict) -> tuple[str, float]:
    """The part whose noise the band is measured against, and its sd: the noisiest of the parts
    a grade is read on (module docstring)."""
    parts = [p for p in ("whole", "public", "private") if noise.get(p) is not None]
    part = max(parts, key=lambda p: float(noise[p]))
    return part, float(noise[part])


def derive_band(band: Band, figures: dict[str, dict], noise: dict) -> dict:
    """The measured band of ``band.metric`` from the models' ``figures`` and the hidden set's
    ``noise`` (module docstring)."""
    metric, k = band.metric, band.width_sd
    noise_part, sd = graded_noise(noise)
    notes = []
    if "reference" in figures:
        runs = [r[metric] for r in figures.get("reference_runs", [figures["reference"]])]
        mean, top_from = float(np.mean(runs)), "reference"
        full = min(mean - max(sd, band.margin), min(runs))
        why_full = (f"one noise sd (at least the margin {band.margin:g}) below the reference's "
                    f"mean {mean:.4f} over {len(runs)} training seed(s)")
    else:
        top_from = max(BASELINES, key=lambda n: figures[n][metric])
        mean = figures[top_from][metric]
        full = mean - max(sd, band.margin)
        why_full = (f"the reference was not measured (no cached run on this split; "
                    f"--train-reference trains one), so full marks sit one noise sd below the "
                    f"best baseline ({NAMES[top_from]} {mean:.4f})")
        notes.append(why_full)
    weaker = min(figures[n][metric] for n in BASELINES)
    floor = min(full - k * sd, weaker - sd)
    why_floor = (f"{k:g} noise sd below the full line" if floor == full - k * sd else
                 "one noise sd below the weaker baseline, so baseline-level work earns points")
    if floor < figures["majority"][metric]:
        floor = figures["majority"][metric]
        why_floor = "the majority class's level (a constant earns nothing)"
        if full - floor < k * sd:
            notes.append(f"the band is only {(full - floor) / sd if sd else 0:.1f} noise sd wide: "
                         f"the majority class comes close to the reference")
    full, floor = round(full, 6), round(min(floor, full - 1e-6), 6)
    return {"metric": metric, "floor": floor, "full": full, "margin": band.margin,
            "width_sd": k, "noise": noise, "noise_part": noise_part, "noise_sd": sd,
            "reference_mean": round(mean, 6),
            "full_from": top_from, "figures": {n: f for n, f in figures.items() if n != "scores"},
            "reasons": {"full": why_full, "floor": why_floor}, "notes": notes}


def band_note(measured: dict) -> str:
    fig = measured["figures"]
    metric = measured["metric"]
    models = ", ".join(f"{NAMES[n]} {fig[n][metric]:.4f}" for n in NAMES if n in fig)
    noise = measured.get("noise") or {}
    text = (f"{metric} band measured by `challenge hidden make` on the hidden set: 0 points at "
            f"{measured['floor']:.4f}, full at {measured['full']:.4f} ({models}; noise sd "
            f"{noise.get('whole', 0):.4f} on the whole hidden set, {noise.get('public', 0):.4f} "
            f"on the public part, {noise.get('private', 0):.4f} on the private part; the band "
            f"is measured against the noisiest, "
            f"{measured.get('noise_sd', noise.get('whole', 0)):.4f})")
    reasons = measured.get("reasons") or {}
    why = [f"full: {reasons['full']}", f"zero: {reasons['floor']}"] if reasons else []
    return "; ".join([text, *why, *[n for n in measured.get("notes", [])
                                     if n != reasons.get("full")]])


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
    if measured:
        stale(measured, band, rub)
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


def stale(measured: dict, band: Band, rub: Rubric) -> None:
    """Refuse a measured band made under other rubric settings than ``rub``'s: it would not
    take the change into account."""
    now = band_inputs(band, rub)
    was = measured.get("inputs") or {}
    if measured.get("inputs_sha256") == inputs_hash(now):
        return
    changed = ", ".join(f"{k} {was.get(k)!r} -> {v!r}" for k, v in now.items()
                        if was.get(k) != v) or "settings recorded before bands had a hash"
    raise ChallengeError(f"the spam band in hidden.json was measured under other rubric "
                         f"settings ({changed}); run `challenge hidden make` again (same "
                         f"--secret-file) so the band follows the rubric ({rub.source})")


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
