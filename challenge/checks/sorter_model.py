"""Checks of the student's sorter_model: teacher-forcing shapes and loss, the pointer's bookkeeping
of used positions, and greedy decoding that always returns valid, terminated, capped rows that do
not depend on the other rows of the batch.
"""

from __future__ import annotations

from typing import Any

import torch

from challenge.checks.base import (
    Check,
    CheckFailure,
    declare,
    expect_close,
    expect_dtype,
    expect_equal,
    expect_shape,
)
from challenge.checks.outputs import INTS, Map, Seq, Tensor, near
from challenge.data.sequences import (
    EOS_ID,
    PAD_ID,
    SOS_ID,
    SPECIAL_TOKENS,
    VALUE_OFFSET,
    collate,
    make_sequences,
)

PART = "sorter_model"
ARCHS = ("seq2seq", "attention", "pointer")
TINY = {"embed_dim": 8, "hidden_size": 16}


def _inputs(seed: int, n: int = 5, high: int = 9, min_len: int = 1, max_len: int = 6) -> dict:
    """A batch of mixed lengths (so padding matters) with repeated values."""
    pairs = make_sequences(n, seed, min_len, max_len, 0, high)
    pairs[0] = ([3, 1, 3, 0, 2, 1][:max_len], sorted([3, 1, 3, 0, 2, 1][:max_len]))
    pairs[-1] = ([high] * min(2, max_len), [high] * min(2, max_len))
    src, lengths, tgt = collate(pairs)
    return {"seed": seed, "src": src, "lengths": lengths, "tgt": tgt,
            "config": {"vocab_size": high + 1 + VALUE_OFFSET, **TINY}}


def _model(module: Any, data: dict, arch: str):
    torch.manual_seed(data["seed"])
    model = module.Sorter(module.SorterConfig(arch=arch, **data["config"]))
    return model.eval()


def _row_problems(ids: torch.Tensor, vocab: int, cap: torch.Tensor) -> str:
    """'' if every row is values then one <eos> then <pad>s within its cap, else the first problem."""
    for b, row in enumerate(ids.tolist()):
        if EOS_ID not in row:
            return f"row {b} has no <eos> ({row}); force <eos> when a row reaches its length cap"
        end = row.index(EOS_ID)
        if any(t != PAD_ID for t in row[end + 1:]):
            return f"row {b} is not all <pad> after its first <eos> ({row})"
        bad = [t for t in row[:end] if not VALUE_OFFSET <= t < vocab]
        if bad:
            return (f"row {b} emits id {bad[0]}{_special_name(bad[0])} before <eos> ({row}); "
                    f"only value ids {VALUE_OFFSET}..{vocab - 1} and <eos>={EOS_ID} may come "
                    f"out" + _never_emitted(bad[0]))
        if end > int(cap[b]):
            return f"row {b} has {end} values before <eos>, more than its cap {int(cap[b])}"
    return ""


def _special_name(token: int) -> str:
    """`` (<sos>)`` for a special id of the checks' vocabulary, "" for any other id."""
    return f" ({SPECIAL_TOKENS[token]})" if 0 <= token < len(SPECIAL_TOKENS) else ""


def _never_emitted(token: int) -> str:
    """Why a special id other than <eos> may not come out, and the fix."""
    if not 0 <= token < len(SPECIAL_TOKENS) or token == EOS_ID:
        return ""
    banned = ", ".join(f"{name} ({i})" for i, name in enumerate(SPECIAL_TOKENS) if i != EOS_ID)
    role = {SOS_ID: "it only starts decoding (the first decoder input)",
            PAD_ID: "it only fills a row after its <eos>"}.get(token, "it is never a value")
    return (f". Hint: {SPECIAL_TOKENS[token]} may never be emitted, {role}; before the argmax "
            f"set the logits of {banned} to -inf")


def _cap_problem(b: int, length: int, batch: list[int], alone: list[int]) -> str:
    """'' unless row ``b`` emits more than its ``length`` values in the batch or alone: then the
    rows differ because decoding is not capped per row, not because of the padding."""
    def values(row: list[int]) -> int:
        return row.index(EOS_ID) if EOS_ID in row else len(row)

    counts = {"in the padded batch": values(batch), "alone": values(alone)}
    over = [f"{n} values {where}" for where, n in counts.items() if n > length]
    if not over:
        return ""
    unended = " without an <eos>" if any(EOS_ID not in r for r in (batch, alone)) else ""
    return (f"row {b} (length {length}) emits {' and '.join(over)}{unended}: it is not capped "
            f"at its own "
            f"length, so it decodes until the loop ends, and the loop's length depends on the "
            f"batch. Hint: force <eos> once row b has emitted src_lengths[b] values (max_len "
            f"when given)")


# --- teacher forcing -----------------------------------------------------------------------

def _run_forward(module: Any, data: dict) -> dict:
    out = {}
    for arch in ARCHS:
        model = _model(module, data, arch)
        tgt = data["tgt"]
        tgt_in = torch.cat([torch.full_like(tgt[:, :1], SOS_ID), tgt[:, :-1]], dim=1)
        logits = model(data["src"], data["lengths"], tgt_in)
        loss = model.loss(data["src"], data["lengths"], tgt)
        extra_pad = torch.cat([tgt, torch.zeros_like(tgt[:, :1])], dim=1)  # one more <pad> column
        out[arch] = {"logits": logits.detach(), "loss": loss.detach(),
                     "loss_padded": model.loss(data["src"], data["lengths"], extra_pad).detach()}
    return out


def _verify_forward(data: dict, output: dict) -> None:
    B, T = data["tgt"].shape
    V = data["config"]["vocab_size"]
    for arch in ARCHS:
        got = output[arch]
        logits = expect_shape(got["logits"], (B, T, V), f"{arch}: forward(src, src_lengths, tgt_in)",
                              hint="one row of vocabulary logits per target step, (B, T, V)")
        expect_dtype(logits, (torch.float32, torch.float64), f"{arch}: forward logits")
        loss = expect_shape(got["loss"], (), f"{arch}: loss(src, src_lengths, tgt)",
                            hint="average the cross-entropy to a scalar")
        if not torch.isfinite(loss) or float(loss) <= 0:
            raise CheckFailure(f"{arch}: loss should be a positive finite number, got "
                               f"{float(loss)}. {_loss_cause(arch, float(loss))}")
        expect_close(got["loss_padded"], loss, f"{arch}: loss with an extra <pad> column in tgt",
                     atol=1e-5, hint="ignore <pad> targets (ignore_index=0) so padding adds nothing")


def _loss_cause(arch: str, loss: float) -> str:
    """The likely cause of a loss that is not a positive finite number."""
    if loss != loss:   # NaN
        return ("NaN comes from a softmax over a row whose every logit is -inf: a <pad> step "
                "or a fully masked row; leave such rows unmasked and let ignore_index=0 drop "
                "their targets")
    if loss == float("inf"):
        if arch == "pointer":
            return ("An infinite loss means a target got probability 0: the pointer masked the "
                    "position its target points at (used_positions marking a copy used before "
                    "it is emitted, or the source mask covering a real position), or took "
                    "log(softmax) in two steps; mask with used_positions(src, tgt_in) and use "
                    "F.cross_entropy on the masked logits")
        return ("An infinite loss means a target got probability 0: log(softmax) taken in two "
                "steps underflows; use F.cross_entropy on the logits")
    return ("Cross-entropy is positive: is the sign right, and are the logits compared with "
            "tgt (not tgt_in)?")


def _run_helpers(module: Any, data: dict) -> dict:
    src = torch.tensor([[5, 7, 5, 4], [6, 6, 0, 0]])
    tgt = torch.tensor([[4, 5, 5, 7, EOS_ID], [6, 6, EOS_ID, 0, 0]])
    tgt_in = module.decoder_inputs(tgt)
    return {"tgt_in": tgt_in, "used": module.used_positions(src, tgt_in)}


def _verify_helpers(data: dict, output: dict) -> None:
    expect_equal(output["tgt_in"], [[SOS_ID, 4, 5, 5, 7], [SOS_ID, 6, 6, EOS_ID, 0]],
                 "decoder_inputs(tgt)", hint="<sos> first, then tgt shifted right by one")
    expected = [[[0, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 1], [1, 0, 1, 1], [1, 1, 1, 1]],
                [[0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]]
    used = expect_shape(output["used"], (2, 5, 4), "used_positions(src, tgt_in)")
    expect_equal(used.long(), expected, "used_positions(src, tgt_in) for inputs with repeats",
                 hint="the k-th copy of a value uses the k-th occurrence; padding is always used")


# --- greedy decoding -------------------------------------------------------------------------

def _generate_inputs(seed: int) -> dict:
    return _inputs(seed, n=6, high=19, min_len=1, max_len=7)


def _run_generate(module: Any, data: dict) -> dict:
    out = {}
    for arch in ARCHS:
        model = _model(module, data, arch)
        src, lengths = data["src"], data["lengths"]
        out[arch] = {"ids": model.generate(src, lengths),
                     "capped": model.generate(src, lengths, max_len=2),
                     "alone": [model.generate(src[b:b + 1, :int(lengths[b])], lengths[b:b + 1])
                               for b in range(src.shape[0])]}
    return out


def _verify_generate(data: dict, output: dict) -> None:
    B, V, lengths = data["src"].shape[0], data["config"]["vocab_size"], data["lengths"]
    for arch in ARCHS:
        ids = expect_dtype(output[arch]["ids"], (torch.int64,), f"{arch}: generate(src, src_lengths)")
        if ids.dim() != 2 or ids.shape[0] != B:
            raise CheckFailure(f"{arch}: generate should return (B, L) = ({B}, L) ids, "
                               f"got shape {tuple(ids.shape)}")
        if ids.shape[1] > int(lengths.max()) + 1:
            raise CheckFailure(f"{arch}: generate returned {ids.shape[1]} columns; by default a "
                               f"row emits at most its input length then <eos> "
                               f"(<= {int(lengths.max()) + 1} here)")
        problem = _row_problems(ids, V, lengths)
        if problem:
            raise CheckFailure(f"{arch}: generate(src, src_lengths): {problem}")


def _verify_generate_cap(data: dict, output: dict) -> None:
    B, V = data["src"].shape[0], data["config"]["vocab_size"]
    for arch in ARCHS:
        ids = expect_dtype(output[arch]["capped"], (torch.int64,), f"{arch}: generate(max_len=2)")
        if ids.dim() != 2 or ids.shape[0] != B or ids.shape[1] > 3:
            raise CheckFailure(f"{arch}: generate(..., max_len=2) should return at most 3 columns "
                               f"(2 values and <eos>), got shape {tuple(ids.shape)}. Hint: force "
                               f"<eos> once a row has emitted max_len values")
        problem = _row_problems(ids, V, torch.full((B,), 2))
        if problem:
            raise CheckFailure(f"{arch}: generate(..., max_len=2): {problem}")


def _until_eos(row: list[int]) -> list[int]:
    return row[:row.index(EOS_ID) + 1] if EOS_ID in row else row


def _verify_rows_independent(data: dict, output: dict) -> None:
    for arch in ARCHS:
        batch = output[arch]["ids"].tolist()
        for b, alone in enumerate(output[arch]["alone"]):
            problem = _cap_problem(b, int(data["lengths"][b]), batch[b], alone.tolist()[0])
            if problem and _until_eos(batch[b]) != _until_eos(alone.tolist()[0]):
                raise CheckFailure(f"{arch}: {problem}")
            expect_equal(_until_eos(batch[b]), _until_eos(alone.tolist()[0]),
                         f"{arch}: row {b} (length {int(data['lengths'][b])}) decoded in a padded "
                         f"batch vs alone",
                         hint="pack the encoder input (or read each row's state at its true "
                              "length) and mask padded positions out of attention")


def _verify_pointer_permutation(data: dict, output: dict) -> None:
    ids = output["pointer"]["ids"].tolist()
    for b, row in enumerate(ids):
        values = sorted(v for v in data["src"][b, :int(data["lengths"][b])].tolist())
        emitted = sorted(_until_eos(row)[:-1])
        if emitted != values:
            raise CheckFailure(f"pointer: row {b} emits {emitted} (sorted), not a permutation of "
                               f"its input {values}. Hint: mask positions already used and "
                               f"allow <eos> only once every position is used")


CHECKS: list[Check] = [
    Check(PART, "forward_and_loss", 2, _inputs, _run_forward, _verify_forward,
          "teacher-forced logits (B, T, V) and a scalar loss that ignores <pad>, per arch"),
    Check(PART, "teacher_forcing_helpers", 1, lambda seed: {}, _run_helpers, _verify_helpers,
          "decoder_inputs shifts right after <sos>; used_positions handles repeated values"),
    Check(PART, "generate_valid", 2, _generate_inputs, _run_generate, _verify_generate,
          "greedy rows are values, one <eos>, then <pad>; tokens in vocabulary"),
    Check(PART, "generate_max_len", 1, _generate_inputs, _run_generate, _verify_generate_cap,
          "generate(max_len=k) emits at most k values then <eos>"),
    Check(PART, "generate_rows_independent", 2, _generate_inputs, _run_generate,
          _verify_rows_independent, "a row decodes the same alone and in a padded batch"),
    Check(PART, "pointer_permutation", 1, _generate_inputs, _run_generate,
          _verify_pointer_permutation, "the masked pointer always emits a permutation"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "forward_and_loss": ('seed', 'src', 'lengths', 'tgt', 'config'),
    "teacher_forcing_helpers": (),
    "generate_valid": ('seed', 'src', 'lengths', 'config'),
    "generate_max_len": ('seed', 'src', 'lengths', 'config'),
    "generate_rows_independent": ('seed', 'src', 'lengths', 'config'),
    "pointer_permutation": ('seed', 'src', 'lengths', 'config'),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------
# Sizes near the inputs' (a (T, B, V) mix-up or an uncapped row still reaches its verify, which
# names it); generate's ids are int64, as the contract says.

REAL = (torch.float32, torch.float64)


def _forward_out(data: dict) -> Map:
    (B, T), V = data["tgt"].shape, data["config"]["vocab_size"]
    loss = Tensor(None, REAL, 2 * B * (T + 1) + 2)
    return Map({arch: Map({"logits": Tensor((near(B), near(T), near(V)), REAL), "loss": loss,
                           "loss_padded": loss}) for arch in ARCHS})


def _generate_out(data: dict) -> Map:
    B, L = data["src"].shape[0], int(data["lengths"].max()) + 1
    ids = Tensor((near(B), near(L)), (torch.int64,))
    return Map({arch: Map({"ids": ids, "capped": ids,
                           "alone": Seq(Tensor((near(1), near(L)), (torch.int64,)), B)})
                for arch in ARCHS})


EXPECTS = {
    "forward_and_loss": _forward_out,
    "teacher_forcing_helpers": lambda data: Map({
        "tgt_in": Tensor((near(2), near(5)), INTS),
        "used": Tensor((near(2), near(5), near(4)), (*INTS, torch.bool))}),
    **{name: _generate_out for name in ("generate_valid", "generate_max_len",
                                         "generate_rows_independent", "pointer_permutation")},
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
