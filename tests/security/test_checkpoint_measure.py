"""Checkpoints measured before use (issue #30, items 3 and 9): a checkpoint whose tensors claim
more values than their storage holds (stride tricks, overlapping views, oversized tensors) is
malformed before the grader allocates anything from it, and every refusal is in the kit's words,
never torch's advice to load without ``weights_only``."""

from __future__ import annotations

import pytest
import torch
from support.grading import sorter_checkpoint, tiny_rubric

from challenge.checkpoint import save_checkpoint
from grader import quality

RUBRIC = tiny_rubric()


def _save(path, state: dict, model: dict | None = None):
    torch.save({"state_dict": state, "config": {"task": "sorter", "model": model or
                                                {"vocab_size": 14, "hidden_size": 32}}}, path)
    return path


def _honest(tmp_path):
    return sorter_checkpoint(tmp_path / "honest.pt", RUBRIC)


ATTACKS = {
    "stride 0, a terabyte from one value": lambda: {"w": torch.zeros(1).expand(2 ** 20, 2 ** 20)},
    "stride 0, one GiB twice": lambda: {"a": torch.zeros(1).expand(2 ** 28),
                                        "b": torch.zeros(1).expand(2 ** 28)},
    "overlapping rows": lambda: {"w": torch.zeros(64).as_strided((32, 32), (1, 1))},
    "a row repeated": lambda: {"w": torch.zeros(16).expand(32, 16)},
    "a dimension no config names": lambda: {"w": torch.zeros(1, 4000)},
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_stride_tricks_and_oversized_tensors_are_malformed(tmp_path, name):
    bad = _save(tmp_path / "bad.pt", ATTACKS[name]())
    with pytest.raises(quality.Malformed, match="the sorter checkpoint is malformed"):
        quality.randomised_checkpoint(bad, tmp_path / "probe.pt", 0)
    assert not (tmp_path / "probe.pt").exists()


def test_a_config_that_names_an_absurd_size_is_malformed(tmp_path):
    bad = _save(tmp_path / "bad.pt", {"w": torch.zeros(1).expand(2 ** 20, 2 ** 20)},
                model={"hidden_size": 2 ** 40})
    with pytest.raises(quality.Malformed, match="names a size"):
        quality.randomised_checkpoint(bad, tmp_path / "probe.pt", 0)


def test_too_many_values_in_all_are_malformed(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "MAX_CHECKPOINT_VALUES", 1000)
    bad = _save(tmp_path / "bad.pt", {f"w{i}": torch.zeros(20, 20) for i in range(3)})
    with pytest.raises(quality.Malformed, match="more than 1,000 values"):
        quality.randomised_checkpoint(bad, tmp_path / "probe.pt", 0)


def test_an_honest_checkpoint_is_randomised(tmp_path):
    honest = _honest(tmp_path)
    quality.randomised_checkpoint(honest, tmp_path / "probe.pt", 0)
    before = torch.load(honest, weights_only=True)["state_dict"]
    after = torch.load(tmp_path / "probe.pt", weights_only=True)["state_dict"]
    assert set(before) == set(after)
    assert all(before[k].shape == after[k].shape for k in before)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_transposed_and_tied_weights_are_honest(tmp_path):
    w = torch.randn(8, 16)
    path = _save(tmp_path / "ok.pt", {"w": w.t(), "tied": w, "empty": torch.zeros(0, 5)})
    quality.randomised_checkpoint(path, tmp_path / "probe.pt", 0)


class Payload:
    pass


@pytest.mark.parametrize("content", ["junk", "pickled"])
def test_checkpoint_errors_are_in_the_kits_words(tmp_path, content):
    bad = tmp_path / "bad.pt"
    if content == "junk":
        bad.write_bytes(b"not a checkpoint at all" * 10)
    else:
        save_checkpoint(bad, state_dict={}, config={"task": "sorter"}, x=Payload())
    with pytest.raises(quality.Malformed) as info:
        quality.randomised_checkpoint(bad, tmp_path / "probe.pt", 0)
    text = str(info.value)
    assert "Weights only load failed" not in text and "PyTorch 2.6" not in text
    assert "weights_only" not in text
    assert ("cannot be loaded safely" in text and "Payload" in text) if content == "pickled" \
        else "not a readable torch checkpoint" in text
