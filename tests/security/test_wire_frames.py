"""Hand-made reply frames: whatever bytes reach the grader as a reply, ``wire.decode`` answers
with a value or a :class:`WireError`, and the sandbox's ``_reply`` turns anything into a
result with a reason, never a traceback (the N3 attacks of issue #30, and a seeded fuzzer)."""

from __future__ import annotations

import json
import random
import struct

import pytest
import torch

from challenge.rubric import Limits
from grader.child import wire
from grader.sandbox import _reply

MAX = 64 << 20


def _body(tree, blob: bytes = b"") -> bytes:
    text = json.dumps(tree).encode()
    return struct.pack(">I", len(text)) + text + blob


def _tensor(shape, start=0, size=0, dtype="float32") -> dict:
    return {wire.TENSOR: [start, size], "dtype": dtype, "shape": shape}


ATTACKS = {
    "tuple key holding a list": {wire.DICT: [[{wire.TUPLE: [[1, 2]]}, 1]]},
    "tuple key holding a dict": {wire.DICT: [[{wire.TUPLE: [{"a": 1}]}, 1]]},
    "list as a key": {wire.DICT: [[[1], 1]]},
    "shape [0, 2**64]": _tensor([0, 2 ** 64]),
    "shape [2**40, 2**40, 0]": _tensor([2 ** 40, 2 ** 40, 0]),
    "shape [0, 2**31]": _tensor([0, 2 ** 31]),
    "negative dimension": _tensor([-1, 4]),
    "dtype as a list": {wire.TENSOR: [0, 0], "dtype": ["float32"], "shape": [0]},
    "dtype as a dict": {wire.TENSOR: [0, 0], "dtype": {"a": 1}, "shape": [0]},
    "float tag holding a list": {wire.FLOAT: ["nan"]},
    "float tag holding a number": {wire.FLOAT: 1.5},
    "tuple tag holding a dict": {wire.TUPLE: {"a": 1}},
    "bytes beyond the blob": _tensor([4], start=0, size=16),
    "boolean as a dimension": _tensor([True, 2], size=8),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_malformed_frames_are_wire_errors(name):
    with pytest.raises(wire.WireError):
        wire.decode(_body(ATTACKS[name]), max_bytes=MAX)


def test_many_tensors_on_the_same_bytes_are_refused():
    """One MiB of blob named by a thousand tensors would be a GiB once decoded."""
    blob = bytes(1 << 20)
    tree = [_tensor([1 << 18], 0, 1 << 20) for _ in range(1000)]
    with pytest.raises(wire.WireError, match="more bytes than it holds"):
        wire.decode(_body(tree, blob), max_bytes=MAX)


def test_honest_values_still_cross():
    value = {"h": torch.arange(6.0).reshape(2, 3), "k": {(1, "a"): [1, None, True]},
             "t": (torch.zeros(0, 5, dtype=torch.int64), float("nan"))}
    back = wire.decode(wire.encode(value), max_bytes=MAX)
    assert torch.equal(back["h"], value["h"]) and back["k"] == {(1, "a"): [1, None, True]}
    assert back["t"][0].shape == (0, 5) and back["t"][1] != back["t"][1]


# --- a seeded fuzzer: random trees of the wire's own tags with hostile fields -----------------

def _number(rng: random.Random):
    return rng.choice([0, 1, -1, 2 ** 31, 2 ** 40, 2 ** 63, 2 ** 64, -2 ** 63, 3, 1.5, True,
                       None, "4", [], {}, rng.randint(-5, 70)])


def _fuzz_tree(rng: random.Random, depth: int = 0):
    pick = rng.randrange(11 if depth < 6 else 3)
    if pick == 0:
        return _number(rng)
    if pick == 1:
        return rng.choice(["", "nan", "inf", "\x00tensor", "a" * rng.randint(0, 40)])
    if pick == 2:
        return rng.choice([None, True, False, 0.0, -0.0, 1e308])
    if pick == 3:
        return [_fuzz_tree(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if pick == 4:
        return {rng.choice(["a", "b", "\x00x", "dtype"]): _fuzz_tree(rng, depth + 1)
                for _ in range(rng.randint(0, 3))}
    if pick == 5:
        return {wire.TUPLE: rng.choice([[_fuzz_tree(rng, depth + 1) for _ in range(3)],
                                        _fuzz_tree(rng, depth + 1)])}
    if pick == 6:
        pairs = [rng.choice([[_fuzz_tree(rng, depth + 1), _fuzz_tree(rng, depth + 1)],
                             [_fuzz_tree(rng, depth + 1)], "x"]) for _ in range(rng.randint(0, 3))]
        return {wire.DICT: pairs}
    if pick == 7:
        return {wire.FLOAT: rng.choice(["nan", "inf", "-inf", "1.0", 3, ["nan"], None])}
    shape = [_number(rng) for _ in range(rng.randint(0, 4))]
    where = rng.choice([[0, 0], [0, 8], [rng.randint(0, 64), rng.randint(0, 64)], [-1, 4],
                        [0], "0", [2 ** 63, 8]])
    dtype = rng.choice(list(wire.DTYPES) + ["complex64", 7, ["int64"], None])
    return {wire.TENSOR: where, "dtype": dtype, "shape": shape}


def _fuzz_body(rng: random.Random) -> bytes:
    blob = bytes(rng.randrange(256) for _ in range(rng.choice([0, 8, 64, 100])))
    body = _body(_fuzz_tree(rng), blob)
    if rng.random() < 0.15:       # damage it: a cut, a flipped byte, a lying length
        cut = rng.randrange(len(body) + 1)
        body = rng.choice([body[:cut], body[:cut] + bytes([rng.randrange(256)]) + body[cut + 1:],
                           struct.pack(">I", rng.randrange(1 << 32)) + body[4:]])
    return body


def test_fuzzed_frames_decode_or_raise_wire_error():
    rng = random.Random(30)
    decoded = refused = 0
    for _ in range(3000):
        body = _fuzz_body(rng)
        try:
            wire.decode(body, max_bytes=MAX)
            decoded += 1
        except wire.WireError:
            refused += 1
    assert decoded > 100 and refused > 100     # the fuzzer reaches both sides


def test_reply_never_raises_on_fuzzed_frames():
    rng = random.Random(31)
    for _ in range(1000):
        result = _reply("check:x", _fuzz_body(rng), Limits())
        assert result.status in ("ok", "malformed")
        assert result.status == "ok" or result.reason


def test_reply_turns_an_unexpected_decoder_failure_into_a_reason(monkeypatch):
    def broken(body, *, max_bytes):
        raise OverflowError("a failure no one foresaw")

    monkeypatch.setattr(wire, "decode", broken)
    result = _reply("check:x", b"", Limits())
    assert result.status == "malformed" and "OverflowError" in result.reason
