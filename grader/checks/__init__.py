"""The public checks of every student module, collected from one module per part.

Each part module (``grader/checks/<part>.py``) defines ``CHECKS: list[Check]``.
:func:`run_local` runs them in this process (``challenge check``); the grader's isolated
runner splits the same checks between a sandboxed child (``run``) and itself (``verify``).
"""

from __future__ import annotations

import importlib

from challenge.errors import ChallengeError
from challenge.impl import load_module
from grader.checks.base import Check, CheckFailure, CheckResult, RunOutcome, execute, judge

#: Parts in the order students meet them.
PARTS = ("tokenizer", "batching", "spam_model", "sorter_model", "lstm_cell", "bptt")

__all__ = ["Check", "CheckFailure", "CheckResult", "PARTS", "all_checks", "execute", "judge",
           "run_local"]


def all_checks(parts: tuple[str, ...] | list[str] | None = None) -> list[Check]:
    """The registered checks of ``parts`` (all parts when None), in a stable order."""
    parts = list(parts) if parts else list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ChallengeError(f"unknown part {unknown[0]!r}; expected one of {', '.join(PARTS)}")
    checks: list[Check] = []
    for part in parts:
        try:
            mod = importlib.import_module(f"grader.checks.{part}")
        except ModuleNotFoundError as e:
            if e.name == f"grader.checks.{part}":
                continue
            raise
        checks.extend(mod.CHECKS)
    return checks


def run_local(impl: str, parts=None, seed: int = 0) -> list[CheckResult]:
    """Run the checks of ``parts`` on ``impl`` in this process; one result per check."""
    results = []
    modules: dict[str, object] = {}
    for check in all_checks(parts):
        data = check.make_inputs(seed)
        if check.part not in modules:
            try:
                modules[check.part] = load_module(impl, check.part)
            except ChallengeError:
                raise
            except Exception as e:  # a student module that fails to import
                modules[check.part] = RunOutcome(status="error",
                                                 message=f"module {check.part} failed to import: "
                                                         f"{type(e).__name__}: {e}")
        module = modules[check.part]
        outcome = module if isinstance(module, RunOutcome) else execute(check, module, data)
        results.append(judge(check, data, outcome))
    return results
