"""Spam prediction from a checkpoint: how texts become token ids (:class:`SpamDataConfig`, from
:mod:`challenge.tasks.config`), loading the student's (or the reference) modules, and fast
batched scoring (:class:`SpamPredictor`), which training, the grader and the benchmark share.
"""

from __future__ import annotations

import copy
import functools
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from challenge.checkpoint import load_checkpoint, load_weights
from challenge.data.corpus import Message
from challenge.device import model_device
from challenge.errors import ChallengeError
from challenge.impl import build_model as build_student_model
from challenge.impl import require, unfinished
from challenge.tasks.config import PRECISIONS, SpamDataConfig  # noqa: F401  (defined there)
from challenge.training import torch_threads, usable_cores

_PARTS = ("tokenizer", "batching", "spam_model")


def check_precision(precision: str, where: str = "") -> None:
    """A ChallengeError (prefixed by ``where``) unless ``precision`` is one of PRECISIONS."""
    if precision not in PRECISIONS:
        raise ChallengeError(f"{where}unknown precision {precision!r}; use one of "
                             f"{', '.join(PRECISIONS)}")


@functools.lru_cache(maxsize=1)
def bfloat16_supported() -> bool:
    """Whether this CPU runs an LSTM under bfloat16 autocast. oneDNN's bfloat16 LSTM needs
    bfloat16 instructions (AVX512-BF16, AMX); without them it refuses to build the kernel
    ("could not create a primitive descriptor for the LSTM forward propagation primitive",
    seen on an AVX2-only AMD EPYC), so this runs one tiny LSTM step to find out."""
    try:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            nn.LSTM(2, 2)(torch.zeros(1, 1, 2))
    except RuntimeError:
        return False
    return True


# --- student modules ---------------------------------------------------------------------------

@dataclass
class _Modules:
    tokenizer: ModuleType
    batching: ModuleType
    spam_model: ModuleType


#: What scoring from a checkpoint uses of each student module, and what training adds.
_USES = {"tokenizer": ("Tokenizer.from_dict", "Tokenizer.encode", "Tokenizer.encode_batch"),
         "batching": ("pad_batch",), "spam_model": ("SpamClassifier", "SpamModelConfig")}
_TRAINING_USES = {"tokenizer": ("Tokenizer.train_from_iterator", "Tokenizer.to_dict",
                                "Tokenizer.get_vocab_size"),
                  "batching": ("BucketBatchSampler", "collate"), "spam_model": ()}


def student_modules(impl: str, training: bool = False) -> _Modules:
    """The tokenizer, batching and spam_model modules of ``impl``, checked for the names that
    scoring (and ``training``) uses (:func:`challenge.impl.require`)."""
    return _Modules(*(require(impl, name, *_USES[name], *(_TRAINING_USES[name] if training else ()))
                      for name in _PARTS))


def check_logits(logits: Any, batch: int, impl: str) -> torch.Tensor:
    """``logits`` when it is the (B,) float tensor SpamClassifier.forward must return; a
    ChallengeError saying what came back otherwise (the usual slip: (B, 1), not squeezed)."""
    if isinstance(logits, torch.Tensor) and logits.shape == (batch,) and logits.is_floating_point():
        return logits
    got = (f"a {logits.dtype} tensor of shape {tuple(logits.shape)}"
           if isinstance(logits, torch.Tensor) else f"a {type(logits).__name__}")
    hint = " (squeeze the last dimension)" if isinstance(logits, torch.Tensor) and \
        tuple(logits.shape) == (batch, 1) else ""
    raise ChallengeError(f"spam_model in {impl!r}: SpamClassifier.forward returned {got} for a "
                         f"batch of {batch} messages; it must return float logits of shape "
                         f"({batch},){hint}; `challenge check spam_model` checks the shapes")


def build_model(impl: str, model_config: dict) -> nn.Module:
    """A fresh ``SpamClassifier`` of ``impl`` from a plain config dict."""
    return build_student_model(impl, "spam_model", "SpamClassifier", "SpamModelConfig",
                               model_config, unfinished)


# --- prediction ----------------------------------------------------------------------------

class SpamPredictor:
    """Spam probabilities for raw texts from a tokenizer, a model and a threshold.

    Texts are cut to ``data.max_chars`` characters, encoded (with ``data.tail_length``, the
    end of a long text is encoded too: see :meth:`encode`), sorted by length and scored in
    batches of at most ``max_batch`` messages and ``max_tokens`` padded tokens (short messages
    share big batches, long ones smaller; little padding, no gradients), then put back in
    input order (:attr:`max_batch` and :attr:`max_tokens`, class defaults an instance may
    change). ``threads``: torch threads while scoring (1 is the fastest for this small
    model; None leaves torch's setting). ``workers``: batches scored at once, each by its own
    copy of the model in its own thread (torch releases the GIL inside its operators, so the
    batches run on separate cores; None: one per usable core, at most 4, where
    ``OMP_NUM_THREADS`` counts as the core budget, so the grader's sandbox, which sets it to 1,
    scores on one). The batches, and so the scores, do not depend on ``workers``.
    ``precision="bfloat16"`` scores under CPU autocast:
    faster where the CPU has bfloat16 instructions (AVX512-BF16, AMX), slower where it must
    emulate them, and probabilities off by up to a few hundredths; training with it chooses the
    threshold on bfloat16 scores too. Where the CPU cannot run the LSTM in bfloat16 at all
    (:func:`bfloat16_supported`), a bfloat16 checkpoint is scored in float32, so it can still be
    graded there.
    """

    max_batch: int = 512
    max_tokens: int = 32768

    def __init__(self, tokenizer: Any, model: nn.Module, batching: ModuleType,
                 data: SpamDataConfig, threshold: float = 0.5, impl: str = "solutions", *,
                 threads: int | None = 1, precision: str = "float32", workers: int | None = None):
        check_precision(precision)
        self.tokenizer, self.model, self.batching = tokenizer, model.eval(), batching
        self.precision = precision
        self.data, self.threshold, self.impl, self.threads = data, threshold, impl, threads
        self.workers = max(1, int(workers)) if workers is not None else usable_cores(4)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text: its first ``max_length`` tokens or, with ``tail_length``,
        its first ``max_length - tail_length`` and its last ``tail_length`` tokens (head + tail
        truncation: the end of a long message, footers and sign-offs, is kept too)."""
        d = self.data
        cut = [t[:d.max_chars] for t in texts]
        try:
            if not d.tail_length:
                return self.tokenizer.encode_batch(cut, max_length=d.max_length)
            seqs = self.tokenizer.encode_batch(cut)
            head = d.max_length - d.tail_length
            for i, ids in enumerate(seqs):
                cut_off = len(texts[i]) > len(cut[i])         # the end is not in `ids`
                if len(ids) <= d.max_length and not cut_off:
                    continue
                tail = (self.tokenizer.encode(texts[i][-d.tail_length * d.chars_per_token:])
                        if cut_off else ids)
                seqs[i] = ids[:head] + tail[-d.tail_length:]
            return seqs
        except NotImplementedError as e:
            raise unfinished(self.impl, e) from None

    def scores_of_ids(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """Spam probabilities (N,) float64 for already encoded messages."""
        out = np.zeros(len(seqs), dtype=np.float64)
        # by length, ties by the ids themselves: the batches, so the scores to the last bit
        # (a batch's shape can change a kernel's rounding), do not depend on the input order
        order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), list(seqs[i])))
        batches = list(self._batches(order, seqs))
        # One model per worker: a student's forward may keep state on `self`, so two threads
        # never share one. A model that cannot be copied is scored one batch at a time.
        device = model_device(self.model)
        # On a GPU one stream of batches keeps it busy; worker threads are for CPU cores.
        workers = min(self.workers if device.type == "cpu" else 1, len(batches))
        try:
            copies = [copy.deepcopy(self.model) for _ in range(workers - 1)]
        except Exception:                                # noqa: BLE001 (any refusal: go serial)
            copies, workers = [], 1
        models: queue.SimpleQueue = queue.SimpleQueue()
        for model in (self.model, *copies):
            models.put(model)
        low = self.precision == "bfloat16" and device.type == "cpu" and bfloat16_supported()
        pad = self.tokenizer.pad_id

        def score(rows: list[int]) -> None:
            model = models.get()
            try:      # inference mode and autocast hold per thread: entered by each worker
                with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                            enabled=low):
                    ids, lengths = self.batching.pad_batch([list(seqs[i]) for i in rows],
                                                           pad_id=pad,
                                                           max_length=self.data.max_length)
                    logits = check_logits(model(ids.to(device), lengths.to(device)), len(rows),
                                          self.impl)
                    out[rows] = torch.sigmoid(logits.float()).double().cpu().numpy()
            finally:
                models.put(model)

        try:
            with torch_threads(self.threads):
                if workers <= 1:
                    for rows in batches:
                        score(rows)
                else:
                    with ThreadPoolExecutor(workers) as pool:
                        for done in [pool.submit(score, rows) for rows in batches]:
                            done.result()                # a worker's error is raised here
        except NotImplementedError as e:
            raise unfinished(self.impl, e) from None
        return out

    def _batches(self, order: list[int], seqs: Sequence[Sequence[int]]) -> Iterable[list[int]]:
        rows: list[int] = []
        for i in order:                                  # ascending length: the last is longest
            width = min(max(len(seqs[i]), 1), self.data.max_length)
            if rows and (len(rows) >= self.max_batch or (len(rows) + 1) * width > self.max_tokens):
                yield rows
                rows = []
            rows.append(i)
        if rows:
            yield rows

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Spam probabilities (N,) float64 of ``texts``, in their order."""
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float64)
        return self.scores_of_ids(self.encode(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """0/1 labels at the checkpoint's dev-chosen threshold."""
        return (self.predict_proba(texts) >= self.threshold).astype(np.int64)


def load_spam_predictor(checkpoint: str | os.PathLike, impl: str | None = None) -> SpamPredictor:
    """A :class:`SpamPredictor` from a spam checkpoint; ``impl`` defaults to the one that
    trained it."""
    ckpt = load_checkpoint(checkpoint)
    config = ckpt["config"]
    if not isinstance(config, dict) or config.get("task") != "spam":
        raise ChallengeError(f"checkpoint {checkpoint} is not a spam checkpoint (task "
                             f"{config.get('task') if isinstance(config, dict) else None!r}); "
                             f"train one with `challenge train spam`")
    impl = impl or config.get("impl", "solutions")
    mods = student_modules(impl)
    try:
        tokenizer = mods.tokenizer.Tokenizer.from_dict(ckpt["tokenizer"])
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except (TypeError, ValueError, KeyError) as e:
        raise ChallengeError(f"checkpoint {checkpoint}: its tokenizer cannot be rebuilt ({e}); "
                             f"retrain with `challenge train spam`") from None
    model = build_model(impl, config["model"])
    load_weights(model, ckpt, checkpoint, "spam")
    known = set(SpamDataConfig.__dataclass_fields__)
    data = SpamDataConfig(**{k: v for k, v in config.get("data", {}).items() if k in known})
    threshold = float(ckpt.get("threshold", 0.5))
    precision = config.get("precision", "float32")
    check_precision(precision, f"checkpoint {checkpoint}: ")
    return SpamPredictor(tokenizer, model, mods.batching, data, threshold, impl,
                         precision=precision)


def predict_messages(checkpoint: str | os.PathLike, messages: Iterable[dict | Message],
                     impl: str | None = None) -> tuple[torch.Tensor, float]:
    """What the grader asks of a submission: scores (N,) float tensor and the threshold.

    ``messages`` are :class:`Message` objects or dicts with ``subject``, ``body`` and
    optionally ``headers``; the text view is the one the checkpoint was trained on.
    """
    predictor = load_spam_predictor(checkpoint, impl)
    texts = []
    for m in messages:
        if isinstance(m, dict):
            m = Message(id=str(m.get("id", "")), group="", label=0,
                        subject=str(m.get("subject", "")),
                        body=str(m.get("body", "")), headers=str(m.get("headers", "")))
        texts.append(m.text(predictor.data.view))
    scores = torch.from_numpy(predictor.predict_proba(texts)).float()
    return scores, float(predictor.threshold)
