"""Number sequences: determinism, token ids, batching, the training stream and hidden sets."""

import random

import pytest
import torch

from challenge.data import sequences as seq
from challenge.errors import ChallengeError


def test_make_sequences_is_deterministic_per_seed_and_sorted():
    a = seq.make_sequences(200, seed=3, min_len=2, max_len=7, low=5, high=20)
    assert a == seq.make_sequences(200, seed=3, min_len=2, max_len=7, low=5, high=20)
    assert a != seq.make_sequences(200, seed=4, min_len=2, max_len=7, low=5, high=20)
    assert {len(values) for values, _ in a} == set(range(2, 8))
    for values, target in a:
        assert target == sorted(values)
        assert all(5 <= v <= 20 for v in values)


def test_make_sequences_leaves_global_random_state_alone():
    random.seed(1)
    expected = random.random()
    random.seed(1)
    seq.make_sequences(50, seed=0)
    assert random.random() == expected


@pytest.mark.parametrize("kwargs, word", [
    ({"min_len": 0}, "min_len"), ({"min_len": 5, "max_len": 4}, "max_len"),
    ({"low": -1}, "low"), ({"low": 9, "high": 3}, "high"), ({"max_len": 2.5}, "max_len"),
])
def test_bad_ranges_are_named(kwargs, word):
    with pytest.raises(ChallengeError, match=word):
        seq.make_sequences(5, seed=0, **kwargs)


def test_ids_match_the_student_module_and_decode():
    from solutions import sorter_model
    assert (sorter_model.PAD_ID, sorter_model.UNK_ID, sorter_model.SOS_ID, sorter_model.EOS_ID,
            sorter_model.VALUE_OFFSET) == (seq.PAD_ID, seq.UNK_ID, seq.SOS_ID, seq.EOS_ID,
                                           seq.VALUE_OFFSET)
    assert seq.encode_values([0, 7]) == [4, 11]
    assert seq.decode_ids([2, 4, 11, 3, 9, 0]) == [0, 7]
    assert seq.SequenceConfig(high=99).vocab_size == 104


def test_collate_pads_and_terminates_targets():
    src, lengths, tgt = seq.collate([([3, 1, 2], [1, 2, 3]), ([5], [5])])
    assert src.tolist() == [[7, 5, 6], [9, 0, 0]]
    assert lengths.tolist() == [3, 1]
    assert tgt.tolist() == [[5, 6, 7, 3], [9, 3, 0, 0]]
    loader = torch.utils.data.DataLoader(seq.make_sequences(9, 0), batch_size=4,
                                         collate_fn=seq.collate)
    assert sum(b[0].shape[0] for b in loader) == 9


def _check_batch(src, lengths, tgt, config):
    for row in range(src.shape[0]):
        n = int(lengths[row])
        values = src[row, :n].tolist()
        assert config.min_len <= n <= config.max_len
        assert all(t == 0 for t in src[row, n:].tolist())
        assert all(config.low + 4 <= v <= config.high + 4 for v in values)
        assert tgt[row, :n].tolist() == sorted(values)
        assert tgt[row, n] == seq.EOS_ID and all(t == 0 for t in tgt[row, n + 1:].tolist())


def test_stream_is_fresh_valid_and_seeded():
    config = seq.SequenceConfig(min_len=1, max_len=6, low=0, high=9)
    first = iter(seq.SequenceStream(config, batch_size=32, seed=5))
    again = iter(seq.SequenceStream(config, batch_size=32, seed=5))
    b1, b2 = next(first), next(first)
    assert all(torch.equal(x, y) for x, y in zip(b1, next(again)))
    assert not torch.equal(b1[0], b2[0]) or not torch.equal(b1[1], b2[1])
    for batch in (b1, b2):
        assert batch[0].shape[1] == int(batch[1].max()) and batch[2].shape[1] == batch[0].shape[1] + 1
        _check_batch(*batch, config)


def test_length_power_favours_long_sequences_and_is_validated():
    config = seq.SequenceConfig(min_len=1, max_len=10, low=0, high=9)
    uniform = next(iter(seq.SequenceStream(config, batch_size=4000, seed=0)))
    linear = next(iter(seq.SequenceStream(config, batch_size=4000, seed=0, length_power=1.0)))
    assert 5.2 < uniform[1].float().mean() < 5.8      # uniform 1..10: mean 5.5
    assert 6.7 < linear[1].float().mean() < 7.3       # P(L) ~ L: mean 385 / 55 = 7
    _check_batch(*linear, config)
    with pytest.raises(ChallengeError, match="length_power"):
        seq.SequenceStream(config, length_power=-1)
