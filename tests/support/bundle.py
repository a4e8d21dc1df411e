"""A data folder for building student bundles in tests: public splits, and everything that must
stay with the instructor (a hidden test message, a secret, the raw corpus)."""

from __future__ import annotations

import json
from pathlib import Path

from challenge.data.corpus import Message, to_jsonl

HIDDEN_MARKER = "HIDDEN-TEST-MESSAGE-7f3a"
SECRET = "0123456789abcdef-instructor-secret"


def make_data(folder: Path) -> Path:
    """A data folder with public splits and everything that must stay with the instructor."""
    def msgs(n, tag):
        return [Message(id=f"{tag}/{i}", group=tag, label=i % 2, subject=f"{tag} {i}",
                        body=f"win money now {i}" if i % 2 else f"meeting notes {i}")
                for i in range(n)]
    (folder / "splits" / "spam").mkdir(parents=True)
    (folder / "splits" / "spam" / "train.jsonl").write_bytes(to_jsonl(msgs(12, "train")))
    (folder / "splits" / "spam" / "dev.jsonl").write_bytes(to_jsonl(msgs(6, "dev")))
    (folder / "splits" / "spam" / "split.json").write_text(json.dumps(
        {"seed": 123456789, "scheme": "random", "sha256": {"train": "aa", "dev": "bb", "test": "cc"},
         "counts": {"train": {"messages": 12}, "dev": {"messages": 6}, "test": {"messages": 3}}}))
    (folder / "hidden" / "spam").mkdir(parents=True)
    hidden = [Message(id="t/1", group="spam-1", label=1, subject=HIDDEN_MARKER, body=HIDDEN_MARKER)]
    (folder / "hidden" / "spam" / "test.jsonl").write_bytes(to_jsonl(hidden))
    (folder / "hidden" / "secret.txt").write_text(SECRET)
    (folder / "corpora" / "spam").mkdir(parents=True)
    (folder / "corpora" / "spam" / "messages.jsonl").write_bytes(to_jsonl(hidden))
    (folder / "public").mkdir()
    (folder / "public" / "spam_test_unlabelled.csv").write_text("id,text\nm00001,hello\n")
    return folder


