"""The sorter's quality decodes by the contract: generate's default cap (each row's own length)
for the in-range measure, a longer cap only for the length-generalisation measure, and the
report says so. The attack: a generate that stops one value short at its default cap, which an
explicit max_len everywhere used to hide."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.grading import REPO, SHORT_AT_DEFAULT_CAP, sorter_checkpoint, tiny_rubric

from challenge.scoring import sorter_metrics
from grader import quality
from grader.child.tasks import _decode, run_sorter
from grader.hidden import SorterSet


def _set(inputs, long) -> SorterSet:
    n = len(inputs)
    return SorterSet(ids=tuple(str(i) for i in range(n)), inputs=tuple(map(tuple, inputs)),
                     long=tuple(long), private=(False,) * n)


class _Recorder:
    """A stand-in model: echoes each row's first value as many times as its cap allows."""

    def __init__(self):
        self.calls = []

    def generate(self, src, src_lengths, max_len=None):
        self.calls.append((src_lengths.tolist(), max_len))
        caps = src_lengths if max_len is None else torch.full_like(src_lengths, max_len)
        out = torch.full((src.shape[0], int(caps.max()) + 1), 0, dtype=torch.long)
        for b, cap in enumerate(caps.tolist()):
            out[b, :cap] = src[b, 0]
            out[b, cap] = 3
        return out


def test_decode_uses_the_default_cap_in_range_and_the_long_cap_beyond():
    model = _Recorder()
    inputs = [[1, 2], [7, 7, 7, 7, 7], [3], [4, 4, 4, 4, 4, 4]]
    (out,), _ = _decode(model, inputs, {"long_from": 5, "long_cap": 8})
    assert sorted(model.calls) == [([2, 1], None), ([5, 6], 8)]
    rows = out.tolist()                              # back in the order of the inputs
    assert rows[0][:3] == [5, 5, 3] and rows[2][:2] == [7, 3]
    assert rows[1][:9] == [11] * 8 + [3] and rows[3][:9] == [8] * 8 + [3]
    model = _Recorder()
    _decode(model, inputs, {})                       # no longer sequences: the contract only
    assert model.calls == [([2, 5, 1, 6], None)]


def test_decode_caps_and_note_follow_the_set():
    data = _set([[1], [2, 3, 4, 5], [1] * 5, [2] * 6], [False, False, True, True])
    caps = quality.decode_caps(data)
    assert caps == {"long_from": 5, "long_cap": 6}
    note = quality.decode_note(caps)
    assert note.startswith("in-range sequences decoded as the contract says, with generate's "
                           "default cap (each row's own length); longer sequences (5 values")
    assert "max_len=6" in note
    assert quality.decode_caps(_set([[1, 2]], [False])) == {}


@pytest.fixture(scope="module")
def short_sorter(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("short")
    sorter_checkpoint(root / "real.pt", tiny_rubric())
    (root / "probe.pt").write_bytes((root / "real.pt").read_bytes())
    (root / "sorter_model.py").write_text((REPO / "solutions" / "sorter_model.py").read_text()
                                          + SHORT_AT_DEFAULT_CAP)
    return root


def test_one_short_at_the_default_cap_loses_the_in_range_measure(short_sorter):
    inputs = [[(3 * i + j) % 10 for j in range(1 + i % 6)] for i in range(60)]
    data = _set(inputs, [len(v) >= 5 for v in inputs])
    plan = quality.sorter_plan(data, "real.pt", "probe.pt", seed=0)
    context = {"impl": str(short_sorter), "files": short_sorter, "modules": {}}
    reply = run_sorter({"jobs": plan.jobs, "caps": quality.decode_caps(data)}, context)
    rows, _, _ = quality.sorter_outputs(reply["output"], data, plan)
    result, _ = sorter_metrics(tiny_rubric().task("sorter"), data, rows)
    assert result.metrics["exact_match"] == 0.0          # every in-range row one value short
    assert result.metrics["exact_match_long"] == 1.0     # the longer cap lets it finish
    old = run_sorter({"jobs": plan.jobs}, context)       # without caps: still the contract
    rows, _, _ = quality.sorter_outputs(old["output"], data, plan)
    assert sorter_metrics(tiny_rubric().task("sorter"), data, rows)[0].metrics[
        "exact_match_long"] == 0.0


def test_sorter_quality_carries_the_decoding_note():
    data = _set([[2, 1], [3, 2, 1, 0, 4]], [False, True])
    rows = [[5, 6, 3], [4, 5, 6, 7, 8, 3]]
    result, _ = quality.sorter_quality(tiny_rubric().task("sorter"), data, rows, [])
    assert result.notes[-1] == quality.decode_note({"long_from": 3, "long_cap": 5})
    assert result.metrics["exact_match"] == result.metrics["exact_match_long"] == 1.0


def test_outputs_that_are_not_row_tensors_reach_the_parent_as_they_came():
    class _Words:
        def generate(self, src, src_lengths, max_len=None):
            return "sorted!"

    inputs = [[1, 2], [1, 2, 3, 4, 5]]
    out, greedy = _decode(_Words(), inputs, {"long_from": 5, "long_cap": 5})
    assert out == ["sorted!", "sorted!"]                 # flat: the parent names the type
    assert greedy is None                                # nothing to teacher-force on
    with pytest.raises(quality.Malformed, match="returned str"):
        quality.sorter_rows(out, 2)
