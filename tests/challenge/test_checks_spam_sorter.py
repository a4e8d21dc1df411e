"""The spam_model and sorter_model checks name the real cause of a student's mistake: an error
raised deep inside torch points at the student's own line, the parameters no gradient reached
are named, and an uncapped or <sos>-emitting generate is told so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from challenge.checks import all_checks, execute, run_local
from challenge.checks.base import Check

ROOT = Path(__file__).resolve().parents[2]

SPAM_MODEL = '''"""A student's spam model: an LSTM over packed sequences, the last state, a head."""
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class SpamModelConfig:
    vocab_size: int
    embed_dim: int = 8
    hidden_size: int = 6
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0
    pooling: str = "max"
    pad_id: int = 0


class SpamClassifier(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim, padding_idx=config.pad_id)
        self.lstm = nn.LSTM(config.embed_dim, config.hidden_size, batch_first=True,
                            bidirectional=config.bidirectional, num_layers=config.num_layers)
        width = config.hidden_size * (2 if config.bidirectional else 1)
        self.attend = nn.Linear(width, 1)
        self.head = nn.Linear(width, 1)

    def forward(self, ids, lengths):
        x = self.embed(ids)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), PACKING)
        _, (h, _) = self.lstm(packed)
        summary = torch.cat([h[-2], h[-1]], dim=-1) if self.lstm.bidirectional else h[-1]
        return self.head(summary).squeeze(-1)
'''


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spam(tmp_path: Path, packing: str) -> dict:
    (tmp_path / "spam_model.py").write_text(SPAM_MODEL.replace("PACKING", packing))
    return {r.name: r for r in run_local(str(tmp_path), parts=["spam_model"])}


def test_packing_without_batch_first_names_the_students_line_and_batch_first(tmp_path):
    results = _spam(tmp_path, "enforce_sorted=False")
    line = SPAM_MODEL.splitlines().index("        _, (h, _) = self.lstm(packed)") + 1
    for result in results.values():
        assert result.status == "error"
        assert result.message.startswith(f"raised RuntimeError at spam_model.py:{line} in forward "
                                         f"(`_, (h, _) = self.lstm(packed)`): ")
        assert "_device.py" not in result.message and "__torch_function__" not in result.message
        assert "Hint: a shape mismatch: forward gets ids (B, T), batch first; pass " \
               "batch_first=True to pack_padded_sequence" in result.message


def test_gradients_flow_names_the_parameters_no_gradient_reached(tmp_path):
    results = _spam(tmp_path, "batch_first=True, enforce_sorted=False")
    assert [n for n, r in results.items() if not r.passed] == ["gradients_flow"]
    message = results["gradients_flow"].message
    assert "only 11 of 13 parameters got a gradient; no gradient reached: attend.weight, " \
           "attend.bias;" in message


def test_an_error_without_a_frame_in_the_students_file_keeps_the_innermost_outside_frame():
    def run(module, data):
        return int("x")     # raised in this test file; the module has no file of its own

    check = Check("tokenizer", "t", 1.0, lambda seed: None, run, lambda data, out: None)
    outcome = execute(check, object(), None)
    assert outcome.status == "error"
    assert outcome.message.startswith("raised ValueError at test_checks_spam_sorter.py:")
    assert " in run: invalid literal" in outcome.message


def test_a_failing_explain_never_hides_the_error():
    def explain(error):
        raise KeyError("ours")

    check = Check("tokenizer", "t", 1.0, lambda seed: None, lambda m, d: 1 / 0,
                  lambda data, out: None, explain=explain)
    outcome = execute(check, object(), None)
    assert "raised ZeroDivisionError" in outcome.message and "Hint" not in outcome.message


def _sorter(tmp_path: Path, line: str) -> dict:
    """The reference sorter without ``line``."""
    source = (ROOT / "solutions" / "sorter_model.py").read_text()
    assert source.count(line + "\n") == 1, "the reference changed; update this mutation"
    (tmp_path / "sorter_model.py").write_text(source.replace(line + "\n", ""))
    return {r.name: r for r in run_local(str(tmp_path), parts=["sorter_model"])}


def test_an_uncapped_generate_is_named_as_uncapped_not_as_packing(tmp_path):
    results = _sorter(tmp_path, "            token = torch.where(cap <= t, EOS_ID, token)")
    message = results["generate_rows_independent"].message
    assert not results["generate_rows_independent"].passed
    assert "it is not capped at its own length" in message
    assert "force <eos> once row b has emitted src_lengths[b] values" in message
    assert "pack" not in message
    assert "force <eos> when a row reaches its length cap" in results["generate_valid"].message


def test_an_emitted_sos_is_named_as_sos_which_may_never_come_out(tmp_path):
    results = _sorter(tmp_path, '                logits[:, :EOS_ID] = float("-inf")  # never '
                                '<pad>, <unk> or <sos>')
    for name in ("generate_valid", "generate_max_len"):
        message = results[name].message
        assert "emits id 2 (<sos>) before <eos>" in message
        assert "<sos> may never be emitted, it only starts decoding" in message
        assert "set the logits of <pad> (0), <unk> (1), <sos> (2) to -inf" in message


def test_the_checks_special_ids_are_the_vocabularys():
    from challenge.checks.sorter_model import _never_emitted, _special_name
    from challenge.data.sequences import EOS_ID, SOS_ID, SPECIAL_TOKENS

    assert _special_name(SOS_ID) == f" ({SPECIAL_TOKENS[SOS_ID]})" == " (<sos>)"
    assert _special_name(len(SPECIAL_TOKENS)) == "" and _never_emitted(EOS_ID) == ""


@pytest.mark.parametrize("part", ["spam_model", "sorter_model"])
def test_the_solutions_pass_every_changed_check(part):
    results = run_local("solutions", parts=[part])
    assert len(results) == len(all_checks([part]))
    assert [r.message for r in results if not r.passed] == []
