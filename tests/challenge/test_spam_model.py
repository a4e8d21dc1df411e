"""The reference spam classifier: shapes, padding invariance, equivalence with packing, learning,
and the public checks (which must pass on the reference and fail on typical mistakes)."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from challenge.checks import run_local
from solutions.spam_model import SpamClassifier, SpamModelConfig, reverse_within_length

OPTIONS = [(layers, bi, pooling) for layers in (1, 2) for bi in (False, True)
           for pooling in ("last", "max", "mean", "attention")]


def _model(seed: int = 0, **kw) -> SpamClassifier:
    torch.manual_seed(seed)
    config = {"vocab_size": 50, "embed_dim": 8, "hidden_size": 6, "dropout": 0.0, **kw}
    return SpamClassifier(SpamModelConfig(**config)).eval()


def _batch(seed: int = 0, lengths=(5, 1, 9, 3), width: int | None = None):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    T = width or int(lengths.max())
    ids = torch.randint(1, 50, (len(lengths), T), generator=g)
    ids[torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    return ids, lengths


def test_one_batch_smoke():
    model = _model(dropout=0.2).train()
    ids, lengths = _batch()
    logits = model(ids, lengths)
    assert logits.shape == (4,) and logits.dtype == torch.float32
    nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(4)).backward()
    assert model.embedding.weight.grad is not None


@pytest.mark.parametrize("layers,bi,pooling", OPTIONS)
def test_same_logit_alone_and_padded_to_three_times_its_length(layers, bi, pooling):
    model = _model(num_layers=layers, bidirectional=bi, pooling=pooling)
    message = torch.randint(1, 50, (1, 7), generator=torch.Generator().manual_seed(3))
    alone = model(message, torch.tensor([7]))
    ids, lengths = _batch(seed=1, lengths=(4, 7, 21), width=21)    # 3x the message's length
    ids[1, :7] = message[0]
    batched = model(ids, lengths)
    assert torch.allclose(batched[1], alone[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("layers,bi,pooling", OPTIONS)
def test_equals_pack_padded_sequence_through_torch_lstm(layers, bi, pooling):
    """The reference skips packing; a stock nn.LSTM fed packed sequences, with the same
    weights, must give the same logits."""
    model = _model(num_layers=layers, bidirectional=bi, pooling=pooling)
    lstm = nn.LSTM(8, 6, num_layers=layers, bidirectional=bi, batch_first=True)
    weights = {}
    for i in range(layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            weights[f"{name}_l{i}"] = getattr(model.forward_layers[i], f"{name}_l0")
            if bi:
                weights[f"{name}_l{i}_reverse"] = getattr(model.backward_layers[i], f"{name}_l0")
    lstm.load_state_dict(weights)
    ids, lengths = _batch(seed=2, lengths=(5, 1, 9, 3, 9), width=12)
    with torch.no_grad():
        x = model.embedding(ids)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                   enforce_sorted=False)
        out, (h, _) = lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=12)
        mask = (torch.arange(12).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        if pooling == "last":
            summary = torch.cat([h[-2], h[-1]], dim=-1) if bi else h[-1]
        elif pooling == "max":
            summary = out.masked_fill(~mask, float("-inf")).amax(dim=1)
        elif pooling == "attention":
            scores = model.attend(out).masked_fill(~mask, float("-inf"))     # (B, T, 1)
            summary = (torch.softmax(scores, dim=1) * out).sum(dim=1)
        else:
            summary = (out * mask).sum(dim=1) / lengths.unsqueeze(1)
        expected = model.head(summary).squeeze(-1)
        got = model(ids, lengths)
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)


def test_reverse_within_length_keeps_padding_and_is_an_involution():
    x = torch.arange(10.0).reshape(5, 2, 1)            # (T, B, 1): column b is one sequence
    lengths = torch.tensor([3, 5])
    rev = reverse_within_length(x, lengths)
    assert rev[:, 0, 0].tolist() == [4.0, 2.0, 0.0, 6.0, 8.0]
    assert rev[:, 1, 0].tolist() == [9.0, 7.0, 5.0, 3.0, 1.0]
    assert torch.equal(reverse_within_length(rev, lengths), x)


def test_learns_a_separable_toy_task():
    """Messages holding token 7 are spam; the model must fit them perfectly, fast."""
    g = torch.Generator().manual_seed(0)
    n, T = 64, 12
    lengths = torch.randint(3, T + 1, (n,), generator=g)
    ids = torch.randint(10, 50, (n, T), generator=g)
    labels = (torch.arange(n) % 2).float()
    for b in range(n):
        if labels[b]:
            ids[b, int(torch.randint(0, int(lengths[b]), (1,), generator=g))] = 7
    ids[torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    model = _model(seed=0, embed_dim=16, hidden_size=16).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = nn.functional.binary_cross_entropy_with_logits(model(ids, lengths), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    accuracy = float(((model(ids, lengths) > 0).float() == labels).float().mean())
    assert losses[-1] < 0.1 * losses[0]
    assert accuracy == 1.0


def test_config_rejects_unknown_pooling():
    with pytest.raises(ValueError, match="pooling"):
        SpamModelConfig(vocab_size=10, pooling="median")


@pytest.mark.parametrize("bi", [False, True])
def test_attention_with_a_flat_scorer_is_the_masked_mean(bi):
    """Equal scores must spread the weight over the real positions only: the mean pooling."""
    attention = _model(bidirectional=bi, pooling="attention")
    mean = _model(bidirectional=bi, pooling="mean")
    mean.load_state_dict({k: v for k, v in attention.state_dict().items()
                          if not k.startswith("attend.")})
    with torch.no_grad():
        attention.attend.weight.zero_()
    ids, lengths = _batch(seed=4, lengths=(6, 2, 11), width=15)
    assert torch.allclose(attention(ids, lengths), mean(ids, lengths), atol=1e-6, rtol=0)
    with torch.no_grad():
        attention.attend.weight.normal_(generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(attention(ids, lengths), mean(ids, lengths), atol=1e-4, rtol=0)


def test_public_checks_pass_on_the_reference():
    results = run_local("solutions", ["spam_model"])
    assert results and all(r.passed for r in results), [r.summary() for r in results]


PACKED = '''
import torch
from dataclasses import dataclass
from torch import nn

@dataclass(frozen=True)
class SpamModelConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.2
    pooling: str = "max"
    pad_id: int = 0

class SpamClassifier(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.emb = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id)
        self.lstm = nn.LSTM(c.embed_dim, c.hidden_size, c.num_layers, batch_first=True,
                            bidirectional=c.bidirectional)
        self.head = nn.Linear(c.hidden_size * (2 if c.bidirectional else 1), 1)
        if c.pooling == "attention":
            self.attend = nn.Linear(c.hidden_size * (2 if c.bidirectional else 1), 1)

    def forward(self, ids, lengths):
        T = ids.shape[1]
        x = self.emb(ids)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
        BUG
        mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)
        if self.c.pooling == "last":
            s = torch.cat([h[-2], h[-1]], -1) if self.c.bidirectional else h[-1]
        elif self.c.pooling == "max":
            s = out.masked_fill(~mask, float("-inf")).amax(1)
        elif self.c.pooling == "attention":
            w = torch.softmax(self.attend(out).masked_fill(~mask, float("-inf")), 1)
            s = (w * out).sum(1)
        else:
            s = (out * mask).sum(1) / lengths.unsqueeze(1)
        return self.head(s).squeeze(-1)
'''


def _impl(tmp_path, bug: str = "pass"):
    (tmp_path / "spam_model.py").write_text(PACKED.replace("BUG", bug), encoding="utf-8")
    return str(tmp_path)


def test_public_checks_pass_on_a_packed_student_model(tmp_path):
    results = run_local(_impl(tmp_path), ["spam_model"])
    assert all(r.passed for r in results), [r.summary() for r in results]


def test_padding_mistakes_fail_with_a_hint(tmp_path):
    # Pooling over every position, padding included: the classic mistake.
    bug = ("mask = torch.ones_like(out[..., :1], dtype=torch.bool); "
           "lengths = torch.full_like(lengths, T)")
    text = PACKED.replace("BUG", bug).replace(
        "        mask = (torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(-1)\n", "")
    (tmp_path / "spam_model.py").write_text(text, encoding="utf-8")
    results = {r.name: r for r in run_local(str(tmp_path), ["spam_model"])}
    assert results["output_shape"].passed
    failed = results["padding_invariance"]
    assert not failed.passed and "pack_padded_sequence" in failed.message
    assert "pooling='max'" in failed.message or "pooling='mean'" in failed.message


def test_unmasked_attention_fails_naming_the_attention_option(tmp_path):
    # Softmax over every position: the padding takes part of the weight.
    text = PACKED.replace("BUG", "pass").replace(
        'w = torch.softmax(self.attend(out).masked_fill(~mask, float("-inf")), 1)',
        "w = torch.softmax(self.attend(out), 1)")
    (tmp_path / "spam_model.py").write_text(text, encoding="utf-8")
    results = {r.name: r for r in run_local(str(tmp_path), ["spam_model"])}
    failed = results["padding_invariance"]
    assert not failed.passed and "pooling='attention'" in failed.message
    assert "attention softmax" in failed.message
    assert results["output_shape"].passed and results["config_options"].passed


def test_padding_failure_says_which_logit_is_the_batch_and_which_the_message_alone(tmp_path):
    text = PACKED.replace("BUG", "pass").replace(
        'w = torch.softmax(self.attend(out).masked_fill(~mask, float("-inf")), 1)',
        "w = torch.softmax(self.attend(out), 1)")
    (tmp_path / "spam_model.py").write_text(text, encoding="utf-8")
    message = {r.name: r for r in run_local(str(tmp_path), ["spam_model"])}[
        "padding_invariance"].message
    assert re.search(r"logits in a batch padded to (\d+) tokens \(got\) against each message "
                     r"alone \(expected\)", message), message
    assert re.search(r"message (\d+) \((\d+) real tokens\) gets \S+ in the batch, padded to \d+ "
                     r"tokens, and \S+ alone, unpadded", message), message


@pytest.mark.parametrize("pooling, bug, said", [
    ("all", "return self.head(s)", "one logit per message: squeeze the head's (B, 1) output"),
    ("max", 'return self.head(s).squeeze(-1) if self.c.pooling != "max" else self.head(s)[:2, 0]',
     "the shape is right, so look at what this setting changes"),
], ids=["not_squeezed", "one_setting"])
def test_config_options_hint_fits_the_failure(tmp_path, pooling, bug, said):
    (tmp_path / "spam_model.py").write_text(
        PACKED.replace("BUG", "pass").replace("return self.head(s).squeeze(-1)", bug),
        encoding="utf-8")
    failed = {r.name: r for r in run_local(str(tmp_path), ["spam_model"])}["config_options"]
    assert not failed.passed and said in failed.message, failed.message
    if pooling == "all":
        assert "every combination" not in failed.message and "with " not in failed.message


def _wide_only(**kw) -> SpamClassifier:
    """A reference model whose LSTM summary is silenced (zero head), so its logit is the wide
    part alone, with seeded nonzero wide weights."""
    model = _model(**kw)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.wide.normal_(generator=torch.Generator().manual_seed(7))
    return model


def test_the_wide_part_starts_at_zero_so_the_untrained_logit_is_the_lstms():
    model = _model()
    assert model.wide.shape == (50,) and not model.wide.any()


@pytest.mark.parametrize("pooling", ["last", "attention"])
def test_the_wide_part_reads_the_set_of_real_tokens_scaled_by_its_size(pooling):
    model = _wide_only(pooling=pooling)
    ids = torch.tensor([[5, 9, 5, 7, 0, 0], [3, 3, 3, 8, 8, 4]])       # row 0: 4 real tokens
    lengths = torch.tensor([4, 3])                                       # row 1: 8, 8, 4 junk
    with torch.no_grad():
        got = model(ids, lengths)
    w = model.wide.detach()
    expected = torch.stack([(w[5] + w[9] + w[7]) / 3 ** 0.5, w[3] / 1.0])
    assert torch.allclose(got, expected, atol=1e-6, rtol=0)


def test_the_wide_part_ignores_order_and_repeats_but_not_a_new_token():
    model = _wide_only()
    with torch.no_grad():
        a = model(torch.tensor([[4, 6, 11]]), torch.tensor([3]))
        b = model(torch.tensor([[11, 4, 6, 4, 11]]), torch.tensor([5]))
        c = model(torch.tensor([[11, 4, 6, 12]]), torch.tensor([4]))
    assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert not torch.allclose(a, c, atol=1e-4, rtol=0)


def test_the_wide_part_learns_a_token_the_lstm_has_no_time_to():
    """Trained alone (LSTM frozen), the wide weights move toward the token that marks spam."""
    model = _model().train()
    for name, p in model.named_parameters():
        p.requires_grad_(name == "wide")
    opt = torch.optim.Adam([model.wide], lr=0.1)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 50, (512, 6), generator=g)                    # token 3 nowhere
    labels = (torch.arange(512) % 2).float()
    ids[labels == 1, 2] = 3                                              # spam says token 3
    lengths = torch.full((512,), 6)
    for _ in range(50):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(ids, lengths), labels).backward()
        opt.step()
    others = torch.cat([model.wide[:3], model.wide[4:]]).abs().max()
    assert model.wide[3] > 1.0 and model.wide[3] > 2 * others
    with torch.no_grad():
        assert ((model(ids, lengths) > 0).float() == labels).float().mean() >= 0.95
