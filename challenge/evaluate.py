"""``challenge evaluate CHECKPOINT --corpus NAME --part dev|test|all``: a spam checkpoint scored
on any part of any corpus, at the threshold stored in the checkpoint. This is how an
instructor measures cross-corpus transfer (train on SpamAssassin, score on their own mail):
``--part all`` needs only the imported corpus, no split.

``test`` is the hidden test part: it exists only where the split or ``challenge hidden make``
ran (the instructor's machine), never in a student's bundle.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge.checkpoint import load_checkpoint
from challenge.data.corpus import load_corpus, load_split, split_path
from challenge.data.lineage import corpus_sha256
from challenge.errors import ChallengeError
from challenge.metrics import binary_metrics

PARTS = ("dev", "test", "all")


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
    threshold: float
    trained_on: dict = field(default_factory=dict)   # corpus name and sha256, as recorded
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.checkpoint} on {self.corpus} {self.part} ({self.messages:,} messages, "
                 f"{self.spam:,} spam): F1 {self.f1:.4f}  precision {self.precision:.4f}  "
                 f"recall {self.recall:.4f}  accuracy {self.accuracy:.4f}  ROC-AUC "
                 f"{self.roc_auc:.4f}  threshold {self.threshold:.4f}"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


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


def evaluate_spam(checkpoint: str | os.PathLike, corpus: str | None = None, part: str = "dev",
                  data_dir: str | os.PathLike | None = None) -> Evaluation:
    """Score the spam checkpoint at ``checkpoint`` on ``part`` of ``corpus`` (default: the
    course corpus)."""
    from challenge.tasks.spam import course_corpus
    from challenge.tasks.spam_predict import load_spam_predictor

    if part not in PARTS:
        raise ChallengeError(f"unknown part {part!r}; use one of {', '.join(PARTS)}")
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
    m = binary_metrics(labels, scores, predictor.threshold)
    recorded = trained_on(config)
    notes = [n for n in (corpus_note(recorded, corpus, data_dir),) if n]
    if part == "all" and recorded.get("corpus") == corpus:
        notes.append("--part all includes the messages the checkpoint was trained on; use "
                     "dev or test for a fair figure")
    return Evaluation(checkpoint=str(path), corpus=corpus, part=part, messages=len(messages),
                      spam=sum(labels), f1=m.f1, precision=m.precision, recall=m.recall,
                      accuracy=m.accuracy, roc_auc=m.roc_auc, threshold=predictor.threshold,
                      trained_on=recorded, notes=notes)
