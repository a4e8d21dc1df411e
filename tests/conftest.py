"""Shared test setup: quiet progress bars, polite OpenMP, and the real corpus once per session.

Tiny hand-made corpora for unit tests live in ``tests/support/spam_mail.py``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["CHALLENGE_QUIET"] = "1"
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # spin-waiting threads slow shared cores badly


@pytest.fixture(scope="session")
def spam_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the real, verified SpamAssassin corpus split with seed 0 (random).

    Fetched once per session (through the kit's own source order). If
    ``CHALLENGE_TEST_DATA_DIR`` names a data folder that already holds the parsed corpus, that
    corpus is copied instead of fetched; the split is always made afresh in the temp folder.
    """
    from challenge.data.fetch import fetch_spam
    from challenge.data.split import make_split

    target = tmp_path_factory.mktemp("spam-data")
    cached = os.environ.get("CHALLENGE_TEST_DATA_DIR")
    if cached and (Path(cached) / "corpora" / "spam" / "meta.json").is_file():
        shutil.copytree(Path(cached) / "corpora" / "spam", target / "corpora" / "spam")
    else:
        fetch_spam(data_dir=target)
    make_split("spam", seed=0, scheme="random", data_dir=target)
    return target
