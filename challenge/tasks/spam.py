"""The spam task assembled: tokenizer, batches, model (from any implementation), the generic
Trainer, the decision threshold chosen on dev, and the checkpoint. Prediction from a
checkpoint (and the data config it shares with training) is :mod:`challenge.tasks.spam_predict`.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from challenge.adversarial import adversarial_loss
from challenge.checkpoint import save_checkpoint
from challenge.data.corpus import VIEWS, load_split, splits_dir
from challenge.device import describe, resolve_device
from challenge.embeddings import find_embedding, init_from_cooccurrence
from challenge.errors import ChallengeError
from challenge.impl import default_impl, student_failure
from challenge.metrics import binary_metrics, choose_threshold
from challenge.paths import runs_dir
from challenge.tasks.spam_predict import (SpamDataConfig, SpamPredictor, bfloat16_supported,
                                          build_model, check_logits, check_precision,
                                          student_modules, unfinished)
from challenge.training import (HeapTrim, ProgressCallback, TrainConfig, Trainer,
                                seed_everything, torch_threads)

SCHEMES = ("random", "temporal")
SELECT_METRICS = ("f1", "roc_auc", "loss")


@dataclass
class SpamRun:
    """What :func:`train_spam` returns: the checkpoint and the dev figures it was chosen on."""

    path: str
    impl: str
    scheme: str
    metrics: dict[str, float]
    threshold: float
    steps: int
    epochs: float
    seconds: float
    stopped: str
    history: list[dict[str, float]] = field(default_factory=list)
    corpus: str = "spam"
    device: str = "cpu"       # where it trained

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        m = self.metrics
        split = self.scheme if self.corpus == "spam" else f"{self.corpus} {self.scheme}"
        return (f"spam ({self.impl}, {split} split): {self.steps} steps, "
                f"{self.epochs:.1f} epochs in {self.seconds:.0f}s on {self.device} (stopped: "
                f"{self.stopped}); "
                f"dev F1 {m['f1']:.4f}, precision {m['precision']:.4f}, recall {m['recall']:.4f}, "
                f"accuracy {m['accuracy']:.4f}, ROC-AUC {m['roc_auc']:.4f} at threshold "
                f"{self.threshold:.3f}; saved {self.path}")


# --- data ----------------------------------------------------------------------------------

#: Minutes `challenge train spam` trains for at most unless told otherwise: the reference's
#: 8 epochs took 162-296 s on 2-core machines (docs/experiments.md), so a busy laptop still
#: gets a good model, and never an hour-long run by surprise.
STUDENT_MINUTES = 10.0

def course_corpus(data_dir: str | os.PathLike | None = None) -> str:
    """The corpus spam is trained and graded on when none is named: the course's ``[hidden]
    spam_corpus`` (the course file that `challenge hidden make` writes and `challenge release`
    ships, else the default rubric's: ``"spam"``)."""
    from challenge.rubric import load_rubric

    return load_rubric(data_dir=data_dir).hidden.spam_corpus


def split_info(corpus: str = "spam", data_dir: str | os.PathLike | None = None) -> dict:
    """``split.json`` of the split on disk; a ChallengeError saying how to make one if absent."""
    path = splits_dir(corpus, data_dir) / "split.json"
    if not path.is_file():
        fetch = ("challenge data fetch spam" if corpus == "spam"
                 else f"challenge data import {corpus} ...")
        raise ChallengeError(f"no split of corpus {corpus!r} at {path.parent}; run `{fetch}` and "
                             f"`challenge data split {corpus} --seed 0` first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ChallengeError(f"{path} is not valid JSON ({e}); make the split again with "
                             f"`challenge data split {corpus} --seed 0`") from None


def check_scheme(scheme: str | None, corpus: str = "spam",
                 data_dir: str | os.PathLike | None = None) -> str:
    """The scheme of the split on disk; ``scheme``, when given, must match it."""
    if scheme is not None and scheme not in SCHEMES:
        raise ChallengeError(f"unknown split scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    on_disk = str(split_info(corpus, data_dir).get("scheme", "random"))
    if scheme is not None and scheme != on_disk:
        raise ChallengeError(f"the split of {corpus!r} on disk is {on_disk!r}, not {scheme!r}; run "
                             f"`challenge data split {corpus} --scheme {scheme} --seed 0` first "
                             f"(or drop --scheme)")
    return on_disk


def load_texts(corpus: str, part: str, view: str = "subject_body",
               data_dir: str | os.PathLike | None = None) -> tuple[list[str], list[int]]:
    """Texts (in ``view``) and 0/1 labels of one split part."""
    if view not in VIEWS:
        raise ChallengeError(f"unknown text view {view!r}; use one of {', '.join(VIEWS)}")
    split_info(corpus, data_dir)
    messages = load_split(corpus, part, data_dir)
    if not messages:
        raise ChallengeError(f"split part {part!r} of {corpus!r} is empty; make the split again")
    return [m.text(view) for m in messages], [int(m.label) for m in messages]


class _EpochBatches:
    """A DataLoader over a BucketBatchSampler that moves the sampler to the next epoch."""

    def __init__(self, loader: torch.utils.data.DataLoader, sampler: Any):
        self.loader, self.sampler, self.epoch = loader, sampler, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        return iter(self.loader)


# --- training --------------------------------------------------------------------------------

def default_path(impl: str, scheme: str, corpus: str = "spam") -> Path:
    """``runs/spam/<impl>-<scheme>.pt`` for the built-in corpus, ``<impl>-<scheme>-<corpus>.pt``
    for an imported one (a folder implementation is named by its folder)."""
    name = impl if impl in ("solutions", "challenge") else Path(impl).name or "impl"
    return runs_dir() / "spam" / f"{name}-{scheme}{'' if corpus == 'spam' else '-' + corpus}.pt"


def _dev_metrics(predictor: SpamPredictor, dev_ids: list[list[int]], dev_labels: list[int]
                 ) -> dict[str, float]:
    scores = predictor.scores_of_ids(dev_ids)
    threshold = choose_threshold(dev_labels, scores)
    m = binary_metrics(dev_labels, scores, threshold)
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    y = np.asarray(dev_labels, dtype=np.float64)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return {"f1": m.f1, "precision": m.precision, "recall": m.recall, "accuracy": m.accuracy,
            "roc_auc": m.roc_auc, "loss": loss, "threshold": threshold}


def _check_args(epochs: int, minutes: float | None, select: str, data: SpamDataConfig) -> None:
    if not isinstance(epochs, int) or epochs < 1:
        raise ChallengeError(f"--epochs must be a positive integer, got {epochs!r}")
    if minutes is not None and not (minutes > 0 and math.isfinite(minutes)):
        raise ChallengeError(f"--minutes must be a positive number, got {minutes!r}")
    if select not in SELECT_METRICS:
        raise ChallengeError(f"unknown selection metric {select!r}; use one of "
                             f"{', '.join(SELECT_METRICS)}")
    if data.view not in VIEWS:
        raise ChallengeError(f"unknown text view {data.view!r}; use one of {', '.join(VIEWS)}")
    if data.max_length < 1 or data.batch_size < 1 or data.vocab_size < 5:
        raise ChallengeError("max_length and batch_size must be >= 1 and vocab_size >= 5; got "
                             f"{data.max_length}, {data.batch_size}, {data.vocab_size}")
    if not 0 <= data.tail_length < data.max_length:
        raise ChallengeError(f"tail_length must be >= 0 and below max_length ({data.max_length}), "
                             f"got {data.tail_length}")
    if not 0.0 <= data.token_dropout < 1.0:
        raise ChallengeError(f"token_dropout must be in [0, 1), got {data.token_dropout}")


#: How train_spam may start the embedding (see :mod:`challenge.embeddings`).
EMBEDDING_INITS = ("cooccurrence", "random")

#: The reference settings (see README: the benchmark figures they reach).
DEFAULT_MODEL = {"embed_dim": 64, "hidden_size": 32, "num_layers": 1, "bidirectional": True,
                 "dropout": 0.2, "pooling": "attention"}


def train_spam(impl: str | None = None, scheme: str | None = None, seed: int = 0,
               epochs: int = 10, out: str | os.PathLike | None = None,
               data_dir: str | os.PathLike | None = None, *, corpus: str | None = None,
               minutes: float | None = None, max_steps: int | None = None,
               data: SpamDataConfig | None = None, model: dict | None = None, lr: float = 3e-3,
               weight_decay: float = 0.1, warmup_steps: int = 50, patience: int | None = 3,
               select: str = "roc_auc", ema_decay: float | None = None, threads: int | None = 1,
               precision: str = "float32", embedding_init: str = "cooccurrence",
               adversarial: float = 3.0, device: str | None = "auto",
               progress: bool = True) -> SpamRun:
    """Train a spam classifier of ``impl`` on the split on disk and save its checkpoint.

    The tokenizer is learnt from the training texts, batches come from the impl's
    ``BucketBatchSampler`` and ``collate``, the generic Trainer (AdamW, clipping, warmup +
    cosine) keeps the weights best on dev ``select`` (ROC-AUC by default, ties going to the
    lower dev loss: a small dev set, such as the temporal split's 61 spam, gives F1 many ties
    and little to choose on) and stops after ``patience`` epochs without improvement,
    ``epochs`` or ``minutes``. The threshold that maximises dev F1 is
    stored in the checkpoint (:func:`default_path` unless ``out``). ``corpus``: the split of
    which corpus to train on (default :func:`course_corpus`). ``impl``: whose modules (default
    :func:`challenge.impl.default_impl`). ``threads``:
    torch threads for training (1, the fastest for this model: see
    :func:`challenge.training.torch_threads`; None leaves torch's setting). ``precision``: how
    the checkpoint scores messages, on dev here and wherever it is loaded (see
    :class:`SpamPredictor`); training itself stays in float32. ``embedding_init``:
    "cooccurrence" starts the embedding from word vectors of the training messages (see
    :mod:`challenge.embeddings`; a model without one embedding of the vocabulary's size keeps
    its own init), "random" keeps the model's init. ``adversarial``: each step also fits the
    batch with every message's embedded tokens pushed this far (L2 norm over the message) in
    the direction that raises its loss (:mod:`challenge.adversarial`; doubles a step's work;
    0 turns it off; a model without one embedding of the vocabulary's size trains without it).
    ``device``: where to train and score dev (:mod:`challenge.device`; "auto" is CUDA when
    present); the checkpoint is saved from the CPU and records it.
    """
    data = data or SpamDataConfig()
    _check_args(epochs, minutes, select, data)
    if embedding_init not in EMBEDDING_INITS:
        raise ChallengeError(f"unknown embedding_init {embedding_init!r}; use one of "
                             f"{', '.join(EMBEDDING_INITS)}")
    if not (isinstance(adversarial, (int, float)) and 0 <= adversarial < math.inf):
        raise ChallengeError(f"adversarial must be a number >= 0 (0: off), got {adversarial!r}")
    check_precision(precision)
    where = resolve_device(device)
    if precision == "bfloat16" and where.type == "cpu" and not bfloat16_supported():
        raise ChallengeError("this CPU cannot run the LSTM in bfloat16 (it lacks bfloat16 "
                             "instructions); use --precision float32")
    corpus = corpus or course_corpus()
    impl = impl or default_impl()
    scheme = check_scheme(scheme, corpus, data_dir)
    train_texts, train_labels = load_texts(corpus, "train", data.view, data_dir)
    dev_texts, dev_labels = load_texts(corpus, "dev", data.view, data_dir)
    if len(set(train_labels)) < 2:
        raise ChallengeError(f"the train split of {corpus!r} holds only one class; a classifier "
                             f"needs ham and spam (check the corpus or the split)")
    path = Path(out) if out is not None else default_path(impl, scheme, corpus)
    model_config = {**DEFAULT_MODEL, **(model or {})}
    start = time.monotonic()
    seed_everything(seed)
    mods = student_modules(impl, training=True)
    try:
        tokenizer = mods.tokenizer.Tokenizer.train_from_iterator(
            (t[:data.max_chars] for t in train_texts), vocab_size=data.vocab_size,
            min_frequency=data.min_frequency, lowercase=data.lowercase)
        model_config.update(vocab_size=tokenizer.get_vocab_size(), pad_id=tokenizer.pad_id)
        net = build_model(impl, model_config)
        predictor = SpamPredictor(tokenizer, net, mods.batching, data, impl=impl, threads=threads,
                                  precision=precision)
        train_ids, dev_ids = predictor.encode(train_texts), predictor.encode(dev_texts)
        if embedding_init == "cooccurrence" and not init_from_cooccurrence(
                net, train_ids, tokenizer.get_vocab_size(), pad_id=tokenizer.pad_id, seed=seed):
            embedding_init = "random"   # no single embedding of the vocabulary's size to start
        embedding = find_embedding(net, tokenizer.get_vocab_size())
        if embedding is None:
            adversarial = 0.0           # nothing to push: recorded as trained without it
        sampler = mods.batching.BucketBatchSampler([len(s) for s in train_ids], data.batch_size,
                                                   shuffle=True, seed=seed)
        collate = functools.partial(mods.batching.collate, pad_id=tokenizer.pad_id,
                                    max_length=data.max_length)
        loader = torch.utils.data.DataLoader(list(zip(train_ids, train_labels)),
                                             batch_sampler=sampler, collate_fn=collate)
        train_config = TrainConfig(epochs=epochs, max_steps=max_steps,
                                   max_seconds=minutes * 60 if minutes else None, lr=lr,
                                   weight_decay=weight_decay, grad_clip=1.0,
                                   warmup_steps=warmup_steps, patience=patience, metric=select,
                                   mode="min" if select == "loss" else "max",
                                   tiebreak=None if select == "loss" else "loss",
                                   ema_decay=ema_decay, seed=seed, device=str(where))
        callbacks = [HeapTrim()] + ([ProgressCallback(desc=f"spam {impl}")] if progress else [])
        loss_fn = functools.partial(_loss, drop=data.token_dropout, unk_id=tokenizer.unk_id,
                                    pad_id=tokenizer.pad_id, impl=impl,
                                    generator=torch.Generator().manual_seed(seed),
                                    adversarial=adversarial, embedding=embedding)
        trainer = Trainer(net, train_config, callbacks=callbacks, loss_fn=loss_fn,
                          evaluate=lambda m: _dev_metrics(predictor, dev_ids, dev_labels))
        with torch_threads(threads):
            result = trainer.fit(_EpochBatches(loader, sampler))
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except Exception as e:
        failure = student_failure(impl, e, "training the spam model")
        if failure is None:
            raise
        raise failure from None
    metrics = {k: float(v) for k, v in result.best_metrics.items() if k != "threshold"}
    threshold = float(result.best_metrics.get("threshold", 0.5))
    net.to("cpu")        # a checkpoint loads anywhere
    from challenge.data.lineage import corpus_sha256   # training only: the grader's child never needs it

    config = {"task": "spam", "impl": impl, "corpus": corpus, "scheme": scheme,
              "corpus_sha256": corpus_sha256(corpus, data_dir),
              "model": model_config, "data": data.to_dict(), "precision": precision,
              "train": {**train_config.to_dict(), "batch_size": data.batch_size,
                        "embedding_init": embedding_init, "adversarial": float(adversarial),
                        "device_name": describe(where)},
              "split": {k: v for k, v in split_info(corpus, data_dir).items()
                        if k in ("seed", "scheme", "sha256", "counts", "corpus_sha256")}}
    save_checkpoint(path, state_dict=net.state_dict(), config=config, tokenizer=tokenizer.to_dict(),
                    metrics=metrics, threshold=threshold)
    return SpamRun(path=str(path), impl=impl, scheme=scheme, metrics=metrics, threshold=threshold,
                   steps=result.steps, epochs=result.epochs, seconds=time.monotonic() - start,
                   stopped=result.stopped, history=result.history, corpus=corpus,
                   device=describe(where))


def _loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], *,
          drop: float = 0.0, unk_id: int = 1, pad_id: int = 0,
          generator: torch.Generator | None = None, impl: str = "solutions",
          adversarial: float = 0.0, embedding: nn.Embedding | None = None) -> torch.Tensor:
    """Binary cross-entropy on one batch; with ``drop``, that share of the real tokens is
    replaced by <unk> first (word dropout: the model cannot lean on any single rare word);
    with ``adversarial`` > 0 and the model's ``embedding``, the clean plus adversarial loss of
    :func:`challenge.adversarial.adversarial_loss` (the clean part already back-propagated)."""
    ids, lengths, labels = batch                                   # (B, T), (B,), (B,)
    if drop > 0:
        # drawn on the CPU generator whatever the device: the same tokens drop on CPU and GPU
        hit = (torch.rand(ids.shape, generator=generator) < drop).to(ids.device)  # (B, T)
        ids = ids.masked_fill(hit & (ids != pad_id), unk_id)       # (B, T)

    def bce() -> torch.Tensor:
        logits = check_logits(model(ids, lengths), len(labels), impl)   # (B,)
        return nn.functional.binary_cross_entropy_with_logits(logits, labels)

    if adversarial > 0 and embedding is not None:
        return adversarial_loss(embedding, bce, adversarial, tuple(ids.shape))
    return bce()
