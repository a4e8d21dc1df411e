"""Public tests: one per part, running the same checks as ``challenge check`` on your modules.

    pytest tests/public                 # every part
    pytest tests/public -k lstm_cell    # one part

A part you have not written yet FAILS with "not implemented yet: <hint>": that message, and
the message of every other failing check, is your feedback. Which modules are tested:
``$CHALLENGE_IMPL`` when set ("challenge", "solutions" or a folder of modules); otherwise the
reference ``solutions`` when this checkout has a solutions/ folder (the instructor's kit, whose
own test suite must pass), else your modules in challenge/ (the student bundle).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from challenge.checks import PARTS, run_local


def impl_under_test() -> str:
    """The implementation under test (see the module docstring)."""
    if os.environ.get("CHALLENGE_IMPL"):
        return os.environ["CHALLENGE_IMPL"]
    root = Path(__file__).resolve().parents[2]
    return "solutions" if (root / "solutions").is_dir() else "challenge"


@pytest.mark.parametrize("part", PARTS)
def test_part(part: str) -> None:
    impl = impl_under_test()
    results = run_local(impl, [part])
    if not results:
        pytest.skip(f"the grader has no public checks for {part} yet")
    failed = [r for r in results if not r.passed]
    if failed:
        lines = [f"{part} ({impl}): {len(failed)} of {len(results)} checks failed"]
        lines += [f"  x {r.name}: {r.message}" for r in failed]
        pytest.fail("\n".join(lines), pytrace=False)
