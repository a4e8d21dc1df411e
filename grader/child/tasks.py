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


def _decode(model: torch.nn.Module, inputs: list) -> list[torch.Tensor]:
    """Greedy outputs of ``model`` for ``inputs`` (lists of values), in chunks of SORT_BATCH."""
    from challenge.data.sequences import PAD_ID, encode_values

    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), SORT_BATCH):
            chunk = inputs[start:start + SORT_BATCH]
            lengths = torch.tensor([len(v) for v in chunk], dtype=torch.long)
            src = torch.full((len(chunk), int(lengths.max())), PAD_ID, dtype=torch.long)
            for row, values in enumerate(chunk):
                src[row, :len(values)] = torch.tensor(encode_values(values), dtype=torch.long)
            outputs.append(model.generate(src, lengths, max_len=int(lengths.max())))
    return outputs


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
            outputs.append({"rows": _decode(models[name], job["inputs"])})
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
