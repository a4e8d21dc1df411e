"""Corpus records and their files: the :class:`Message` every spam part reads, and the
``data/corpora/<name>/`` and ``data/splits/<name>/`` folders it is stored in.

A corpus is ``messages.jsonl`` (one :class:`Message` per line) plus ``meta.json`` (source,
licence, counts, verification). The built-in SpamAssassin corpus and imported ones are
stored the same way, so stats, split, train and grade treat them alike.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from challenge.errors import ChallengeError
from challenge import paths

VIEWS = ("subject_body", "body", "full")
PARTS = ("train", "dev", "test")
BUILTIN = "spam"
_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class Message:
    """One labelled message: decoded subject and body, and optionally its raw header block."""

    id: str            # unique within the corpus, e.g. "spam-1/00001.7848dde1..."
    group: str         # e.g. "easy-ham-1"; imported corpora: "imported" or the folder name
    label: int         # 1 = spam, 0 = ham
    subject: str
    body: str          # decoded text of the body (HTML turned into text)
    headers: str = ""  # the raw header block (optional view)

    def text(self, view: str = "subject_body") -> str:
        """The text a model sees: ``subject_body`` (default), ``body`` or ``full`` (headers too)."""
        if view == "subject_body":
            return f"{self.subject}\n{self.body}" if self.subject else self.body
        if view == "body":
            return self.body
        if view == "full":
            return f"{self.headers}\n\n{self.body}" if self.headers else self.text()
        raise ChallengeError(f"unknown text view {view!r}; use one of {', '.join(VIEWS)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Message":
        return cls(id=str(d["id"]), group=str(d["group"]), label=int(d["label"]),
                   subject=str(d.get("subject", "")), body=str(d.get("body", "")),
                   headers=str(d.get("headers", "")))


def check_name(name: str, *, allow_builtin: bool = True) -> str:
    """Return ``name`` if it is a safe corpus identifier, else raise a ChallengeError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ChallengeError(f"corpus name {name!r} is not a safe identifier; use 1-40 lowercase "
                             "letters, digits, '-' or '_', starting with a letter (e.g. sms)")
    if name == BUILTIN and not allow_builtin:
        raise ChallengeError(f"corpus name {name!r} is reserved for the built-in SpamAssassin "
                             "corpus; pick another name (e.g. my-mail)")
    return name


def corpus_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    return paths.data_dir(data_dir) / "corpora" / check_name(name)


def splits_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    return paths.data_dir(data_dir) / "splits" / check_name(name)


def hidden_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    return paths.data_dir(data_dir) / "hidden" / check_name(name)


def to_jsonl(messages: Iterable[Message]) -> bytes:
    """The exact bytes of a ``.jsonl`` file of ``messages`` (stable, so splits hash the same)."""
    lines = (json.dumps(m.to_dict(), ensure_ascii=False, sort_keys=True) + "\n" for m in messages)
    return "".join(lines).encode("utf-8")


def read_jsonl(path: Path) -> list[Message]:
    """Messages from a ``.jsonl`` file; a malformed line is an error naming file and line."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Message.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as e:
                raise ChallengeError(f"{path}, line {n}: not a message record ({e}); re-create "
                                     "it with challenge data fetch/import/split") from None
    return out


def write_corpus(name: str, messages: list[Message], meta: dict,
                 data_dir: str | os.PathLike | None = None) -> Path:
    """Write ``messages.jsonl`` and ``meta.json`` for corpus ``name`` in one atomic step."""
    if not messages:
        raise ChallengeError(f"corpus {name!r} would be empty: no messages were found; "
                             "check the source path and format")
    target = corpus_dir(name, data_dir)
    with paths.atomic_dir(target) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; a corpus folder is ordinary data
        (tmp / "messages.jsonl").write_bytes(to_jsonl(messages))
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    return target


def _fix_for(name: str) -> str:
    if name == BUILTIN:
        return "run `challenge data fetch spam` first"
    return f"run `challenge data import {name} --format ... PATH` first"


def load_meta(name: str, data_dir: str | os.PathLike | None = None) -> dict:
    """``meta.json`` of corpus ``name``; a ChallengeError if it was never fetched or imported."""
    path = corpus_dir(name, data_dir) / "meta.json"
    if not path.is_file():
        raise ChallengeError(f"corpus {name!r} not found under {path.parent}; {_fix_for(name)}")
    return json.loads(path.read_text(encoding="utf-8"))


def load_corpus(name: str, data_dir: str | os.PathLike | None = None) -> list[Message]:
    """All messages of corpus ``name``; a ChallengeError if it was never fetched or imported."""
    path = corpus_dir(name, data_dir) / "messages.jsonl"
    if not path.is_file():
        raise ChallengeError(f"corpus {name!r} not found under {path.parent}; {_fix_for(name)}")
    return read_jsonl(path)


def split_path(name: str, part: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where split ``part`` of corpus ``name`` lives (``test`` is under ``hidden/``)."""
    if part not in PARTS:
        raise ChallengeError(f"unknown split part {part!r}; use one of {', '.join(PARTS)}")
    if part == "test":
        return hidden_dir(name, data_dir) / "test.jsonl"
    return splits_dir(name, data_dir) / f"{part}.jsonl"


def load_split(name: str, part: str, data_dir: str | os.PathLike | None = None) -> list[Message]:
    """Messages of split ``part`` ("train", "dev" or "test") of corpus ``name``; refused when
    the corpus was imported again since the split was made."""
    from challenge.data.lineage import check_split

    path = split_path(name, part, data_dir)
    if not path.is_file():
        raise ChallengeError(f"split part {part!r} of corpus {name!r} not found at {path}; "
                             f"run `challenge data split {name} --seed S` first")
    check_split(name, data_dir)
    return read_jsonl(path)


_WS = re.compile(r"\s+")


def normalise_body(body: str) -> str:
    """The body as compared for duplicates: lowercased, whitespace runs collapsed, stripped."""
    return _WS.sub(" ", body).strip().lower()


def duplicate_key(m: Message) -> str:
    """What two messages must share to count as copies: the normalised body; for a message
    with no body, its normalised subject (marked so it never equals a body), so identical
    subject-only messages, and all empty ones, are copies too."""
    body = normalise_body(m.body)
    return body if body else "\0subject:" + normalise_body(m.subject)


def duplicate_groups(messages: list[Message]) -> list[list[int]]:
    """Indices of messages with the same :func:`duplicate_key`, one list per group of 2+.

    Groups come in order of their first member, members in corpus order.
    """
    by_key: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        by_key.setdefault(duplicate_key(m), []).append(i)
    return [idx for idx in by_key.values() if len(idx) > 1]
