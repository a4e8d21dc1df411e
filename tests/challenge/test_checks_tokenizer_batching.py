"""The public checks of the tokenizer and batching parts: the reference passes, the stubs say
"not implemented yet", and a typical mistake fails the right check with a useful message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from challenge.checks import all_checks, run_local
from challenge.impl import load_module

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["tokenizer", "batching"]


def test_reference_solutions_pass_every_check():
    results = run_local("solutions", parts=PARTS)
    assert len(results) >= 16
    failed = [r.summary() for r in results if not r.passed]
    assert not failed, failed


def test_stubs_are_not_implemented_yet():
    results = run_local("challenge", parts=PARTS)
    assert results and all(r.status == "not_implemented" and r.points == 0 for r in results)
    assert all(r.message.startswith("not implemented yet: ") for r in results)


@pytest.mark.parametrize("seed", [0, 3])
def test_data_and_outputs_survive_the_sandbox_transport(seed):
    """make_inputs and run return plain data that torch.load(weights_only=True) accepts."""
    def carry(obj):
        buf = io.BytesIO()
        torch.save(obj, buf)
        buf.seek(0)
        return torch.load(buf, weights_only=True)

    for check in all_checks(PARTS):
        data = carry(check.make_inputs(seed))
        output = carry(check.run(load_module("solutions", check.part), data))
        check.verify(carry(check.make_inputs(seed)), output)


def test_inputs_depend_on_the_seed():
    for check in all_checks(PARTS):
        assert check.make_inputs(1) == check.make_inputs(1)
        assert check.make_inputs(1) != check.make_inputs(2), check.key


MUTATIONS = [
    # (part, text in the reference, replacement, failing check, words in the message)
    ("tokenizer", "        if self.lowercase:\n            text = text.lower()\n", "",
     "tokenize_words", ["expected", "got", "Hint: lowercase"]),
    ("tokenizer", "key=lambda t: (-counts[t], t))", "key=lambda t: -counts[t])",
     "train_vocabulary", ["get_vocab()", "ties in alphabetical order"]),
    ("tokenizer", "(?P<email> [\\w.+-]{1,64}+ @", "(?P<email> [\\w.+-]{1,64}+ @@",
     "class_tokens", ["tokenize('jane.doe@example.co.uk')", "<email>"]),
    ("tokenizer", "return [SOS_ID, *ids, EOS_ID]", "return [SOS_ID, *ids]",
     "encode_unknown", ["add_special_tokens=True", "<eos> (3)"]),
    ("tokenizer", '"lowercase": self.lowercase, ', "", "save_load", ["lowercase=False"]),
    ("batching", "width = int(lengths.max())", "width = max_length or int(lengths.max())",
     "truncation", ["max_length=50", "expected shape"]),
    ("batching", "cut = [s if s else [pad_id] for s in cut]", "", "empty_sequence",
     ["pad_batch([[5, 6], []])", "length 1"]),
    ("batching", "[pad_id] * (width - len(s))", "[0] * (width - len(s))", "pad_id",
     ["pad_batch(seqs, pad_id=7)", "not a hard-coded 0"]),
    ("batching", "g.manual_seed(self.seed + self.epoch)", "g = None", "sampler_deterministic",
     ["local torch.Generator"]),
    ("batching", "key=lengths.__getitem__", "key=int", "sampler_groups_lengths",
     ["neighbouring lengths", "sort each bucket by length"]),
]


@pytest.mark.parametrize("part, old, new, check, words", MUTATIONS,
                         ids=[m[3] for m in MUTATIONS])
def test_a_typical_mistake_fails_its_check_with_a_clear_message(tmp_path, part, old, new, check,
                                                                 words):
    source = (ROOT / "solutions" / f"{part}.py").read_text(encoding="utf-8")
    assert old in source, "the reference changed; update this mutation"
    (tmp_path / f"{part}.py").write_text(source.replace(old, new), encoding="utf-8")
    results = {r.name: r for r in run_local(str(tmp_path), parts=[part])}
    result = results[check]
    assert not result.passed and result.status in ("failed", "error"), result.summary()
    for word in words:
        assert word in result.message, result.message


def _batching_results(tmp_path, old: str, new: str) -> dict:
    """Every batching check's result on the reference with one edit."""
    source = (ROOT / "solutions" / "batching.py").read_text(encoding="utf-8")
    assert source.count(old) == 1, "the reference changed; update this mutation"
    (tmp_path / "batching.py").write_text(source.replace(old, new), encoding="utf-8")
    return {r.name: r for r in run_local(str(tmp_path), parts=["batching"])}


PAD_RIGHT = "s + [pad_id] * (width - len(s))"
WRONG_HINTS = {"left": "padded on the left", "zero": "not a hard-coded 0",
               "width": "T is the longest sequence after truncation",
               "truncate": "first max_length ids", "kept_end": "kept the last ones"}


def _only_hints(message: str, *expected: str) -> None:
    """``message`` carries the hints named in ``expected`` and none of the others."""
    for name, text in WRONG_HINTS.items():
        assert (text in message) == (name in expected), (name, message)


def test_left_padding_is_named_as_left_padding_in_every_check_it_fails(tmp_path):
    results = _batching_results(tmp_path, PAD_RIGHT, "[pad_id] * (width - len(s)) + s")
    failed = {n for n, r in results.items() if not r.passed}
    assert failed == {"pad_to_longest", "pad_id", "truncation", "collate"}
    for name in failed:
        assert "pad on the right" in results[name].message
        _only_hints(results[name].message, "left")


def test_truncating_from_the_wrong_end_is_named_in_every_check_it_fails(tmp_path):
    results = _batching_results(tmp_path, "list(s[:max_length])", "list(s[-max_length:])")
    failed = {n for n, r in results.items() if not r.passed}
    assert failed == {"truncation", "empty_sequence", "collate"}
    for name in failed:
        message = results[name].message
        assert "max_length=" in message and "the start" in message
        _only_hints(message, "truncate", "kept_end")
        assert "then pad_id up to T" not in message


def test_a_hard_coded_zero_is_named_only_where_pad_id_is_not_zero(tmp_path):
    results = _batching_results(tmp_path, PAD_RIGHT, "s + [0] * (width - len(s))")
    assert {n for n, r in results.items() if not r.passed} == {"pad_id"}
    _only_hints(results["pad_id"].message, "zero")


def test_padding_to_max_length_names_the_width(tmp_path):
    results = _batching_results(tmp_path, "width = int(lengths.max())",
                                "width = max_length or int(lengths.max())")
    assert {n for n, r in results.items() if not r.passed} == {"truncation"}
    assert "max_length=50) ids: expected shape" in results["truncation"].message
    _only_hints(results["truncation"].message, "width")


def test_lengths_counted_before_truncation_are_named(tmp_path):
    results = _batching_results(tmp_path, "return ids, lengths\n",
                                "return ids, torch.tensor([len(s) or 1 for s in seqs])\n")
    for name in ("truncation", "collate"):
        message = results[name].message
        assert "lengths: expected" in message and "count each length after truncation" in message
        _only_hints(message)


def test_a_mistake_no_diagnosis_explains_gets_no_hint(tmp_path):
    results = _batching_results(tmp_path, PAD_RIGHT, "s[::-1] + [pad_id] * (width - len(s))")
    for name in ("pad_to_longest", "pad_id", "truncation", "collate"):
        message = results[name].message
        assert "expected [" in message and "Hint:" not in message, message
