"""The reference sorter: shapes, teacher forcing, greedy decoding, learning a tiny problem, and the
grader's checks (they pass on the reference and catch broken variants)."""

import re
from pathlib import Path

import pytest
import torch

from challenge.checks import run_local
from challenge.data.sequences import (
    EOS_ID,
    PAD_ID,
    SequenceConfig,
    SOS_ID,
    SequenceStream,
    collate,
    make_sequences,
)
from challenge.tasks.sorter import evaluate_sorter
from solutions.sorter_model import (
    ARCHS,
    Sorter,
    SorterConfig,
    decoder_inputs,
    used_positions,
)

SOURCE = Path(__file__).resolve().parents[2] / "solutions" / "sorter_model.py"


def tiny(arch, vocab=14, seed=0):
    torch.manual_seed(seed)
    return Sorter(SorterConfig(vocab_size=vocab, embed_dim=8, hidden_size=16, arch=arch)).eval()


@pytest.fixture(scope="module")
def batch():
    return collate(make_sequences(6, seed=1, min_len=1, max_len=7, low=0, high=9))


@pytest.mark.parametrize("arch", ARCHS)
def test_one_batch_smoke(arch, batch):
    src, lengths, tgt = batch
    model = tiny(arch).train()
    logits = model(src, lengths, decoder_inputs(tgt))
    assert logits.shape == (src.shape[0], tgt.shape[1], 14)
    loss = model.loss(src, lengths, tgt)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing}"


def test_unknown_arch_is_refused():
    with pytest.raises(ValueError, match="arch"):
        SorterConfig(vocab_size=14, arch="transformer")


def test_used_positions_consume_repeats_one_at_a_time():
    src = torch.tensor([[6, 5, 6, 0]])
    used = used_positions(src, torch.tensor([[2, 5, 6, 6]]))
    assert used.long().tolist() == [[[0, 0, 0, 1], [0, 1, 0, 1], [1, 1, 0, 1], [1, 1, 1, 1]]]


def test_pointer_logits_are_a_distribution_over_present_values(batch):
    src, lengths, tgt = batch
    logp = tiny("pointer")(src, lengths, decoder_inputs(tgt))
    assert torch.allclose(logp.exp().sum(-1), torch.ones(logp.shape[:2]), atol=1e-5)
    absent = torch.ones(src.shape[0], 14, dtype=torch.bool)
    absent[torch.arange(src.shape[0])[:, None], src] = False
    absent[:, EOS_ID] = False
    assert (logp.exp() * absent[:, None, :]).max() < 1e-20


@pytest.mark.parametrize("arch", ARCHS)
def test_generate_terminates_caps_and_ignores_other_rows(arch, batch):
    src, lengths, _ = batch
    model = tiny(arch)
    out = model.generate(src, lengths)
    assert out.dtype == torch.long and out.shape[1] <= int(lengths.max()) + 1
    for b, row in enumerate(out.tolist()):
        end = row.index(EOS_ID)
        assert end <= int(lengths[b]) and all(t == PAD_ID for t in row[end + 1:])
        assert all(4 <= t < 14 for t in row[:end])
        alone = model.generate(src[b:b + 1, :int(lengths[b])], lengths[b:b + 1])[0].tolist()
        assert alone[:alone.index(EOS_ID) + 1] == row[:end + 1]
    capped = model.generate(src, lengths, max_len=1)
    assert capped.shape[1] <= 2 and (capped == EOS_ID).sum(1).tolist() == [1] * src.shape[0]


def _plain_greedy(model, values: list[int], cap: int) -> list[int]:
    """One row decoded the plain way: the nn.LSTM decoder on (1, 1) inputs, every score
    recomputed from the module's own helpers, no table, no shrinking batch."""
    src = torch.tensor([values])
    enc, state = model.encode(src, torch.tensor([len(values)]))
    pointer = model.config.arch == "pointer"
    keys = model._keys(src, enc) if pointer else None
    used, token, out = torch.zeros(1, len(values), dtype=torch.bool), SOS_ID, []
    for _ in range(cap + 1):
        dec, state = model.decoder(model.embed(torch.tensor([[token]])), state)    # (1, 1, H)
        if len(out) == cap:
            token = EOS_ID
        elif pointer:
            if bool(used.all()):
                token = EOS_ID
            else:
                pos = int(model._pointer_scores(dec, keys)[0, 0].masked_fill(used[0],
                                                                           float("-inf")).argmax())
                used[0, pos], token = True, values[pos]
        else:
            logits = (model.out(dec) if model.config.arch == "seq2seq"
                      else model._attend(dec, enc, src != PAD_ID))[0, 0]
            token = int(logits[EOS_ID:].argmax()) + EOS_ID
        out.append(token)
        if token == EOS_ID:
            break
    return out


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("max_len", [None, 3])
def test_fast_generate_equals_the_plain_step_by_step_decoder(arch, max_len):
    # the reference decodes as one cell over a shrinking batch (bench/sorter.py's speed);
    # its outputs must be the plain loop's, row by row
    pairs = make_sequences(40, seed=5, min_len=1, max_len=9, low=0, high=6)   # many repeats
    src, lengths, _ = collate(pairs)
    with torch.no_grad():
        for seed in (0, 1):
            model = tiny(arch, seed=seed)
            if arch == "seq2seq" and seed == 1:
                model.out.bias[EOS_ID] += 3.0        # some rows stop early, others at the cap
            out = model.generate(src, lengths, max_len=max_len).tolist()
            for b, (values, _) in enumerate(pairs):
                cap = len(values) if max_len is None else max_len
                want = _plain_greedy(model, [v + 4 for v in values], cap)
                assert out[b][:len(want)] == want and set(out[b][len(want):]) <= {PAD_ID}


def test_generate_forces_eos_when_the_model_never_says_it(batch):
    src, lengths, _ = batch
    model = tiny("seq2seq")
    with torch.no_grad():
        model.out.bias[EOS_ID] = -1e4
    out = model.generate(src, lengths)
    assert [row.index(EOS_ID) for row in out.tolist()] == lengths.tolist()


def test_encoder_state_is_padding_invariant(batch):
    src, lengths, _ = batch
    model = tiny("attention")
    padded = torch.cat([src, torch.zeros_like(src[:, :3])], dim=1)
    (out1, (h1, c1)), (out2, (h2, c2)) = model.encode(src, lengths), model.encode(padded, lengths)
    assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)
    assert torch.allclose(out1, out2[:, :src.shape[1]], atol=1e-6)


@pytest.mark.parametrize("arch", ["pointer", "attention"])
def test_learns_a_tiny_problem(arch):
    torch.manual_seed(0)
    config = SequenceConfig(min_len=1, max_len=4, low=0, high=4)
    model = Sorter(SorterConfig(vocab_size=config.vocab_size, embed_dim=16, hidden_size=32,
                                arch=arch))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    stream = iter(SequenceStream(config, batch_size=64, seed=0))
    for _ in range(250):
        loss = model.loss(*next(stream))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = evaluate_sorter(model, make_sequences(300, seed=9, min_len=1, max_len=4, high=4))
    assert metrics["exact_match"] >= 0.95, metrics


def _variant(tmp_path, old: str, new: str) -> str:
    """A copy of the reference with one line broken, as a submission folder."""
    text = SOURCE.read_text()
    assert old in text
    folder = tmp_path / re.sub(r"\W+", "_", new)[:40]
    folder.mkdir()
    (folder / "sorter_model.py").write_text(text.replace(old, new, 1))
    return str(folder)


def test_checks_pass_on_the_reference():
    results = run_local("solutions", ["sorter_model"])
    assert results and all(r.passed for r in results), [r.summary() for r in results]


@pytest.mark.parametrize("old, new, failing", [
    ("token = torch.where(cap <= t, EOS_ID, token)", "pass",
     {"generate_valid", "generate_max_len"}),
    ("return (rank[:, None, :] < count) | ~valid[:, None, :]",
     "return (count > 0) | ~valid[:, None, :]", {"teacher_forcing_helpers"}),
    ("used = used | (F.one_hot(pos, S).bool() & ~at_end[:, None])", "pass",
     {"pointer_permutation"}),
    # the reference's generate runs its own encoder loop: reading past a row's end makes the
    # row's output depend on the other rows' padding
    ("reading = lengths > t  # (B,)", "reading = lengths >= 0  # (B,)",
     {"generate_rows_independent"}),
    ("tgt.reshape(-1), ignore_index=PAD_ID)", "tgt.reshape(-1))", {"forward_and_loss"}),
])
def test_checks_catch_broken_variants(tmp_path, old, new, failing):
    folder = _variant(tmp_path, old, new)
    results = {r.name: r for r in run_local(folder, ["sorter_model"])}
    failed = {name for name, r in results.items() if not r.passed}
    assert failing <= failed, {n: r.message for n, r in results.items()}
    assert all(results[name].message for name in failing)


def test_a_wrong_used_positions_names_the_first_differing_entry_not_the_whole_tensor():
    from challenge.checks.base import CheckFailure
    from challenge.checks.sorter_model import EOS_ID, SOS_ID, _verify_helpers

    used = torch.tensor([[[0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]],
                         [[0, 0, 1, 1], [1, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]])
    output = {"tgt_in": [[SOS_ID, 4, 5, 5, 7], [SOS_ID, 6, 6, EOS_ID, 0]],   # right
              "used": used}                                                  # row 1, step 2 wrong
    with pytest.raises(CheckFailure) as failure:
        _verify_helpers({}, output)
    message = str(failure.value)
    assert ("used_positions(src, tgt_in) for inputs with repeats: first difference at index "
            "(1, 2, 1): expected 1, got 0 (that row: expected [1, 1, 1, 1], got [1, 0, 1, 1])"
            in message), message
    assert "[[[" not in message and "the k-th copy of a value" in message


@pytest.mark.parametrize("loss, arch, cause", [
    (float("inf"), "pointer", "the pointer masked the position its target points at"),
    (float("inf"), "seq2seq", "log(softmax) taken in two steps underflows"),
    (float("nan"), "attention", "a softmax over a row whose every logit is -inf"),
    (-0.5, "pointer", "Cross-entropy is positive"),
])
def test_a_loss_that_is_not_positive_and_finite_names_a_cause(loss, arch, cause):
    from challenge.checks.base import CheckFailure
    from challenge.checks.sorter_model import ARCHS, _inputs, _verify_forward

    data = _inputs(0)
    B, T = data["tgt"].shape
    V = data["config"]["vocab_size"]
    good = {"logits": torch.zeros(B, T, V), "loss": torch.tensor(1.0),
            "loss_padded": torch.tensor(1.0)}
    output = {a: dict(good) for a in ARCHS}
    output[arch] = {**good, "loss": torch.tensor(loss)}
    with pytest.raises(CheckFailure, match=f"{arch}: loss should be a positive finite number") \
            as failure:
        _verify_forward(data, output)
    assert cause in str(failure.value)
