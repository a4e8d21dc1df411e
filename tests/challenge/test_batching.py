"""The reference batching: padding, truncation, collate, and the length-bucketing sampler."""

from __future__ import annotations

import functools
import random
from collections import Counter

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from solutions.batching import BucketBatchSampler, collate, pad_batch


def test_pad_batch_pads_right_to_the_longest():
    ids, lengths = pad_batch([[5, 6, 7], [8], [9, 10]])
    assert ids.dtype == lengths.dtype == torch.long
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]


def test_pad_id_fills_the_padding():
    ids, _ = pad_batch([[5], [6, 7]], pad_id=9)
    assert ids.tolist() == [[5, 9], [6, 7]]


def test_truncation_keeps_the_start_and_width_is_longest_after_it():
    ids, lengths = pad_batch([[1, 2, 3, 4, 5], [6, 7]], max_length=3)
    assert ids.tolist() == [[1, 2, 3], [6, 7, 0]] and lengths.tolist() == [3, 2]
    ids, lengths = pad_batch([[1, 2], [3]], max_length=50)
    assert ids.shape == (2, 2) and lengths.tolist() == [2, 1]


def test_empty_sequences_become_one_pad_with_length_one():
    ids, lengths = pad_batch([[4, 5], []])
    assert ids.tolist() == [[4, 5], [0, 0]] and lengths.tolist() == [2, 1]
    ids, lengths = pad_batch([[], []], pad_id=3)
    assert ids.tolist() == [[3], [3]] and lengths.tolist() == [1, 1]


def test_lengths_work_with_pack_padded_sequence():
    ids, lengths = pad_batch([[4, 5, 6], [], [7]])
    emb = torch.nn.Embedding(10, 2, padding_idx=0)(ids)              # (B, T, E)
    packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
    assert packed.data.shape == (5, 2)


@pytest.mark.parametrize("seqs, kwargs, message", [([], {}, "empty batch"),
                                                   ([[1]], {"max_length": 0}, "max_length")])
def test_bad_pad_batch_arguments(seqs, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pad_batch(seqs, **kwargs)


def test_collate_returns_ids_lengths_and_float_labels():
    ids, lengths, labels = collate([([4, 5, 6, 7], 1), ([8], 0)], max_length=3)
    assert ids.tolist() == [[4, 5, 6], [8, 0, 0]] and lengths.tolist() == [3, 1]
    assert labels.dtype == torch.float32 and labels.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


def _lengths(n: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(0, 500) for _ in range(n)]


@pytest.mark.parametrize("n, batch_size, factor", [(1, 4, 50), (10, 3, 1), (103, 8, 3), (64, 8, 2)])
def test_sampler_yields_every_index_once(n, batch_size, factor):
    sampler = BucketBatchSampler(_lengths(n), batch_size, seed=1, bucket_factor=factor)
    batches = list(sampler)
    assert Counter(i for b in batches for i in b) == Counter(range(n))
    assert len(batches) == len(sampler) == -(-n // batch_size)
    assert sorted(len(b) for b in batches)[1:] == [batch_size] * (len(batches) - 1)


def test_sampler_is_deterministic_per_seed_and_epoch():
    lengths = _lengths(200)

    def batches(seed=0, epoch=0, global_seed=0):
        torch.manual_seed(global_seed)
        s = BucketBatchSampler(lengths, 16, seed=seed, bucket_factor=4)
        s.set_epoch(epoch)
        return list(s)

    assert batches() == batches(global_seed=1)
    assert batches(epoch=1) != batches()
    assert batches(seed=1) != batches()
    sampler = BucketBatchSampler(lengths, 16, seed=5)
    assert list(sampler) == list(sampler)      # iterating again without set_epoch repeats


def test_sampler_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    list(BucketBatchSampler(_lengths(50), 4))
    assert torch.equal(torch.rand(2), expected)


def test_batches_hold_similar_lengths():
    lengths = _lengths(400)

    def padding(batches):   # padded cells wasted
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in batches)

    bucketed = list(BucketBatchSampler(lengths, 16, seed=0, bucket_factor=5))
    unsorted = list(BucketBatchSampler(lengths, 16, seed=0, bucket_factor=1))   # bucket = batch
    assert padding(bucketed) < padding(unsorted) / 3
    one_bucket = list(BucketBatchSampler(lengths, 16, seed=0, bucket_factor=100))
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in one_bucket)
    assert all(hi <= lo for (_, hi), (lo, _) in zip(spans, spans[1:]))


def test_without_shuffle_buckets_follow_the_index_order():
    lengths = [5, 1, 4, 2, 9, 7, 8, 3]
    sampler = BucketBatchSampler(lengths, batch_size=2, shuffle=False, bucket_factor=2)
    assert list(sampler) == [[1, 3], [2, 0], [7, 5], [6, 4]]


def test_empty_dataset_and_bad_arguments():
    assert list(BucketBatchSampler([], 4)) == [] and len(BucketBatchSampler([], 4)) == 0
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2], 0)
    with pytest.raises(ValueError, match="bucket_factor"):
        BucketBatchSampler([1, 2], 2, bucket_factor=0)


def test_dataloader_end_to_end():
    rng = random.Random(3)
    data = [([rng.randint(4, 20) for _ in range(rng.randint(0, 30))], i % 2) for i in range(37)]
    sampler = BucketBatchSampler([len(x) for x, _ in data], batch_size=5, seed=2)
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler,
                                         collate_fn=functools.partial(collate, max_length=20))
    seen = 0
    for ids, lengths, labels in loader:
        assert ids.shape == (len(lengths), int(lengths.max())) and int(lengths.min()) >= 1
        assert ids.shape[1] <= 20 and labels.shape == lengths.shape
        seen += len(labels)
    assert seen == len(data)
