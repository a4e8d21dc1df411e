"""``challenge evaluate CHECKPOINT --corpus NAME --part dev|test|all --threshold
stored|best|VALUE``: a spam checkpoint scored on any part of any corpus. This is how an
instructor measures cross-corpus transfer (train on SpamAssassin, score on their own mail):
``--part all`` needs only the imported corpus, no split.

Transfer is reported honestly: the messages the evaluated part shares with the checkpoint's
training split (same normalised body, as the duplicate-aware split compares them) are counted
and named, since they make the figures overstate transfer; on another corpus ROC-AUC (which
needs no threshold) comes first; and the F1 of the best threshold on the part itself is
printed beside the stored threshold's, which separates ranking from calibration.

``test`` is the hidden test part: it exists only where the split or ``challenge hidden make``
ran (the instructor's machine), never in a student's bundle.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge.checkpoint import load_checkpoint
from challenge.data.corpus import duplicate_key, load_corpus, load_split, split_path
from challenge.data.lineage import corpus_sha256
from challenge.errors import ChallengeError
from challenge.metrics import binary_metrics, choose_threshold

PARTS = ("dev", "test", "all")
THRESHOLDS = ("stored", "best")


@dataclass
class Evaluation:
    """A checkpoint's figures on one corpus part, and where the checkpoint was trained."""

    checkpoint: str
    corpus: str
    part: str
    messages: int
    spam: int
    f1: float
    precision: float
    recall: float
    accuracy: float
    roc_auc: float
    threshold: float                                  # the one the figures above use
    trained_on: dict = field(default_factory=dict)   # corpus name and sha256, as recorded
    notes: list[str] = field(default_factory=list)
    threshold_mode: str = "stored"                    # stored, best or value
    stored_threshold: float = 0.5
    stored_f1: float = 0.0
    best_threshold: float = 0.5                       # best F1 on this very part (an oracle)
    best_f1: float = 0.0
    shared: int | None = None     # messages whose normalised body is in the training split
    other_corpus: bool = False    # evaluated on a corpus other than the training one

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        head = (f"{self.checkpoint} on {self.corpus} {self.part} ({self.messages:,} messages, "
                f"{self.spam:,} spam"
                + (f", {self.shared:,} shared with its training data" if self.shared else "")
                + "):")
        auc = f"ROC-AUC {self.roc_auc:.4f}"
        at = (f"F1 {self.f1:.4f}  precision {self.precision:.4f}  recall {self.recall:.4f}  "
              f"accuracy {self.accuracy:.4f}  threshold {self.threshold:.4f} "
              f"({self.threshold_mode})")
        figures = f"{auc}  {at}" if self.other_corpus else f"{at}  {auc}"
        compare = (f"  F1 at the stored threshold {self.stored_threshold:.4f}: "
                   f"{self.stored_f1:.4f}; at the best threshold for this part "
                   f"{self.best_threshold:.4f}: {self.best_f1:.4f} (chosen on these labels, "
                   f"so an upper bound)")
        return "\n".join([f"{head} {figures}", compare] + [f"  note: {n}" for n in self.notes])


def trained_on(config: dict) -> dict:
    """The corpus a spam checkpoint's config says it was trained on: name and sha256 (the
    sha256 is absent in checkpoints made before it was recorded)."""
    split = config.get("split") if isinstance(config.get("split"), dict) else {}
    sha = config.get("corpus_sha256") or split.get("corpus_sha256")
    return {"corpus": str(config.get("corpus", "spam"))[:80],   # a submission's claim: kept short
            "sha256": str(sha)[:64] if sha else None}


def corpus_note(recorded: dict, corpus: str, data_dir=None) -> str:
    """A sentence when the checkpoint was trained on another corpus (or another version of
    it) than ``corpus``; "" when it is the same or nothing was recorded."""
    if recorded.get("corpus") != corpus:
        return (f"the checkpoint was trained on corpus {recorded.get('corpus')!r}, not on "
                f"{corpus!r}")
    now = corpus_sha256(corpus, data_dir)
    if recorded.get("sha256") and now and recorded["sha256"] != now:
        return (f"the checkpoint was trained on another version of corpus {corpus!r} (it was "
                f"imported again since)")
    return ""


def _messages(corpus: str, part: str, data_dir):
    if part == "all":
        return load_corpus(corpus, data_dir)
    if part == "test" and not split_path(corpus, "test", data_dir).is_file():
        raise ChallengeError(f"corpus {corpus!r} has no hidden test part here (it is the "
                             f"instructor's, made by `challenge data split {corpus}` or "
                             f"`challenge hidden make`); use --part dev or --part all")
    return load_split(corpus, part, data_dir)


def parse_threshold(threshold: str | float) -> tuple[str, float | None]:
    """``stored``, ``best`` or a number in [0, 1] as (mode, value); a ChallengeError naming
    the bad value otherwise."""
    text = str(threshold).strip().lower()
    if text in THRESHOLDS:
        return text, None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:                     # also refuses nan
        raise ChallengeError(f"unknown threshold {threshold!r}; use stored, best or a number "
                             f"between 0 and 1 (a spam probability), e.g. --threshold 0.5")
    return "value", value


def shared_with_training(messages, recorded: dict, data_dir=None) -> tuple[int | None, str]:
    """How many of ``messages`` share a normalised body with the training split of the corpus
    the checkpoint records, and a note saying so ("" when none); None and a note when that
    split is not on disk to compare with."""
    name = recorded.get("corpus")
    try:
        train = load_split(name, "train", data_dir) if name else []
    except ChallengeError as e:
        return None, (f"could not check for texts shared with the training data (corpus "
                      f"{name!r}): {e}")
    if not name:
        return None, "the checkpoint records no training corpus: no check for shared texts"
    seen = {duplicate_key(m) for m in train}
    shared = sum(duplicate_key(m) in seen for m in messages)
    if not shared:
        return 0, ""
    note = (f"{shared:,} of {len(messages):,} messages ({shared / len(messages):.1%}) share a "
            f"normalised body with the training split of corpus {name!r}: the figures "
            f"overstate transfer (score a corpus without them for a fair figure)")
    now = corpus_sha256(name, data_dir)
    if recorded.get("sha256") and now and recorded["sha256"] != now:
        note += "; counted against the split on disk, of a newer import than the checkpoint's"
    return shared, note


def evaluate_spam(checkpoint: str | os.PathLike, corpus: str | None = None, part: str = "dev",
                  data_dir: str | os.PathLike | None = None,
                  threshold: str | float = "stored") -> Evaluation:
    """Score the spam checkpoint at ``checkpoint`` on ``part`` of ``corpus`` (default: the
    course corpus) at ``threshold``: ``stored`` (the checkpoint's), ``best`` (the best F1 on
    this part, an upper bound) or a number in [0, 1]."""
    from challenge.tasks.spam import course_corpus
    from challenge.tasks.spam_predict import load_spam_predictor

    if part not in PARTS:
        raise ChallengeError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
    mode, value = parse_threshold(threshold)
    path = Path(checkpoint)
    if not path.is_file():
        raise ChallengeError(f"checkpoint {path} does not exist; train one with "
                             f"`challenge train spam` (or give the path of a .pt file)")
    corpus = corpus or course_corpus(data_dir)
    messages = _messages(corpus, part, data_dir)
    predictor = load_spam_predictor(path)
    config = load_checkpoint(path)["config"]
    view = getattr(predictor.data, "view", "subject_body")
    labels = [m.label for m in messages]
    scores = predictor.predict_proba([m.text(view) for m in messages])
    best = choose_threshold(labels, scores, window=0)
    used = {"stored": predictor.threshold, "best": best}.get(mode, value)
    m = binary_metrics(labels, scores, used)
    recorded = trained_on(config)
    other = recorded.get("corpus") != corpus
    shared, shared_note = shared_with_training(messages, recorded, data_dir)
    notes = [n for n in (corpus_note(recorded, corpus, data_dir), shared_note) if n]
    if part == "all" and not other:
        notes.append("--part all includes the messages the checkpoint was trained on; use "
                     "dev or test for a fair figure")
    return Evaluation(checkpoint=str(path), corpus=corpus, part=part, messages=len(messages),
                      spam=sum(labels), f1=m.f1, precision=m.precision, recall=m.recall,
                      accuracy=m.accuracy, roc_auc=m.roc_auc, threshold=used,
                      trained_on=recorded, notes=notes, threshold_mode=mode,
                      stored_threshold=predictor.threshold,
                      stored_f1=binary_metrics(labels, scores, predictor.threshold).f1,
                      best_threshold=best, best_f1=binary_metrics(labels, scores, best).f1,
                      shared=shared, other_corpus=other)
