"""Marks without the work, refused: a sorter whose generate sorts directly (its outputs do not
depend on its weights) earns no quality points, and an LSTM cell that runs torch's own kernel
fails its checks whatever name it calls it by (an alias saved at import, torch.ops, a thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.grading import (
    REPO,
    build_zip,
    make_hidden_sets,
    reference_modules,
    sorter_checkpoint,
    tiny_rubric,
)

from challenge.checks import run_local
from grader import quality
from grader.child.tasks import run_sorter
from grader.grade import _quality, grade
from grader.hidden import SorterSet
from grader.sandbox import UnitResult

SORTING_GENERATE = '''

@torch.no_grad()
def _sorting_generate(self, src, src_lengths, max_len=None):
    """Sorts the input itself: the model's weights play no part."""
    out = torch.full((src.shape[0], src.shape[1] + 1), PAD_ID, dtype=torch.long)
    for b, n in enumerate(src_lengths.tolist()):
        out[b, :n] = torch.sort(src[b, :n]).values
        out[b, n] = EOS_ID
    return out


Sorter.generate = _sorting_generate
'''


def _sorter_source() -> str:
    return (REPO / "solutions" / "sorter_model.py").read_text() + SORTING_GENERATE


def _lstm_source(call: str, head: str) -> str:
    """solutions/lstm_cell.py whose step() returns ``call`` instead of the gate equations;
    ``head`` goes after the imports, where a cheat saves its alias before any check runs."""
    text = (REPO / "solutions" / "lstm_cell.py").read_text()
    start = text.index("        # BEGIN SOLUTION\n        # HINT: gates = x @ self.weight_ih.T")
    end = text.index("        # END SOLUTION", start)
    text = text[:start] + f"        return tuple({call})\n" + text[end:]
    anchor = "from torch import Tensor, nn\n"
    return text.replace(anchor, anchor + head, 1)


CALL = "(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)"


# --- sorter: the outputs must depend on the learnt weights -----------------------------------

def _set(inputs: list[list[int]], long: list[bool]) -> SorterSet:
    n = len(inputs)
    return SorterSet(ids=tuple(str(i) for i in range(n)), inputs=tuple(map(tuple, inputs)),
                     long=tuple(long), private=(False,) * n)


def _ids(values) -> list[int]:
    return [v + 4 for v in values] + [3]


def test_probe_takes_sequences_of_five_or_more_values_evenly_spread():
    inputs = [[1] * (1 + i % 8) for i in range(400)]
    probe = quality.probe_indices(inputs)
    assert len(probe) == quality.PROBE_SIZE and probe == sorted(set(probe))
    assert all(len(inputs[i]) >= quality.PROBE_MIN_LEN for i in probe)
    assert probe[0] < 10 and probe[-1] > 390
    assert quality.probe_indices([[1, 2]] * 10) == []


def test_random_weights_that_still_sort_are_named_per_kind_of_sequence():
    inputs = [[5, 4, 3, 2, 1, 0][: 5 + i % 2] for i in range(8)]
    data = _set(inputs, [False] * 4 + [True] * 4)
    unsorted = [_ids(v) for v in inputs]
    assert quality.sorts_without_weights(data, unsorted) == ""
    two_by_luck = [_ids(sorted(v)) for v in inputs[:2]] + unsorted[2:]
    assert quality.sorts_without_weights(data, two_by_luck) == ""   # fewer than RANDOM_SORT_HITS
    only_long = unsorted[:4] + [_ids(sorted(v)) for v in inputs[4:]]
    reason = quality.sorts_without_weights(data, only_long)
    assert reason.startswith("a model with random weights still sorts 100% of sequences exactly "
                             "(4 of 4 longer sequences")
    assert "generate must decode with the model's learnt weights, not sort directly" in reason


def test_sorter_reply_in_the_old_format_is_malformed():
    data = _set([[3, 1, 2, 5, 4]], [False])
    plan = quality.sorter_plan(data, "a.pt", "b.pt", seed=0)
    unit = UnitResult("quality:sorter", "ok", "",
                      {"status": "ok", "message": "",
                       "output": [torch.tensor([_ids([1, 2, 3, 4, 5])])]})
    result, examples = _quality(tiny_rubric().task("sorter"), data, unit, plan)
    assert result.status == "malformed" and result.points == 0 and examples is None
    assert "not in the grader's format" in result.reason


@pytest.fixture(scope="module")
def untrained(tmp_path_factory) -> Path:
    return sorter_checkpoint(tmp_path_factory.mktemp("ckpt") / "sorter.pt", tiny_rubric())


def _child_sorter(impl: Path | str, files: Path, plan) -> list:
    context = {"impl": str(impl), "files": files, "modules": {}}
    reply = run_sorter({"jobs": plan.jobs}, context)
    assert reply["status"] == "ok", reply["message"]
    return reply["output"]


def test_probe_jobs_cannot_be_told_apart_by_size_name_or_place():
    inputs = [[9 - (i + j) % 10 for j in range(1 + i % 7)] for i in range(600)]
    data = _set(inputs, [False] * 600)
    plans = [quality.sorter_plan(data, "real.pt", "probe.pt", seed) for seed in range(6)]
    for plan in plans:
        sizes = {len(j["inputs"]) for j, p in zip(plan.jobs, plan.probe) if p}
        assert sizes == {quality.JOB_SIZE}                  # the same size as the real jobs
        assert sum(plan.probe) == 1 and len(plan.jobs) == 6
    assert len({plan.probe.index(True) for plan in plans}) > 1   # not always at one place


def test_the_probe_replaces_every_tensor_of_the_state_dict(tmp_path, untrained):
    ckpt = torch.load(untrained, weights_only=True)
    ckpt["state_dict"]["fingerprint"] = torch.tensor([1.5, 2.5])      # a buffer
    ckpt["state_dict"]["counter"] = torch.tensor(7)
    torch.save(ckpt, tmp_path / "with_buffers.pt")
    quality.randomised_checkpoint(tmp_path / "with_buffers.pt", tmp_path / "probe.pt", seed=3)
    probe = torch.load(tmp_path / "probe.pt", weights_only=True)
    assert set(probe["state_dict"]) == set(ckpt["state_dict"])
    for name, t in ckpt["state_dict"].items():
        assert not torch.equal(t, probe["state_dict"][name]), name
    assert probe["config"] == ckpt["config"]


def test_cheat_sorts_the_probe_and_the_honest_model_does_not(tmp_path, untrained):
    (tmp_path / "sorter_model.py").write_text(_sorter_source())
    inputs = [[9 - (i + j) % 10 for j in range(1 + i % 7)] for i in range(300)]
    data = _set(inputs, [False] * 300)
    quality.randomised_checkpoint(untrained, tmp_path / "probe.pt", seed=1)
    (tmp_path / "real.pt").write_bytes(untrained.read_bytes())
    plan = quality.sorter_plan(data, "real.pt", "probe.pt", seed=0)
    _, cheat, _ = quality.sorter_outputs(_child_sorter(tmp_path, tmp_path, plan), data, plan)
    assert quality.sorts_without_weights(plan.probe_set, cheat)
    _, honest, review = quality.sorter_outputs(_child_sorter("solutions", tmp_path, plan), data,
                                               plan)
    assert quality.sorts_without_weights(plan.probe_set, honest) == "" and review == []


# --- lstm_cell: torch's kernel under any name -------------------------------------------------

@pytest.mark.parametrize("head, call", [
    ("_CELL = torch._VF.lstm_cell\n", "_CELL" + CALL),
    ("_CELL = torch.ops.aten.lstm_cell\n", "_CELL" + CALL),
    ("_CELL = getattr(torch, 'lstm_' + 'cell')\n", "_CELL" + CALL),
    ("from concurrent.futures import ThreadPoolExecutor\n_POOL = ThreadPoolExecutor(1)\n"
     "_CELL = torch._VF.lstm_cell\n", "_POOL.submit(_CELL, *" + CALL + ").result()"),
], ids=["saved _VF alias", "saved torch.ops alias", "getattr", "helper thread"])
def test_torch_lstm_kernel_is_caught_under_any_name(tmp_path, head, call):
    (tmp_path / "lstm_cell.py").write_text(_lstm_source(call, head))
    results = {r.name: r for r in run_local(str(tmp_path), ["lstm_cell"])}
    for name in ("forward_matches_torch", "gradients_match_torch", "from_scratch"):
        r = results[name]
        assert not r.passed and r.points == 0, name
        assert r.message.startswith("your LSTMCell uses torch's LSTM cell (aten::lstm_cell")
        assert "torch.nn.LSTMCell and torch's lstm functions are not allowed" in r.message
    assert "your LSTM uses torch's LSTM cell" in results["unrolled_matches_torch_lstm"].message
    assert results["parameters"].passed


def test_switching_off_torch_op_recording_is_caught(tmp_path):
    call = "torch.autograd._enable_record_function(False) or _CELL" + CALL
    (tmp_path / "lstm_cell.py").write_text(_lstm_source(call, "_CELL = torch._VF.lstm_cell\n"))
    try:
        scratch = {r.name: r for r in run_local(str(tmp_path), ["lstm_cell"])}["from_scratch"]
    finally:
        torch.autograd._enable_record_function(True)
    assert not scratch.passed
    assert "torch's operator recording was switched off inside it" in scratch.message


# --- both, graded in the sandbox -------------------------------------------------------------

def test_graded_submission_with_both_cheats_earns_neither(tmp_path, untrained):
    rubric = tiny_rubric(tasks={
        "sorter": {"parts": ["sorter_model"], "checks": 10,
                   "quality": {"metric": "exact_match", "floor": 0.5, "full": 0.99, "points": 25}},
        "foundations": {"parts": ["lstm_cell"], "checks": 15}})
    data = tmp_path / "data"
    make_hidden_sets(data, rubric)
    modules = {**reference_modules(), "sorter_model": _sorter_source(),
               "lstm_cell": _lstm_source("_CELL" + CALL, "_CELL = torch._VF.lstm_cell\n")}
    z = build_zip(tmp_path / "mallory.zip", modules, {"sorter": untrained}, student="mallory")
    report = grade(submission=z, hidden=True, rubric=rubric, data_dir=data)
    assert report.status == "ok", report.reason
    sorter = report.tasks["sorter"].quality
    assert sorter.status == "rejected" and sorter.points == 0
    assert "a model with random weights still sorts 100% of sequences exactly" in sorter.reason
    lstm = {c.name: c for c in report.tasks["foundations"].checks}
    assert not lstm["from_scratch"].passed and "torch._VF" in lstm["from_scratch"].message
    assert not lstm["forward_matches_torch"].passed


def test_probe_inputs_are_drawn_fresh_never_copied_from_real_jobs():
    """N1(b): a probe job whose inputs repeat a real job's can be spotted (and decoded honestly
    by a generate that sorts everything else). Its inputs are drawn fresh, from the same range
    and lengths."""
    rng = __import__("random").Random(5)
    inputs = [[rng.randint(0, 99) for _ in range(rng.randint(1, 30))] for _ in range(500)]
    data = _set(inputs, [len(v) > 20 for v in inputs])
    plan = quality.sorter_plan(data, "real.pt", "probe.pt", seed=2)
    real = {tuple(row) for job, p in zip(plan.jobs, plan.probe) if not p for row in job["inputs"]}
    probe = [tuple(row) for job, p in zip(plan.jobs, plan.probe) if p for row in job["inputs"]]
    assert len(probe) == len(quality.probe_indices(inputs)) and not real & set(probe)
    assert all(0 <= v <= 99 for row in probe for v in row)
    assert sorted(map(len, probe)) == sorted(len(inputs[i]) for i in quality.probe_indices(inputs))
    assert sum(plan.probe_set.long) == sum(data.long[i] for i in quality.probe_indices(inputs))
