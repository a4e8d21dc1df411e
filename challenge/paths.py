"""Where the kit keeps its data and runs: ``data/`` and ``runs/`` under the working directory.

``CHALLENGE_DATA_DIR`` and ``CHALLENGE_RUNS_DIR`` override the defaults (tests point them at
temporary folders). Writes that must not be left half-done go through :func:`atomic_write`
or :func:`atomic_dir`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data folder: ``override``, else ``$CHALLENGE_DATA_DIR``, else ``./data``."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get("CHALLENGE_DATA_DIR", "data"))


def runs_dir(override: str | os.PathLike | None = None) -> Path:
    """The runs folder (checkpoints): ``override``, else ``$CHALLENGE_RUNS_DIR``, else ``./runs``."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get("CHALLENGE_RUNS_DIR", "runs"))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, permissions: int = 0o600,
                 **kwargs) -> Iterator:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception inside the block leaves ``path`` as it was. The file is private
    (``0o600``) unless ``permissions`` says otherwise: hidden test sets and secrets are written
    through here, so readable-by-all must be asked for (published exports pass ``0o644``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, permissions)
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole.

    On an exception the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
