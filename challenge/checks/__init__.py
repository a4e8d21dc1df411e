"""The public checks of every student module, collected from one module per part.

Each part module (``challenge/checks/<part>.py``) defines ``CHECKS: list[Check]``.
:func:`run_local` runs them in this process (``challenge check``); the grader's isolated
runner splits the same checks between a sandboxed child (``run``) and itself (``verify``).
"""

from __future__ import annotations

import importlib

from challenge.checks.base import (
    Check,
    CheckFailure,
    CheckResult,
    RunOutcome,
    execute,
    judge,
)
from challenge.errors import ChallengeError
from challenge.impl import import_error, load_module
from challenge.timelimit import TooLong, time_limit

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
            mod = importlib.import_module(f"challenge.checks.{part}")
        except ModuleNotFoundError as e:
            if e.name == f"challenge.checks.{part}":
                continue
            raise
        checks.extend(mod.CHECKS)
    return checks


#: Seconds one check (or one module's import) may take in ``challenge check``: the rubric's
#: default ``check_seconds``, so a student meets locally the limit the grader applies.
LOCAL_CHECK_SECONDS = 60.0
#: Seconds each later check of a part gets once one of its checks ran past the limit: an endless
#: loop in a function that every check calls then costs one full limit, not one per check.
AFTER_TIMEOUT_SECONDS = 10.0


#: The parts whose checks build torch models: with a device, they run there.
DEVICE_PARTS = ("spam_model", "sorter_model", "lstm_cell")


def run_local(impl: str, parts=None, seed: int = 0,
              seconds: float | None = LOCAL_CHECK_SECONDS,
              after_timeout: float = AFTER_TIMEOUT_SECONDS, device=None) -> list[CheckResult]:
    """Run the checks of ``parts`` on ``impl`` in this process; one result per check. A check
    (or a module import) that runs past ``seconds`` fails with a message saying so; the later
    checks of its part then get ``after_timeout`` seconds each (when that is shorter).

    ``device`` (a ``torch.device``): the checks of :data:`DEVICE_PARTS` run there: their
    inputs are moved to it, the models they build are made on it (torch's default device for
    the check), and their outputs come back to the CPU to be verified by the same code with the
    same tolerances. The other parts (plain Python and NumPy) run on the CPU."""
    results = []
    modules: dict[str, object] = {}
    stuck: set[str] = set()       # parts with a check that ran past ``seconds``
    for check in all_checks(parts):
        data = check.make_inputs(seed)
        if check.part not in modules:
            try:
                with time_limit(seconds, f"importing {check.part}"):
                    modules[check.part] = load_module(impl, check.part)
            except ChallengeError:
                raise
            except TooLong:
                modules[check.part] = RunOutcome(
                    status="error", message=f"module {check.part} took longer than {seconds:g} s "
                                            f"to import and was stopped (an endless loop at "
                                            f"module level?)")
            except Exception as e:  # a student module that fails to import
                modules[check.part] = RunOutcome(status="error",
                                                 message=f"module {check.part} failed to import: "
                                                         f"{import_error(e)}")
        module = modules[check.part]
        if isinstance(module, RunOutcome):
            outcome = module
        else:
            limit = min(seconds, after_timeout) if seconds and check.part in stuck else seconds
            try:
                with time_limit(limit, f"{check.part}/{check.name}"):
                    sent = check.payload(data)
                    outcome = (_on_device(check, module, sent, device)
                               if device is not None and check.part in DEVICE_PARTS
                               else execute(check, module, sent))
            except TooLong:
                outcome = RunOutcome(status="error", message=_too_long(check.part, limit, seconds))
                stuck.add(check.part)
        results.append(judge(check, data, outcome))
    return results


def _on_device(check: Check, module, data, device) -> RunOutcome:
    """:func:`execute` with ``device`` as torch's default device and the inputs moved there;
    the output comes back on the CPU."""
    import torch

    from challenge.device import to_device

    with torch.device(device):
        outcome = execute(check, module, to_device(data, device))
    outcome.output = to_device(outcome.output, torch.device("cpu"))
    return outcome


def _too_long(part: str, limit: float, seconds: float) -> str:
    if limit == seconds:
        return (f"took longer than {seconds:g} s and was stopped (an endless loop? the grader "
                f"stops a check at the rubric's check_seconds too)")
    return (f"took longer than {limit:g} s and was stopped: an earlier {part} check already ran "
            f"past {seconds:g} s, so the rest of {part} get {limit:g} s each here (the grader "
            f"gives each check its full check_seconds); fix that one first")
