"""The spam task assembled: tokenizer, batches, model (from any implementation), the generic
Trainer, the decision threshold chosen on dev, and the checkpoint. Prediction from a
checkpoint (and the data config it shares with training) is :mod:`challenge.tasks.spam_predict`.
"""

from __future__ import annotations

import functools
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, Sequence

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
from challenge.tasks.config import (  # noqa: F401
    EMBEDDING_INITS,
    SCHEMES,
    SELECT_METRICS,
    STUDENT_MINUTES,
    SpamLoop,
    SpamTraining,
)
from challenge.tasks.spam_predict import (
    SpamDataConfig,
    SpamPredictor,
    bfloat16_supported,
    build_model,
    check_logits,
    student_modules,
    unfinished,
)
from challenge.training import (
    Callback,
    HeapTrim,
    ProgressCallback,
    TrainConfig,
    Trainer,
    TrainResult,
    seed_everything,
    torch_threads,
)


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


def _train_config(loop: SpamLoop, seed: int, where: torch.device) -> TrainConfig:
    """The generic loop's settings for one spam run (selection on dev ``loop.select``, ties
    going to the lower dev loss)."""
    return TrainConfig(epochs=loop.epochs, max_steps=loop.max_steps,
                       max_seconds=loop.minutes * 60 if loop.minutes else None, lr=loop.lr,
                       weight_decay=loop.weight_decay, grad_clip=1.0,
                       warmup_steps=loop.warmup_steps, patience=loop.patience, metric=loop.select,
                       mode="min" if loop.select == "loss" else "max",
                       tiebreak=None if loop.select == "loss" else "loss",
                       ema_decay=loop.ema_decay, seed=seed, device=str(where))


class _Fitted(NamedTuple):
    net: nn.Module
    tokenizer: Any
    model_config: dict
    result: TrainResult
    train_config: TrainConfig
    embedding_init: str       # what was used: "random" where cooccurrence found no embedding
    adversarial: float        # 0 where the model has no embedding to push


def _loader(batching: Any, ids: list[list[int]], labels: list[int], data: SpamDataConfig,
            pad_id: int, seed: int) -> _EpochBatches:
    sampler = batching.BucketBatchSampler([len(s) for s in ids], data.batch_size, shuffle=True,
                                          seed=seed)
    collate = functools.partial(batching.collate, pad_id=pad_id, max_length=data.max_length)
    loader = torch.utils.data.DataLoader(list(zip(ids, labels)), batch_sampler=sampler,
                                         collate_fn=collate)
    return _EpochBatches(loader, sampler)


def _fit(config: SpamTraining, texts: dict[str, tuple[list[str], list[int]]],
         where: torch.device, callbacks: list) -> _Fitted:
    """Tokenizer, model, batches and the Trainer of one resolved ``config``, fitted."""
    data, loop, seed, impl = config.data, config.loop, config.seed, str(config.impl)
    (train_texts, train_labels), (dev_texts, dev_labels) = texts["train"], texts["dev"]
    mods = student_modules(impl, training=True)
    tokenizer = mods.tokenizer.Tokenizer.train_from_iterator(
        (t[:data.max_chars] for t in train_texts), vocab_size=data.vocab_size,
        min_frequency=data.min_frequency, lowercase=data.lowercase)
    vocab = tokenizer.get_vocab_size()
    model_config = {**config.model.to_dict(), "vocab_size": vocab, "pad_id": tokenizer.pad_id}
    net = build_model(impl, model_config)
    predictor = SpamPredictor(tokenizer, net, mods.batching, data, impl=impl,
                              threads=loop.threads, precision=config.precision)
    train_ids, dev_ids = predictor.encode(train_texts), predictor.encode(dev_texts)
    embedding_init = config.embedding_init
    if embedding_init == "cooccurrence" and not init_from_cooccurrence(
            net, train_ids, vocab, pad_id=tokenizer.pad_id, seed=seed):
        embedding_init = "random"   # no single embedding of the vocabulary's size to start
    embedding = find_embedding(net, vocab)
    adversarial = float(config.adversarial) if embedding is not None else 0.0
    batches = _loader(mods.batching, train_ids, train_labels, data, tokenizer.pad_id, seed)
    train_config = _train_config(loop, seed, where)
    loss_fn = _SpamLoss(impl, drop=data.token_dropout, unk_id=tokenizer.unk_id,
                        pad_id=tokenizer.pad_id, generator=torch.Generator().manual_seed(seed),
                        adversarial=adversarial, embedding=embedding)
    trainer = Trainer(net, train_config, callbacks=callbacks, loss_fn=loss_fn,
                      evaluate=lambda m: _dev_metrics(predictor, dev_ids, dev_labels))
    with torch_threads(loop.threads):
        result = trainer.fit(batches)
    return _Fitted(net, tokenizer, model_config, result, train_config, embedding_init,
                   adversarial)


def _resolve(config: SpamTraining | None, data_dir: str | os.PathLike | None,
             where: torch.device) -> SpamTraining:
    """``config`` with its impl, corpus and scheme filled in, checked against this machine."""
    config = SpamTraining() if config is None else config
    if not isinstance(config, SpamTraining):
        raise ChallengeError(f"train_spam takes a SpamTraining, got {type(config).__name__}; "
                             f"build one with challenge.tasks.config.override(SpamTraining(), "
                             f"epochs=..., ...)")
    if config.precision == "bfloat16" and where.type == "cpu" and not bfloat16_supported():
        raise ChallengeError("this CPU cannot run the LSTM in bfloat16 (it lacks bfloat16 "
                             "instructions); use --precision float32")
    corpus = config.corpus or course_corpus(data_dir)
    return replace(config, impl=config.impl or default_impl(), corpus=corpus,
                   scheme=check_scheme(config.scheme, corpus, data_dir))


def train_spam(config: SpamTraining | None = None, *, out: str | os.PathLike | None = None,
               data_dir: str | os.PathLike | None = None, device: str | None = "auto",
               progress: bool = True, callbacks: Sequence[Callback] = ()) -> SpamRun:
    """Train the spam classifier that ``config`` describes on the split on disk, save its
    checkpoint and return the run.

    The tokenizer is learnt from the training texts, batches come from the impl's
    ``BucketBatchSampler`` and ``collate``, the generic Trainer (AdamW, clipping, warmup +
    cosine) keeps the weights best on dev ``config.loop.select`` (ROC-AUC by default, ties
    going to the lower dev loss: a small dev set, such as the temporal split's 61 spam, gives
    F1 many ties and little to choose on) and stops after ``patience`` epochs without
    improvement, ``epochs`` or ``minutes``. The threshold that maximises dev F1 is stored in
    the checkpoint (``out``, default :func:`default_path`). ``precision``: how the checkpoint
    scores messages, on dev here and wherever it is loaded (:class:`SpamPredictor`); training
    stays in float32. ``embedding_init`` "cooccurrence" starts the embedding from word vectors
    of the training messages (:mod:`challenge.embeddings`), and ``adversarial`` also fits each
    batch with its embedded tokens pushed that far the way that raises its loss
    (:mod:`challenge.adversarial`); a model without one embedding of the vocabulary's size
    keeps its own init and trains without it. ``data_dir``: the data folder; ``device``: where
    to train and score dev (:mod:`challenge.device`; "auto" is CUDA when present; the
    checkpoint is saved from the CPU and records it); ``callbacks``: more Trainer callbacks,
    after the progress bar (``progress``).
    """
    where = resolve_device(device)
    config = _resolve(config, data_dir, where)
    corpus, impl, scheme = str(config.corpus), str(config.impl), str(config.scheme)
    texts = {part: load_texts(corpus, part, config.data.view, data_dir) for part in ("train", "dev")}
    if len(set(texts["train"][1])) < 2:
        raise ChallengeError(f"the train split of {corpus!r} holds only one class; a classifier "
                             f"needs ham and spam (check the corpus or the split)")
    path = Path(out) if out is not None else default_path(impl, scheme, corpus)
    start = time.monotonic()
    seed_everything(config.seed)
    hooks = [HeapTrim(), *([ProgressCallback(desc=f"spam {impl}")] if progress else []),
             *callbacks]
    try:
        fitted = _fit(config, texts, where, hooks)
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except Exception as e:
        failure = student_failure(impl, e, "training the spam model")
        if failure is None:
            raise
        raise failure from None
    result = fitted.result
    metrics = {k: float(v) for k, v in result.best_metrics.items() if k != "threshold"}
    threshold = float(result.best_metrics.get("threshold", 0.5))
    _save(path, config, fitted, metrics, threshold, data_dir, where)
    return SpamRun(path=str(path), impl=impl, scheme=scheme, metrics=metrics, threshold=threshold,
                   steps=result.steps, epochs=result.epochs, seconds=time.monotonic() - start,
                   stopped=result.stopped, history=result.history, corpus=corpus,
                   device=describe(where))


def _save(path: Path, config: SpamTraining, fitted: _Fitted, metrics: dict[str, float],
          threshold: float, data_dir: str | os.PathLike | None, where: torch.device) -> None:
    """The checkpoint of a fitted run; its ``config`` dict is what loaders and the grade read."""
    from challenge.data.lineage import (
        corpus_sha256,  # training only: the grader's child never needs it
    )

    fitted.net.to("cpu")        # a checkpoint loads anywhere
    corpus, data = str(config.corpus), config.data
    saved = {"task": "spam", "impl": config.impl, "corpus": corpus, "scheme": config.scheme,
             "corpus_sha256": corpus_sha256(corpus, data_dir),
             "model": fitted.model_config, "data": data.to_dict(), "precision": config.precision,
             "train": {**fitted.train_config.to_dict(), "batch_size": data.batch_size,
                       "embedding_init": fitted.embedding_init,
                       "adversarial": float(fitted.adversarial), "device_name": describe(where)},
             "split": {k: v for k, v in split_info(corpus, data_dir).items()
                       if k in ("seed", "scheme", "sha256", "counts", "corpus_sha256")}}
    save_checkpoint(path, state_dict=fitted.net.state_dict(), config=saved,
                    tokenizer=fitted.tokenizer.to_dict(), metrics=metrics, threshold=threshold)


@dataclass(frozen=True, eq=False)
class _SpamLoss:
    """Binary cross-entropy on one batch; with ``drop``, that share of the real tokens is
    replaced by <unk> first (word dropout: the model cannot lean on any single rare word);
    with ``adversarial`` > 0 and the model's ``embedding``, the clean plus adversarial loss of
    :func:`challenge.adversarial.adversarial_loss` (the clean part already back-propagated)."""

    impl: str = "solutions"
    drop: float = 0.0
    unk_id: int = 1
    pad_id: int = 0
    generator: torch.Generator | None = None
    adversarial: float = 0.0
    embedding: nn.Embedding | None = None

    def __call__(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
                 ) -> torch.Tensor:
        ids, lengths, labels = batch                                   # (B, T), (B,), (B,)
        if self.drop > 0:
            # drawn on the CPU generator whatever the device: the same tokens drop on CPU and GPU
            hit = (torch.rand(ids.shape, generator=self.generator) < self.drop).to(ids.device)
            ids = ids.masked_fill(hit & (ids != self.pad_id), self.unk_id)    # (B, T)

        def bce() -> torch.Tensor:
            logits = check_logits(model(ids, lengths), len(labels), self.impl)   # (B,)
            return nn.functional.binary_cross_entropy_with_logits(logits, labels)

        if self.adversarial > 0 and self.embedding is not None:
            return adversarial_loss(self.embedding, bce, self.adversarial, tuple(ids.shape))
        return bce()
