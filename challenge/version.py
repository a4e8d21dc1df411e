"""Versions that reports and submissions carry: a release number plus a hash of the code that
decides a score, so two reports with the same version were graded alike.

The kit's public judging code (the checks, the rubric, the scoring, the report) lives in
challenge/; the instructor's grader adds its own code to the hash (grader.version).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

#: Bumped when grading changes meaning (rubric semantics, report shape, submission layout).
GRADER_VERSION = "0.1.0"

#: The modules of challenge/ that decide a score: the public checks and the local grade.
JUDGING = ("checks", "rubric.py", "rubric.toml", "scoring.py", "report.py", "grading.py")


def hash_files(root: Path, paths: list[Path], digest=None):
    """sha256 over ``paths`` (named relative to ``root``), in a stable order."""
    digest = digest or hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest


def judging_files() -> list[Path]:
    """The files of challenge/ that decide a score."""
    root = Path(__file__).resolve().parent
    files: list[Path] = []
    for name in JUDGING:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
    return files


@functools.lru_cache(maxsize=1)
def checks_hash() -> str:
    """sha256 over the public judging code of challenge/."""
    root = Path(__file__).resolve().parent.parent
    return hash_files(root, judging_files()).hexdigest()


def checks_version() -> str:
    """``0.1.0+<first 12 hex digits of checks_hash()>``: what a student's kit graded with."""
    return f"{GRADER_VERSION}+{checks_hash()[:12]}"
