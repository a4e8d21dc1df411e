"""What the child does for each kind of unit: a check's run step, or a trained model's outputs on
unlabelled inputs. Every reply is plain data ``{"status", "message", "output"}`` that the grader
validates and judges itself; nothing here knows a label, a threshold or a verdict.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from challenge.checks import all_checks, execute
from challenge.checks.base import _describe_exception
from challenge.errors import ChallengeError
from challenge.impl import load_module

SORT_BATCH = 256


@functools.lru_cache(maxsize=1)
def _checks() -> dict:
    return {c.key: c for c in all_checks()}


def _module(context: dict, part: str):
    """The student's module ``part``, imported once; an import failure is remembered."""
    cache = context["modules"]
    if part not in cache:
        context["mark"](part)   # a hang or crash now is the module's, not this check's
        try:
            cache[part] = load_module(context["impl"], part)
        except ChallengeError as e:
            cache[part] = {"status": "error", "message": str(e), "output": None}
        except BaseException as e:  # the student's module-level code: anything goes
            cache[part] = {"status": "error", "output": None,
                           "message": f"module {part} failed to import: {_describe_exception(e)}"}
        context["mark"]("")
    return cache[part]


def run_check(payload: dict, context: dict) -> dict:
    check = _checks().get(payload["check"])
    if check is None:
        return {"status": "error", "message": f"unknown check {payload['check']}", "output": None}
    module = _module(context, check.part)
    if isinstance(module, dict):
        return module
    outcome = execute(check, module, payload["data"])
    return {"status": outcome.status, "message": outcome.message, "output": outcome.output}


def _guarded(fn):
    """Quality jobs: any exception of student code becomes an error reply."""
    @functools.wraps(fn)
    def wrapper(payload: dict, context: dict) -> dict:
        try:
            return {"status": "ok", "message": "", "output": fn(payload, context)}
        except NotImplementedError as e:
            return {"status": "not_implemented", "message": str(e) or "see the docstring",
                    "output": None}
        except ChallengeError as e:
            return {"status": "error", "message": str(e), "output": None}
        except BaseException as e:  # MemoryError, RecursionError, SystemExit, ...
            return {"status": "error", "message": _describe_exception(e), "output": None}
    return wrapper


@_guarded
def run_spam(payload: dict, context: dict) -> Any:
    """Spam probabilities of unlabelled messages, and the checkpoint's decision threshold."""
    from challenge.tasks.spam_predict import predict_messages

    path = Path(context["files"]) / payload["checkpoint"]
    scores, threshold = predict_messages(path, payload["messages"], impl=context["impl"])
    return {"scores": scores, "threshold": threshold}


def _decode(model: torch.nn.Module, inputs: list, caps: dict | None = None
            ) -> tuple[list, list | None]:
    """Greedy outputs of ``model`` for ``inputs`` (lists of values), in chunks of SORT_BATCH;
    and, for every chunk, the greedy choices from the model's own teacher-forced scores on
    those outputs (:func:`_forward_greedy`; None where forward gave none).

    Decoding follows the contract: generate with its default cap (each row's own length) for
    the in-range measure. Only rows of ``caps["long_from"]`` values or more, the
    length-generalisation measure, get ``max_len=caps["long_cap"]``, so a model must stop
    itself there. The parent chose ``caps``; each chunk comes back as one (B, L) tensor in
    the order of its inputs."""
    from challenge.data.sequences import PAD_ID, encode_values

    caps = caps or {}
    long_from = caps.get("long_from")
    outputs: list = []
    greedy: list | None = []
    with torch.no_grad():
        for start in range(0, len(inputs), SORT_BATCH):
            chunk = inputs[start:start + SORT_BATCH]
            parts = []
            for long in (False, True):
                rows = [i for i, v in enumerate(chunk)
                        if (long_from is not None and len(v) >= long_from) == long]
                if not rows:
                    continue
                lengths = torch.tensor([len(chunk[i]) for i in rows], dtype=torch.long)
                src = torch.full((len(rows), int(lengths.max())), PAD_ID, dtype=torch.long)
                for row, i in enumerate(rows):
                    src[row, :len(chunk[i])] = torch.tensor(encode_values(chunk[i]),
                                                            dtype=torch.long)
                cap = {"max_len": int(caps["long_cap"])} if long else {}
                parts.append((rows, model.generate(src, lengths, **cap), src, lengths))
            merged = _in_order([p[:2] for p in parts], len(chunk))
            outputs += merged if isinstance(merged, list) else [merged]
            forward = [(rows, _forward_greedy(model, src, lengths, out))
                       for rows, out, src, lengths in parts]
            if greedy is not None and all(g is not None for _, g in forward):
                merged = _in_order(forward, len(chunk))
                greedy += merged if isinstance(merged, list) else [merged]
            else:
                greedy = None
    return outputs, greedy


def _forward_greedy(model: torch.nn.Module, src: torch.Tensor, lengths: torch.Tensor,
                    out) -> torch.Tensor | None:
    """What greedy decoding would choose at each step of ``out`` (generate's (B, L) ids) from
    the model's own forward scores, teacher-forced on ``out``: argmax over the vocabulary with
    <pad>, <unk> and <sos> excluded, as generate excludes them. Computed for every job alike;
    the parent compares it with ``out`` (evidence only: None where forward fails)."""
    from challenge.data.sequences import EOS_ID, SOS_ID

    try:
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[1] == 0 \
                or out.shape[0] != src.shape[0] or out.is_floating_point() or out.is_complex():
            return None
        out = out.long()
        tgt_in = torch.cat([torch.full_like(out[:, :1], SOS_ID), out[:, :-1]], dim=1)  # (B, L)
        scores = model(src, lengths, tgt_in)                                         # (B, L, V)
        if not isinstance(scores, torch.Tensor) or scores.dim() != 3 \
                or tuple(scores.shape[:2]) != tuple(out.shape) or scores.shape[2] <= EOS_ID:
            return None
        scores = scores.detach().float().clone()
        scores[..., :EOS_ID] = float("-inf")
        return scores.argmax(dim=-1)                                                  # (B, L)
    except Exception:  # noqa: BLE001 - the student's forward: no evidence, never an error
        return None


def _in_order(parts: list, n: int):
    """The outputs of the chunk's sub-batches put back in the order of its rows, padded with
    <pad> to the widest; a single sub-batch is returned as generate gave it, and outputs that
    are not (rows, L) integer tensors as a list of what generate gave (the parent refuses
    them, naming what is wrong)."""
    from challenge.data.sequences import PAD_ID

    if len(parts) == 1:
        return [parts[0][1]]
    tensors = [t for _, t in parts]
    if not all(isinstance(t, torch.Tensor) and t.dim() == 2 and t.shape[0] == len(rows)
               and not (t.is_floating_point() or t.is_complex() or t.dtype == torch.bool)
               for rows, t in parts):
        return tensors                      # as they came: the parent names what is wrong
    out = torch.full((n, max(t.shape[1] for t in tensors)), PAD_ID, dtype=torch.long)
    for rows, t in parts:
        out[rows, :t.shape[1]] = t.long()
    return out


def run_sorter(payload: dict, context: dict) -> dict:
    """Greedy outputs (token ids) for each job ``{"checkpoint", "inputs"}``, in the order given:
    ``{"rows": tensors}`` or ``{"error": why}`` per job. The grader mixes in a copy of the
    checkpoint whose every tensor it replaced, under a name and at a place the child cannot
    tell apart, and judges the outputs itself."""
    from challenge.tasks.sorter import load_sorter

    models: dict = {}
    outputs = []
    for job in payload["jobs"]:
        try:
            name = job["checkpoint"]
            if name not in models:
                models[name] = load_sorter(Path(context["files"]) / name, impl=context["impl"])[0]
            rows, greedy = _decode(models[name], job["inputs"], payload.get("caps"))
            outputs.append({"rows": rows, "greedy": greedy})
        except NotImplementedError as e:
            outputs.append({"error": f"not implemented yet: {str(e) or 'see the docstring'}"})
        except ChallengeError as e:
            outputs.append({"error": str(e)})
        except BaseException as e:  # the student's code: anything goes
            outputs.append({"error": _describe_exception(e)})
    return {"status": "ok", "message": "", "output": outputs}


def preload() -> None:
    """Import the kit code the units need before any student code runs."""
    _checks()
    import challenge.tasks.sorter  # noqa: F401
    try:
        import challenge.tasks.spam_predict  # noqa: F401
    except ImportError:
        pass


KINDS = {"check": run_check, "spam": run_spam, "sorter": run_sorter}
