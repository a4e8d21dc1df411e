"""The check protocol: inputs are made and outputs verified in the grader's process; only the
``run`` step executes student code (in a sandboxed child process when grading a submission).

A check that fails raises :class:`CheckFailure` with a message that tells a student what was
expected, what came back, and a hint - never the check's source or any hidden data.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import asdict, dataclass, replace
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch

from challenge.checks.outputs import OutputMismatch, conforms, derived


class CheckFailure(AssertionError):
    """A check's verdict: the student's output is wrong; the message says how."""


@dataclass(frozen=True)
class Check:
    """One unit-level check of one student module.

    make_inputs(seed) -> data  (grader process; plain tensors/lists/dicts/numbers)
    run(module, data) -> output  (calls student code; output is plain data as well)
    verify(data, output) -> None (grader process; raises CheckFailure)
    """

    part: str       # the student module, e.g. "lstm_cell"
    name: str       # short, stable, e.g. "forward_matches_torch"
    points: float
    make_inputs: Callable[[int], Any]
    run: Callable[[ModuleType, Any], Any]
    verify: Callable[[Any, Any], None]
    description: str = ""
    #: explain(error) -> a hint for an exception the run step raised ("" when none applies);
    #: it sees only the exception, and runs where ``run`` runs.
    explain: Callable[[BaseException], str] | None = None
    #: the keys of the inputs that ``run`` receives (None: all of them); the rest (expected
    #: values) stay where ``verify`` runs and never reach student code
    sends: tuple[str, ...] | None = None
    #: expects(inputs) -> the output this check accepts (:mod:`challenge.checks.outputs`),
    #: checked before ``verify`` runs; by default a size derived from the inputs it sent
    expects: Callable[[Any], Any] | None = None

    @property
    def key(self) -> str:
        return f"{self.part}.{self.name}"

    def payload(self, data: Any) -> Any:
        """What ``run`` receives: the inputs named in ``sends``, never an expected value."""
        if self.sends is None or not isinstance(data, dict):
            return data
        return {k: data[k] for k in self.sends}

    def expected(self, data: Any) -> Any:
        """The declaration of the output this check accepts for inputs ``data``."""
        return self.expects(data) if self.expects is not None else derived(self.payload(data))


def declare(checks: list[Check], sends: dict[str, tuple[str, ...]],
            expects: dict[str, Callable[[Any], Any]]) -> list[Check]:
    """``checks`` with what each one sends to student code and the output it expects, by name;
    a check missing from either is a mistake of the kit (every check names its inputs and
    declares its output: types, shapes or length bounds from its inputs, dtypes)."""
    missing = [c.name for c in checks if c.name not in sends or c.name not in expects]
    assert not missing, f"checks without a declaration of what they send or expect: {missing}"
    return [replace(c, sends=sends[c.name], expects=expects[c.name]) for c in checks]


@dataclass
class CheckResult:
    part: str
    name: str
    passed: bool
    points: float
    max_points: float
    message: str
    status: str = "passed"   # "passed" | "failed" | "not_implemented" | "error"

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"[{mark}] {self.part}.{self.name} ({self.points:g}/{self.max_points:g}) {self.message}"


@dataclass
class RunOutcome:
    """What the run step produced: an output, or the reason it produced none."""

    output: Any = None
    status: str = "ok"       # "ok" | "not_implemented" | "error"
    message: str = ""


def execute(check: Check, module: ModuleType, data: Any) -> RunOutcome:
    """Run the student-code step of ``check``, turning exceptions into an outcome."""
    try:
        return RunOutcome(output=check.run(module, data))
    except NotImplementedError as e:
        return RunOutcome(status="not_implemented", message=str(e) or "see the docstring")
    except Exception as e:  # student code may raise anything; report where, not our source
        message = _describe_exception(e, getattr(module, "__file__", None))
        hint = _hint_for(check, e)
        if hint:
            message = f"{message.rstrip('.')}. Hint: {hint}"
        return RunOutcome(status="error", message=message)


def _hint_for(check: Check, error: BaseException) -> str:
    """The check's hint for ``error``; a failing ``explain`` gives none (it is ours, not the
    student's, and must not hide the error)."""
    if check.explain is None:
        return ""
    try:
        return check.explain(error)
    except Exception:
        return ""


def judge(check: Check, data: Any, outcome: RunOutcome) -> CheckResult:
    """Verify an outcome in the grader's process and give points."""
    def result(passed: bool, message: str, status: str) -> CheckResult:
        return CheckResult(check.part, check.name, passed, check.points if passed else 0.0,
                           check.points, message, status)

    if outcome.status == "not_implemented":
        return result(False, f"not implemented yet: {outcome.message}", "not_implemented")
    if outcome.status != "ok":
        return result(False, outcome.message, "error")
    try:
        conforms(check.expected(data), outcome.output)
    except OutputMismatch as e:   # before any verify: it never meets what it did not ask for
        return result(False, f"{e} (the output this check expects)", "failed")
    try:
        check.verify(data, outcome.output)
    except CheckFailure as e:
        return result(False, str(e), "failed")
    except Exception as e:  # malformed output (wrong type, NaN...) is the student's error too
        return result(False, f"output could not be checked: {type(e).__name__}: {e}", "failed")
    return result(True, "ok", "passed")


def _describe_exception(e: BaseException, student_file: str | None = None) -> str:
    """``TypeError at tokenizer.py:42 in encode (`ids = ...`): ...`` - the innermost frame in
    the student's file ``student_file`` (with its line of code), so an error raised deep inside
    torch points at the student's call; without such a frame, the innermost frame outside the
    grader."""
    frames = traceback.extract_tb(e.__traceback__)
    own = [f for f in frames if student_file and _same_file(f.filename, student_file)]
    where = ""
    if own:
        f = own[-1]
        code = (f.line or "").strip()
        where = (f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"
                 + (f" (`{code[:120]}`)" if code else ""))
    else:
        others = [f for f in frames if "/grader/" not in f.filename]
        if others:
            f = others[-1]
            where = f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"raised {type(e).__name__}{where}" + (f": {text[:300]}" if text else "")


def _same_file(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


# --- tensor-aware assertions, for verify() --------------------------------------------------

def as_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    raise CheckFailure(f"{what}: expected a tensor, got {type(x).__name__}")


def expect_shape(x: Any, shape: tuple, what: str, hint: str = "") -> torch.Tensor:
    t = as_tensor(x, what)
    if tuple(t.shape) != tuple(shape):
        raise CheckFailure(f"{what}: expected shape {tuple(shape)}, got {tuple(t.shape)}"
                           + (f". Hint: {hint}" if hint else ""))
    return t


def expect_dtype(x: Any, dtypes: tuple, what: str) -> torch.Tensor:
    t = as_tensor(x, what)
    if t.dtype not in dtypes:
        names = " or ".join(str(d).replace("torch.", "") for d in dtypes)
        raise CheckFailure(f"{what}: expected dtype {names}, got {str(t.dtype).replace('torch.', '')}")
    return t


def expect_close(actual: Any, expected: Any, what: str, *, atol: float = 1e-5,
                 rtol: float = 1e-4, hint: str = "") -> None:
    """Shape, finiteness, then values; the message names the first mismatching index."""
    a = as_tensor(actual, what)
    e = as_tensor(expected, f"reference {what}")
    if tuple(a.shape) != tuple(e.shape):
        raise CheckFailure(f"{what}: expected shape {tuple(e.shape)}, got {tuple(a.shape)}"
                           + (f". Hint: {hint}" if hint else ""))
    a64, e64 = a.detach().to(torch.float64), e.detach().to(torch.float64)
    if not torch.isfinite(a64).all():
        bad = torch.nonzero(~torch.isfinite(a64))[0].tolist()
        raise CheckFailure(f"{what}: contains NaN or inf (first at index {tuple(bad)})"
                           + (f". Hint: {hint}" if hint else ""))
    diff = (a64 - e64).abs()
    bad = diff > atol + rtol * e64.abs()
    if bad.any():
        idx = tuple(torch.nonzero(bad)[0].tolist())
        raise CheckFailure(
            f"{what}: values differ at {int(bad.sum())} of {bad.numel()} positions; first at index "
            f"{idx}: expected {e64[idx].item():.6g}, got {a64[idx].item():.6g} "
            f"(max abs difference {diff.max().item():.3g}, tolerance {atol:g})"
            + (f". Hint: {hint}" if hint else ""))


def expect_equal(actual: Any, expected: Any, what: str, hint: str = "") -> None:
    """Exact equality of plain values (ids, strings, lists)."""
    if isinstance(actual, torch.Tensor):
        actual = actual.tolist()
    if isinstance(expected, torch.Tensor):
        expected = expected.tolist()
    if actual != expected:
        first = _first_difference(actual, expected)
        if first is not None:   # nested lists of one shape: the first differing entry and its row
            idx, row_e, row_a = first
            at = ", ".join(map(str, idx))
            raise CheckFailure(f"{what}: first difference at index ({at}): expected "
                               f"{_trim(_at(expected, idx))}, got {_trim(_at(actual, idx))} "
                               f"(that row: expected {_trim(row_e)}, got {_trim(row_a)})"
                               + (f". Hint: {hint}" if hint else ""))
        raise CheckFailure(f"{what}: expected {_trim(expected)}, got {_trim(actual)}"
                           + (f". Hint: {hint}" if hint else ""))


def _trim(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _at(value: Any, idx: tuple) -> Any:
    for i in idx:
        value = value[i]
    return value


def _first_difference(actual: Any, expected: Any, idx: tuple = ()):
    """(index, expected row, actual row) of the first differing entry of two nested lists of
    the same shape; None when the shapes differ or they are not lists."""
    if not (isinstance(actual, list) and isinstance(expected, list)) or len(actual) != len(expected):
        return None
    nested = [isinstance(e, list) for e in expected]
    if any(nested) and not all(nested):
        return None
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a == e:
            continue
        if isinstance(e, list):
            return _first_difference(a, e, idx + (i,))
        return (idx + (i,), expected, actual) if idx else None
    return None
