"""Scoring spam batches on several workers: the same scores as one worker, each worker on its
own model copy, a serial fallback for a model that cannot be copied, and the core budget read
from the affinity mask and OMP_NUM_THREADS."""

from __future__ import annotations

import copy
import random
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from challenge.impl import load_module
from challenge.tasks.spam_predict import SpamDataConfig, SpamPredictor
from challenge.training import usable_cores
from solutions.spam_model import SpamClassifier, SpamModelConfig
from solutions.tokenizer import Tokenizer

WORDS = [f"w{i}" for i in range(60)]


def _texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 120))) for _ in range(n)]


def _predictor(model: nn.Module | None = None, **kwargs) -> SpamPredictor:
    tok = Tokenizer.train_from_iterator([" ".join(WORDS)], min_frequency=1)
    torch.manual_seed(0)
    model = model or SpamClassifier(SpamModelConfig(vocab_size=len(tok), embed_dim=8,
                                                    hidden_size=8))
    # small batches, so that the 300 texts make many of them
    predictor = SpamPredictor(tok, model, load_module("solutions", "batching"),
                              SpamDataConfig(max_length=100), **kwargs)
    predictor.max_batch, predictor.max_tokens = 16, 800
    assert SpamPredictor.max_batch == 512                 # the class default stays
    return predictor


def test_two_workers_give_the_scores_of_one():
    texts = _texts()
    one, two = _predictor(workers=1), _predictor(workers=2)
    assert two.workers == 2
    serial = one.predict_proba(texts)
    assert np.array_equal(two.predict_proba(texts), serial)
    ids = one.encode(texts)
    assert np.array_equal(two.scores_of_ids(ids), serial)
    # and in input order: a reversed input gives reversed scores
    assert np.array_equal(two.predict_proba(texts[::-1]), serial[::-1])


class _Stateful(nn.Module):
    """A forward that keeps its batch on ``self`` between two steps, as a student might: two
    threads on one instance would mix their batches up."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, ids, lengths):
        assert torch.is_inference_mode_enabled()      # no autograd graph in the workers either
        self.ids, self.lengths = ids, lengths
        time.sleep(0.002)                      # let another thread run in between
        return self.inner(self.ids, self.lengths)


def test_each_worker_scores_with_its_own_model_copy():
    texts = _texts()
    reference = _predictor(workers=1).predict_proba(texts)
    inner = _predictor().model
    assert np.array_equal(_predictor(_Stateful(copy.deepcopy(inner)), workers=3)
                          .predict_proba(texts), reference)


class _NoCopy(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.callers: set[int] = set()

    def __deepcopy__(self, memo):
        raise TypeError("this model cannot be copied")

    def forward(self, ids, lengths):
        self.callers.add(threading.get_ident())
        return self.inner(ids, lengths)


def test_a_model_that_cannot_be_copied_is_scored_on_one_thread():
    texts = _texts()
    reference = _predictor(workers=1).predict_proba(texts)
    model = _NoCopy(copy.deepcopy(_predictor().model))
    assert np.array_equal(_predictor(model, workers=2).predict_proba(texts), reference)
    assert model.callers == {threading.get_ident()}


def test_a_workers_error_reaches_the_caller():
    class Broken(nn.Module):
        def forward(self, ids, lengths):
            raise NotImplementedError("SpamClassifier.forward")

    from challenge.errors import ChallengeError
    with pytest.raises(ChallengeError, match="SpamClassifier.forward"):
        _predictor(Broken(), workers=2).predict_proba(_texts(50))


def test_usable_cores_follows_the_affinity_mask_and_omp_num_threads(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert usable_cores() == 6 and usable_cores(4) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")    # the sandbox and the batch grader set it
    assert usable_cores(4) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert usable_cores(4) == 4
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _predictor().workers == 1
