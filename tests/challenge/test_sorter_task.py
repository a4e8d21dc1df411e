"""The sorter task: evaluation metrics, training to a checkpoint and back, and the CLI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from challenge.checkpoint import load_checkpoint
from challenge.cli import main
from challenge.data.sequences import (
    EOS_ID,
    PAD_ID,
    collate,
    encode_values,
    make_sequences,
)
from challenge.errors import ChallengeError
from challenge.tasks.config import SorterTraining, override
from challenge.tasks.sorter import evaluate_sorter, load_sorter, train_sorter

ROOT = Path(__file__).resolve().parents[2]
#: A tiny pointer sorter that learns lengths 1..4 of values 0..4 in seconds.
TINY = override(SorterTraining(), arch="pointer", min_len=1, max_len=4, vocab=5, minutes=None,
                steps=120, seed=0, batch_size=64, lr=1e-2, embed_dim=16, hidden_size=32,
                dev_size=200, eval_every=40)


class Scripted(torch.nn.Module):
    """A stand-in model whose greedy output is ``rule(values)``, to test the metrics."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def generate(self, src, src_lengths, max_len=None):
        rows = [encode_values(self.rule([v - 4 for v in src[b, :n].tolist()])) + [EOS_ID]
                for b, n in enumerate(src_lengths.tolist())]
        width = max(len(r) for r in rows)
        return torch.tensor([r + [PAD_ID] * (width - len(r)) for r in rows])


def test_evaluate_sorter_metrics():
    pairs = [([3, 1, 2], [1, 2, 3]), ([5, 4], [4, 5])]
    assert evaluate_sorter(Scripted(sorted), pairs) == {
        "exact_match": 1.0, "token_accuracy": 1.0, "permutation": 1.0, "early_eos": 0.0, "n": 2}
    same = evaluate_sorter(Scripted(list), pairs)   # echoes the input: a permutation, unsorted
    assert same["exact_match"] == 0.0 and same["permutation"] == 1.0
    assert same["token_accuracy"] == pytest.approx(2 / 7)   # only the two <eos> line up
    short = evaluate_sorter(Scripted(lambda v: sorted(v)[:1]), pairs)
    assert short["early_eos"] == 1.0 and short["permutation"] == 0.0
    with pytest.raises(ChallengeError, match="empty"):
        evaluate_sorter(Scripted(sorted), [])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "sorter.pt"
    run = train_sorter(TINY, out=path, progress=False)
    return run


def test_checkpoint_round_trip_reproduces_the_dev_metrics(trained):
    ckpt = load_checkpoint(trained.path)
    assert ckpt["config"]["task"] == "sorter" and ckpt["config"]["model"]["arch"] == "pointer"
    assert ckpt["tokenizer"]["value_offset"] == 4 and ckpt["metrics"] == trained.metrics
    model, _ = load_sorter(trained.path)
    dev = make_sequences(200, ckpt["config"]["dev"]["seed"], 1, 4, 0, 4)
    metrics = evaluate_sorter(model, dev)
    assert metrics == pytest.approx({k: trained.metrics[k] for k in metrics})
    with torch.no_grad():
        assert float(model.loss(*collate(dev))) == pytest.approx(trained.metrics["loss"])
    again, _ = load_sorter(trained.path)
    src = torch.tensor([[8, 4, 6, 4], [5, 7, 0, 0]])
    assert torch.equal(model.generate(src, torch.tensor([4, 2])),
                       again.generate(src, torch.tensor([4, 2])))
    assert trained.metrics["exact_match"] >= 0.9


def test_same_seed_same_model(trained, tmp_path):
    run = train_sorter(TINY, out=tmp_path / "again.pt", progress=False)
    a, b = load_checkpoint(trained.path)["state_dict"], load_checkpoint(run.path)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_load_sorter_refuses_other_checkpoints(tmp_path, trained):
    from challenge.checkpoint import save_checkpoint
    other = save_checkpoint(tmp_path / "spam.pt", state_dict={}, config={"task": "spam"})
    with pytest.raises(ChallengeError, match="not a sorter checkpoint"):
        load_sorter(other)
    ckpt = load_checkpoint(trained.path)
    ckpt["config"]["model"]["hidden_size"] = 8
    bad = save_checkpoint(tmp_path / "bad.pt", **{k: ckpt[k] for k in ("state_dict", "config")})
    with pytest.raises(ChallengeError, match="does not fit"):
        load_sorter(bad)


def _stub(tmp_path) -> str:
    """The student's view of the reference: every fenced block replaced by its hints."""
    text = (ROOT / "solutions" / "sorter_model.py").read_text()

    def strip(m):
        hints = " ".join(re.findall(r"# HINT: (.*)", m.group(2))) or "see the docstring"
        return f"{m.group(1)}raise NotImplementedError({hints!r})\n"

    stub = re.sub(r"( *)# BEGIN SOLUTION\n(.*?)\1# END SOLUTION\n", strip, text, flags=re.S)
    (tmp_path / "sorter_model.py").write_text(stub)
    return str(tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--arch", "unknown"], "model.arch (--arch) must be one of seq2seq, attention, pointer, "
                            "got 'unknown'"),
    (["--max-len", "0"], "data.max_len (--max-len) must be an integer at least data.min_len (1)"),
    (["--vocab", "1"], "data.vocab (--vocab) must be an integer >= 2, got 1"),
    (["--minutes", "-1"], "loop.minutes (--minutes) must be a number > 0 or None, got -1.0"),
    (["--minutes", "0"], "loop.minutes (--minutes) must be a number > 0 or None, got 0.0"),
    (["--impl", "no/such/folder"], "no/such/folder"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["train", "sorter", *args, "--out", str(out)])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_unfinished_stub_is_a_clear_error(tmp_path):
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["train", "sorter", "--impl", _stub(tmp_path),
                                       "--minutes", "0.05", "--out", str(out)])
    assert result.exit_code == 1 and "sorter_model.py in " in result.output
    assert "is not finished: nn.Embedding(" in result.output
    assert result.output.rstrip().endswith("or use --impl solutions")   # the kit has the reference
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("edit, message", [
    # a field the task passes is gone from the student's config
    (lambda t: t.replace('    arch: str = "pointer"', ""), "unexpected keyword argument 'arch'"),
    # the config class itself was renamed
    (lambda t: t.replace("class SorterConfig", "class Settings"), "has no SorterConfig"),
    # a method the training loop and the grader call
    (lambda t: t.replace("    def generate(", "    def greedy("), "has no Sorter.generate"),
    # a loss per token instead of their mean: backward() would fail on it
    (lambda t: t.replace("ignore_index=PAD_ID)", "ignore_index=PAD_ID, reduction='none')"),
     "Sorter.loss returned a torch.float32 tensor of shape ("),
], ids=["field_removed", "class_renamed", "method_renamed", "loss_not_reduced"])
def test_cli_a_sorter_module_the_task_cannot_use_is_one_line(tmp_path, edit, message):
    text = (ROOT / "solutions" / "sorter_model.py").read_text()
    assert edit(text) != text
    (tmp_path / "sorter_model.py").write_text(edit(text))
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["train", "sorter", "--impl", str(tmp_path),
                                       "--minutes", "0.05", "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "sorter_model in " in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("error, one_line", [
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                  "allocate memory: you tried to allocate 524025856000 bytes."), True),
    (MemoryError(), True),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x6)"), False),  # a bug
])
def test_running_out_of_memory_is_one_line_naming_max_len(tmp_path, monkeypatch, error, one_line):
    import challenge.training

    def fit(self, batches):
        raise error

    monkeypatch.setattr(challenge.training.Trainer, "fit", fit)
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["train", "sorter", "--max-len", "5000", "--minutes", "0.05",
                                       "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    if one_line:
        assert result.output == ("Error: out of memory training the sorter: batches of 256 "
                                 "sequences up to 5000 long need more than this machine has; use "
                                 "a smaller --max-len (the graded setting is 20)\n")
    else:
        assert result.exception is error        # a real bug keeps its traceback


def test_cli_trains_and_prints_json(tmp_path):
    out = tmp_path / "model.pt"
    env = {**os.environ, "CHALLENGE_QUIET": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    exe = str(Path(sys.executable).parent / "challenge")   # the installed entry point
    proc = subprocess.run([exe, "train", "sorter", "--max-len",
                           "3", "--vocab", "5", "--minutes", "0.03", "--json", "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)
    assert run["path"] == str(out) and out.is_file() and run["steps"] >= 1
    assert set(run["metrics"]) >= {"exact_match", "token_accuracy", "permutation", "early_eos"}
