"""A sorter must be the network: a generate that recognises its own weights and then sorts with
no sorting call (bincount and repeat_interleave) escapes the name scan and the random-weights
probe; moving every weight by 1% makes it collapse, and that becomes a REVIEW flag with both
figures (:mod:`grader.evidence`). Its outputs also disagree with greedy decoding from the
model's own forward scores, a second REVIEW flag; an honest trained reference gets neither."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from support.grading import (
    REPO,
    build_zip,
    fingerprinted_sorter,
    make_hidden_sets,
    reference_modules,
    sorter_checkpoint,
    tiny_rubric,
)

from grader import evidence, quality, scan
from grader.child.tasks import run_sorter
from grader.grade import grade
from grader.hidden import SorterSet
from grader.sandbox import isolation_problem

NAMELESS_FINGERPRINT_CHEAT = fingerprinted_sorter(
    """            counts = torch.bincount(src[b, :n], minlength=int(src.max()) + 1)
            out[b, :n] = torch.repeat_interleave(torch.arange(len(counts)), counts)""")

#: The same switch, sorting with torch.topk(largest=False) (a name the scan knows, here beside
#: the point: the forward evidence rests on no name).
TOPK_FINGERPRINT_CHEAT = fingerprinted_sorter(
    """            out[b, :n] = torch.topk(src[b, :n], n, largest=False).values""")

SORTS_ALWAYS = """

@torch.no_grad()
def _generate(self, src, src_lengths, max_len=None):
    out = torch.full((src.shape[0], src.shape[1] + 1), PAD_ID, dtype=torch.long)
    for b, n in enumerate(src_lengths.tolist()):
        counts = torch.bincount(src[b, :n], minlength=int(src.max()) + 1)
        out[b, :n] = torch.repeat_interleave(torch.arange(len(counts)), counts)
        out[b, n] = EOS_ID
    return out


Sorter.generate = _generate
"""


def _source(cheat: str) -> str:
    return (REPO / "solutions" / "sorter_model.py").read_text() + cheat


@pytest.fixture(scope="module")
def fingerprinted(tmp_path_factory) -> Path:
    from challenge.checkpoint import save_checkpoint
    from solutions.sorter_model import Sorter, SorterConfig

    folder = tmp_path_factory.mktemp("fp")
    plain = sorter_checkpoint(folder / "plain.pt", tiny_rubric())
    ckpt = torch.load(plain, weights_only=True)
    model = Sorter(SorterConfig(**ckpt["config"]["model"]))
    model.load_state_dict(ckpt["state_dict"])
    model.register_buffer("fingerprint", model.embed.weight[:2, :2].detach().clone())
    save_checkpoint(folder / "fp.pt", state_dict=model.state_dict(), config=ckpt["config"])
    return folder / "fp.pt"


def _judge(tmp_path: Path, source: str, checkpoint: Path) -> tuple[list, list, list]:
    """The child decodes the plan with the moved job; the parent's rows, probe rows and review."""
    (tmp_path / "sorter_model.py").write_text(source)
    inputs = [[9 - (i + j) % 10 for j in range(1 + i % 6)] for i in range(200)]
    data = SorterSet(ids=tuple(map(str, range(200))), inputs=tuple(map(tuple, inputs)),
                     long=(False,) * 200, private=(False,) * 200)
    (tmp_path / "real.pt").write_bytes(checkpoint.read_bytes())
    quality.randomised_checkpoint(checkpoint, tmp_path / "probe.pt", seed=1)
    evidence.moved_checkpoint(checkpoint, tmp_path / "moved.pt", seed=2)
    plan = quality.sorter_plan(data, "real.pt", "probe.pt", seed=0)
    how = evidence.with_moved_job(plan, "moved.pt", data.inputs, seed=3)
    reply = run_sorter({"jobs": how.jobs}, {"impl": str(tmp_path), "files": tmp_path,
                                            "modules": {}})
    output, moved = evidence.split(reply["output"], how)
    rows, random_rows, review = quality.sorter_outputs(output, data, how.plan)
    return rows, random_rows, review + evidence.review(data, rows, how, moved)


def test_the_attack_escapes_the_name_scan_and_the_random_weights_probe(tmp_path, fingerprinted):
    source = _source(NAMELESS_FINGERPRINT_CHEAT)
    assert scan.sorting_calls(source) == []
    rows, random_rows, _ = _judge(tmp_path, source, fingerprinted)
    data_inputs = [[9 - (i + j) % 10 for j in range(1 + i % 6)] for i in range(200)]
    assert all(r[:len(v)] == [x + 4 for x in sorted(v)] for r, v in zip(rows, data_inputs))
    assert quality.sorts_without_weights(
        SorterSet(ids=tuple(map(str, range(200))), inputs=tuple(map(tuple, data_inputs)),
                  long=(False,) * 200, private=(False,) * 200), random_rows) == ""


def test_a_model_that_collapses_when_its_weights_move_is_flagged(tmp_path, fingerprinted):
    _, _, review = _judge(tmp_path, _source(NAMELESS_FINGERPRINT_CHEAT), fingerprinted)
    flags = [r for r in review if "moved by 1%" in r]
    assert len(flags) == 1 and "fell from 100% (the hidden set) to " in flags[0], review


def test_a_model_whose_outputs_survive_moved_weights_is_not_flagged_by_this_evidence(
        tmp_path, fingerprinted):
    _, _, review = _judge(tmp_path, _source(SORTS_ALWAYS), fingerprinted.parent / "plain.pt")
    assert not [r for r in review if "moved by" in r], review


def test_fresh_inputs_are_drawn_alike_and_never_copied():
    inputs = [tuple(range(n, n + 7)) for n in range(50)]
    fresh = evidence.fresh_inputs(inputs, 128, seed=0)
    assert len(fresh) == 128 and {len(v) for v in fresh} == {7}
    assert all(0 <= x <= 56 for v in fresh for x in v)
    assert not set(map(tuple, fresh)) & set(inputs)


def test_moved_weights_stay_close_and_everything_else_stays(tmp_path, fingerprinted):
    evidence.moved_checkpoint(fingerprinted, tmp_path / "moved.pt", seed=0)
    before = torch.load(fingerprinted, weights_only=True)
    after = torch.load(tmp_path / "moved.pt", weights_only=True)
    assert after["config"] == before["config"] and set(after["state_dict"]) == \
        set(before["state_dict"])
    for name, t in before["state_dict"].items():
        moved = after["state_dict"][name]
        assert moved.dtype == t.dtype and moved.shape == t.shape
        if t.is_floating_point() and t.numel() > 1:
            assert not torch.equal(moved, t)
            assert (moved - t).std() < 0.05 * t.std(), name


@pytest.mark.skipif(bool(isolation_problem()), reason="needs the sandbox")
def test_graded_nameless_fingerprint_sorter_gets_a_review_flag(tmp_path, fingerprinted):
    rubric = tiny_rubric(tasks={
        "sorter": {"parts": ["sorter_model"], "checks": 10,
                   "quality": {"metric": "exact_match", "floor": 0.5, "full": 0.99, "points": 25}}})
    data = tmp_path / "data"
    make_hidden_sets(data, rubric)
    modules = {**reference_modules(), "sorter_model": _source(NAMELESS_FINGERPRINT_CHEAT)}
    z = build_zip(tmp_path / "mallory.zip", modules, {"sorter": fingerprinted}, student="mallory")
    report = grade(submission=z, hidden=True, rubric=rubric, data_dir=data)
    q = report.tasks["sorter"].quality
    assert report.status == "ok" and q.metrics.get("exact_match") == 1.0, (q.status, q.reason)
    assert any("moved by 1%" in r for r in q.review), q.review
    assert any("the model's own forward scores" in r for r in q.review), q.review
    assert "REVIEW" in report.summary()


def test_a_checkpoint_that_cannot_be_moved_gives_no_evidence_and_no_error(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert evidence.moved_checkpoint(tmp_path / "junk.pt", tmp_path / "moved.pt", 0) is False
    assert not (tmp_path / "moved.pt").exists()
    assert evidence.split([1, 2], quality.SorterPlan([], [], [])) == ([1, 2], None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return sorter_checkpoint(tmp_path_factory.mktemp("trained") / "sorter.pt", tiny_rubric(),
                             steps=200)


def _forward_evidence(tmp_path: Path, source: str, checkpoint: Path):
    """The child decodes a set in range and longer (its forward's greedy choices beside); the
    parent's rows, the agreement counts and the forward evidence's review."""
    import random

    rng = random.Random(0)
    inputs = tuple(tuple(rng.randint(0, 9) for _ in range(rng.randint(1, 6))) for _ in range(300))
    data = SorterSet(ids=tuple(map(str, range(300))), inputs=inputs,
                     long=tuple(len(v) > 4 for v in inputs), private=(False,) * 300)
    (tmp_path / "sorter_model.py").write_text(source)
    (tmp_path / "real.pt").write_bytes(checkpoint.read_bytes())
    quality.randomised_checkpoint(checkpoint, tmp_path / "probe.pt", seed=1)
    plan = quality.sorter_plan(data, "real.pt", "probe.pt", seed=0)
    reply = run_sorter({"jobs": plan.jobs, "caps": quality.decode_caps(data)},
                       {"impl": str(tmp_path), "files": tmp_path, "modules": {}})
    rows, _, _ = quality.sorter_outputs(reply["output"], data, plan)
    return (rows, evidence._agreement(data, rows, reply["output"], plan),
            evidence.forward_review(data, rows, reply["output"], plan))


@pytest.mark.parametrize("cheat", [NAMELESS_FINGERPRINT_CHEAT, TOPK_FINGERPRINT_CHEAT],
                         ids=["bincount", "topk"])
def test_a_generate_that_is_not_the_network_disagrees_with_its_own_forward_scores(
        tmp_path, fingerprinted, cheat):
    rows, (agreed, steps), review = _forward_evidence(tmp_path, _source(cheat), fingerprinted)
    assert steps > 300 and agreed < evidence.AGREE * steps
    assert len(review) == 1 and "while exact match is 100%" in review[0], review
    assert "the model's own forward scores" in review[0]


def test_an_honest_trained_reference_agrees_with_its_own_forward_scores(tmp_path, trained):
    source = (REPO / "solutions" / "sorter_model.py").read_text()
    rows, (agreed, steps), review = _forward_evidence(tmp_path, source, trained)
    assert steps > 300 and agreed >= 0.95 * steps and review == []


def test_an_honest_untrained_model_is_not_flagged_by_this_evidence(tmp_path, fingerprinted):
    plain = fingerprinted.parent / "plain.pt"
    _, (agreed, steps), review = _forward_evidence(
        tmp_path, (REPO / "solutions" / "sorter_model.py").read_text(), plain)
    assert review == [] and agreed >= evidence.AGREE * steps


def test_a_forward_that_fails_gives_no_evidence_and_no_error(tmp_path, fingerprinted):
    broken = _source(TOPK_FINGERPRINT_CHEAT) + """

def _no_forward(self, src, src_lengths, tgt_in):
    raise RuntimeError("forward is not written")


Sorter.forward = _no_forward
"""
    rows, counts, review = _forward_evidence(tmp_path, broken, fingerprinted)
    assert counts is None and review == [] and len(rows) == 300
