"""Checks of the student's spam_model: logits of the right shape and dtype, padding invariance
(alone vs inside a padded batch), tokens past a sequence's length ignored, gradients reaching
the embedding, and every config option (directions, pooling incl. attention, layers) accepted.
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
    expect_shape,
)
from challenge.checks.outputs import FLOATS, INT, NONE, Map, OneOf, Seq, Tensor, Text, near

PART = "spam_model"
VOCAB, PAD = 30, 0
TINY = {"vocab_size": VOCAB, "embed_dim": 8, "hidden_size": 6, "dropout": 0.0, "pad_id": PAD}
OPTIONS = [{"bidirectional": b, "pooling": p}
           for b in (False, True) for p in ("last", "max", "mean", "attention")]
PAD_HINT = ("a padded position must never reach the summary: pack the batch with "
            "pack_padded_sequence(..., lengths.cpu(), batch_first=True, enforce_sorted=False), "
            "take h_n for 'last', and mask padded positions before max/mean pooling and "
            "before the attention softmax (scores of -inf there)")


#: Words of torch's errors about tensor sizes.
SHAPE_WORDS = ("size", "dimension", "shape", "batch", "dim ", "mat1", "length")


def _shape_hint(error: BaseException) -> str:
    """A hint for an error about tensor sizes: most come from a batch read as time."""
    text = str(error).lower()
    if not isinstance(error, (RuntimeError, ValueError, IndexError)) or \
            not any(word in text for word in SHAPE_WORDS):
        return ""
    return ("a shape mismatch: forward gets ids (B, T), batch first; pass batch_first=True to "
            "pack_padded_sequence, pad_packed_sequence and nn.LSTM (or transpose to (T, B) for "
            "all of them), and print the tensors' shapes before that line")


def _name(option: dict) -> str:
    return f"bidirectional={option['bidirectional']}, pooling={option['pooling']!r}"


def _inputs(seed: int) -> dict:
    """Three sequences of different lengths, padded to three times the longest."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 7], dtype=torch.long)
    T = 3 * int(lengths.max())
    ids = torch.randint(1, VOCAB, (3, T), generator=g)
    ids[torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)] = PAD                 # (B, T)
    junk = torch.randint(1, VOCAB, (3, T), generator=g)                             # (B, T)
    return {"seed": seed, "ids": ids, "lengths": lengths, "junk": junk}


def _model(module: Any, seed: int, **options):
    torch.manual_seed(seed)
    return module.SpamClassifier(module.SpamModelConfig(**{**TINY, **options})).eval()


def _logits(model, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids, lengths)


# --- shape and dtype -------------------------------------------------------------------------

def _run_shape(module: Any, data: dict) -> Any:
    return _logits(_model(module, data["seed"]), data["ids"], data["lengths"])


def _verify_shape(data: dict, output: Any) -> None:
    B = data["ids"].shape[0]
    logits = expect_shape(output, (B,), "forward(ids (B, T), lengths (B,))",
                          hint="one logit per message: squeeze the head's (B, 1) output to (B,)")
    expect_dtype(logits, (torch.float32, torch.float64), "forward's logits")
    if not torch.isfinite(logits).all():
        raise CheckFailure("forward's logits contain NaN or inf; check the pooling over padded "
                           "positions (a max over nothing is -inf)")


# --- padding invariance ------------------------------------------------------------------------

def _run_padding(module: Any, data: dict) -> dict:
    out = {}
    ids, lengths = data["ids"], data["lengths"]
    for option in OPTIONS:
        model = _model(module, data["seed"], **option)
        batch = _logits(model, ids, lengths)
        alone = torch.cat([_logits(model, ids[b:b + 1, :int(n)], lengths[b:b + 1])
                           for b, n in enumerate(lengths.tolist())])
        out[_name(option)] = {"batch": batch, "alone": alone}
    return out


def _verify_padding(data: dict, output: dict) -> None:
    T, lengths = data["ids"].shape[1], data["lengths"].tolist()
    for option in OPTIONS:
        got = output[_name(option)]
        batch, alone = got["batch"], got["alone"]
        where = ""
        if isinstance(batch, torch.Tensor) and isinstance(alone, torch.Tensor) \
                and batch.shape == alone.shape == (len(lengths),):
            bad = ~torch.isclose(batch.double(), alone.double(), atol=1e-5, rtol=0.0)
            if bad.any():
                b = int(torch.nonzero(bad)[0])
                where = (f"message {b} ({lengths[b]} real tokens) gets {batch[b].item():.6g} in "
                         f"the batch, padded to {T} tokens, and {alone[b].item():.6g} alone, "
                         f"unpadded; ")
        expect_close(batch, alone,
                     f"{_name(option)}: logits in a batch padded to {T} tokens (got) against "
                     f"each message alone (expected)", atol=1e-5, rtol=0.0,
                     hint=where + PAD_HINT)


# --- lengths respected -------------------------------------------------------------------------

def _run_lengths(module: Any, data: dict) -> dict:
    ids, lengths, junk = data["ids"], data["lengths"], data["junk"]
    past_end = torch.arange(ids.shape[1]).unsqueeze(0) >= lengths.unsqueeze(1)    # (B, T)
    noisy = torch.where(past_end, junk, ids)                                       # (B, T)
    out = {}
    for option in OPTIONS:
        model = _model(module, data["seed"], **option)
        out[_name(option)] = {"clean": _logits(model, ids, lengths),
                              "noisy": _logits(model, noisy, lengths)}
    return out


def _verify_lengths(data: dict, output: dict) -> None:
    for option in OPTIONS:
        got = output[_name(option)]
        expect_close(got["noisy"], got["clean"],
                     f"{_name(option)}: logits after changing the tokens past each length",
                     atol=1e-5, rtol=0.0,
                     hint="only the first lengths[b] tokens of row b may count; use `lengths`, "
                          "not the position of the first pad id")


# --- gradients ---------------------------------------------------------------------------------

def _run_gradients(module: Any, data: dict) -> dict:
    # training mode: TINY has no dropout, and on a GPU cuDNN's LSTM backward runs only in it
    model = _model(module, data["seed"], bidirectional=True, pooling="max").train()
    model.zero_grad()
    model(data["ids"], data["lengths"]).sum().backward()
    tables = [p for p in model.parameters() if tuple(p.shape) == (VOCAB, TINY["embed_dim"])]
    without = [name for name, p in model.named_parameters()
               if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    params = len(list(model.parameters()))
    return {"tables": len(tables),
            "embedding_grad": tables[0].grad.clone() if tables and tables[0].grad is not None
            else None,
            "params": params, "with_grad": params - len(without), "without_grad": without}


def _verify_gradients(data: dict, output: dict) -> None:
    if output["tables"] != 1:
        raise CheckFailure(f"expected one embedding table of shape ({VOCAB}, {TINY['embed_dim']}) "
                           f"(nn.Embedding(vocab_size, embed_dim)), found {output['tables']}")
    grad = output["embedding_grad"]
    if grad is None:
        raise CheckFailure("the embedding received no gradient: is it used in forward, and is "
                           "nothing detached (.detach(), .data, torch.no_grad) on the way?")
    grad = torch.as_tensor(grad)
    used = sorted(set(int(t) for b, n in enumerate(data["lengths"].tolist())
                      for t in data["ids"][b, :n].tolist()))
    if not bool(grad[used].abs().sum(dim=1).gt(0).all()):
        raise CheckFailure("some tokens of the messages got a zero embedding gradient; every "
                           "real token should influence the logit")
    if bool(grad[PAD].abs().sum() > 0):
        raise CheckFailure("the <pad> embedding row got a gradient, so padding influences the "
                           "logits; " + PAD_HINT)
    if output["with_grad"] < output["params"]:
        names = _names(output.get("without_grad"))
        raise CheckFailure(f"only {output['with_grad']} of {output['params']} parameters got a "
                           f"gradient" + (f"; no gradient reached: {names}" if names else "")
                           + "; is every layer you create used in forward (with "
                           "bidirectional=True, pooling='max')? Create a layer only for the "
                           "settings that use it")


def _names(names: Any, limit: int = 8) -> str:
    """Parameter names the child sent, as text: strings only, each and their number capped."""
    if not isinstance(names, list):
        return ""
    shown = [n[:80] for n in names[:limit] if isinstance(n, str)]
    more = len(names) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 and shown else "")


# --- config options --------------------------------------------------------------------------

def _run_options(module: Any, data: dict) -> dict:
    out = {}
    for option in OPTIONS + [{"bidirectional": True, "pooling": "max", "num_layers": 2}]:
        name = _name(option) + (f", num_layers={option['num_layers']}" if "num_layers" in option
                                else "")
        out[name] = _logits(_model(module, data["seed"], **option), data["ids"], data["lengths"])
    return out


def _verify_options(data: dict, output: dict) -> None:
    B = data["ids"].shape[0]
    ok = [name for name, logits in output.items()
          if isinstance(logits, torch.Tensor) and tuple(logits.shape) == (B,)]
    for name, logits in output.items():
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else None
        if shape == (B, 1):
            hint = "one logit per message: squeeze the head's (B, 1) output to (B,)"
        elif ok:
            hint = (f"with {ok[0]} the shape is right, so look at what this setting changes "
                    f"(the summary's width with bidirectional, the pooling's reduction over time)")
        else:
            hint = "forward must return one logit per message, shape (B,)"
        t = expect_shape(logits, (B,), f"SpamModelConfig({name}): logits", hint=hint)
        if not torch.isfinite(t).all():
            raise CheckFailure(f"SpamModelConfig({name}): logits contain NaN or inf")


def _check(name: str, points: float, run, verify, description: str) -> Check:
    return Check(PART, name, points, _inputs, run, verify, description, explain=_shape_hint)


CHECKS: list[Check] = [
    _check("output_shape", 1.0, _run_shape, _verify_shape, "forward returns (B,) float logits"),
    _check("padding_invariance", 3.0, _run_padding, _verify_padding,
           "a message gets the same logit alone and in a batch padded to 3x its length"),
    _check("lengths_respected", 2.0, _run_lengths, _verify_lengths,
           "tokens past a sequence's length do not change its logit"),
    _check("gradients_flow", 1.0, _run_gradients, _verify_gradients,
           "gradients reach the embedding of every real token, never <pad>"),
    _check("config_options", 1.0, _run_options, _verify_options,
           "bidirectional, pooling last/max/mean/attention and two layers all work"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "output_shape": ('seed', 'ids', 'lengths'),
    "padding_invariance": ('seed', 'ids', 'lengths'),
    "lengths_respected": ('seed', 'ids', 'lengths', 'junk'),
    "gradients_flow": ('seed', 'ids', 'lengths'),
    "config_options": ('seed', 'ids', 'lengths'),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------
# Logits of one or two dimensions, each near the inputs' larger one: a (B, 1) head or a summary
# of the wrong width reaches its verify, which names it.

def _logits_of(data: dict) -> OneOf:
    n = near(max(data["ids"].shape))
    real = (torch.float32, torch.float64)
    return OneOf((Tensor((n,), real), Tensor((n, n), real)))


def _per_option(data: dict, *keys: str) -> Map:
    return Map({_name(o): Map({k: _logits_of(data) for k in keys}) for o in OPTIONS})


EXPECTS = {
    "output_shape": _logits_of,
    "padding_invariance": lambda data: _per_option(data, "batch", "alone"),
    "lengths_respected": lambda data: _per_option(data, "clean", "noisy"),
    "gradients_flow": lambda data: Map({
        "tables": INT, "params": INT, "with_grad": INT, "without_grad": Seq(Text(400), 4096),
        "embedding_grad": OneOf((NONE, Tensor((VOCAB, TINY["embed_dim"]), FLOATS)))}),
    "config_options": lambda data: Map(others=_logits_of(data), max_len=len(OPTIONS) + 1),
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
