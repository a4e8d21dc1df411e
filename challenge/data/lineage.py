"""What was made from a corpus, and whether it still matches it: every split and hidden set
records the sha256 of the corpus's ``messages.jsonl`` it came from; a re-import that changes
the corpus is refused while they exist (unless forced, which removes them), and a split or
hidden set whose corpus changed since is refused where it would be used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from challenge import paths
from challenge.data.corpus import corpus_dir, hidden_dir, splits_dir
from challenge.errors import ChallengeError


def corpus_sha256(name: str, data_dir: str | os.PathLike | None = None) -> str | None:
    """sha256 of corpus ``name``'s messages, or None when it has none on disk."""
    path = corpus_dir(name, data_dir) / "messages.jsonl"
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


HIDDEN_META = "hidden.json"


def hidden_meta(data_dir: str | os.PathLike | None = None) -> tuple[Path, dict]:
    """The one reader of the hidden sets' metadata (``<data>/hidden/hidden.json``, written by
    `challenge hidden make`): its path, and its content ({} where there is none or it is not a
    JSON object)."""
    path = paths.data_dir(data_dir) / "hidden" / HIDDEN_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path, {}
    return path, meta if isinstance(meta, dict) else {}


def made_from(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The splits and hidden sets on disk that were made from corpus ``name``."""
    found = [p for p in (splits_dir(name, data_dir), hidden_dir(name, data_dir)) if p.exists()]
    meta_path, meta = hidden_meta(data_dir)
    if isinstance(meta.get("spam"), dict) and meta["spam"].get("corpus") == name:
        found.append(meta_path)
    return found


def guard_replace(name: str, data_dir: str | os.PathLike | None, force: bool) -> list[Path]:
    """Refuse to change corpus ``name`` while splits or hidden sets made from it exist, unless
    ``force``; returns what :func:`invalidate` will remove."""
    derived = made_from(name, data_dir)
    if derived and not force:
        what = ", ".join(str(p) for p in derived)
        raise ChallengeError(f"corpus {name!r} has splits or hidden sets made from it ({what}); "
                             f"changing it would leave them out of step. Add --force to import "
                             f"anyway (they are removed; split and run `challenge hidden make` "
                             f"again), or import under another name")
    return derived


def invalidate(name: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Remove the splits and hidden sets of corpus ``name`` (and the published unlabelled
    test file made with them); returns what was removed."""
    removed = []
    for path in made_from(name, data_dir):
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
            public = paths.data_dir(data_dir) / "public" / "spam_test_unlabelled.csv"
            if public.is_file():
                public.unlink()
                removed.append(str(public))
        removed.append(str(path))
    return removed


def check_current(name: str, recorded: str | None, what: str, fix: str,
                  data_dir: str | os.PathLike | None = None) -> None:
    """A ChallengeError when ``what`` (a split, hidden sets) was made from another version of
    corpus ``name`` than the one on disk (nothing to compare when none was recorded)."""
    now = corpus_sha256(name, data_dir)
    if recorded and now and recorded != now:
        raise ChallengeError(f"{what} was made from another version of corpus {name!r} (it was "
                             f"imported again since); {fix}")


def check_split(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Refuse the split of corpus ``name`` on disk when the corpus changed since it was made."""
    record = splits_dir(name, data_dir) / "split.json"
    try:
        recorded = json.loads(record.read_text(encoding="utf-8")).get("corpus_sha256")
    except (OSError, ValueError, AttributeError):
        return
    check_current(name, recorded, f"the split in {record.parent}",
                  f"run `challenge data split {name} --seed S` again (and `challenge hidden "
                  f"make` if it holds the hidden sets)", data_dir)
