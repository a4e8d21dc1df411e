"""Progress bars for long work (downloads, parsing, training, grading), quiet when asked.

Bars go to stderr so that ``--json`` output on stdout stays one clean object.
"""

from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def enabled() -> bool:
    """Bars are on unless ``CHALLENGE_QUIET=1``."""
    return os.environ.get("CHALLENGE_QUIET", "") not in ("1", "true", "yes")


def bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
        unit: str = "it", **kwargs) -> tqdm:
    """A tqdm bar on stderr; disabled when quiet. Use as an iterable wrapper or manually."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr,
                disable=not enabled(), dynamic_ncols=True, leave=False, **kwargs)
