"""The grader's version: the release number plus a hash of the grading code (the public judging
code of challenge/ and grader/'s own), so a report says exactly which grader produced it."""

from __future__ import annotations

import functools
from pathlib import Path

from challenge.version import GRADER_VERSION, hash_files, judging_files


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """sha256 over the grading code (not the leaderboard, its ranking, exports and the batch
    driver, which decide no score), in a stable order."""
    root = Path(__file__).resolve().parent.parent
    own = [p for p in (root / "grader").rglob("*.py")
           if not p.name.startswith(("leaderboard", "export", "ranking", "batch", "engine"))
           and "__pycache__" not in p.parts and "serve" not in p.parts and "board" not in p.parts]
    return hash_files(root, judging_files() + own).hexdigest()


def grader_version() -> str:
    """``0.1.0+<first 12 hex digits of source_hash()>``: what reports carry."""
    return f"{GRADER_VERSION}+{source_hash()[:12]}"
