"""``challenge data stats NAME``: counts, verification, duplicates and lengths of a corpus.

Token lengths use a deliberately simple, documented count (not the model's tokenizer):
the number of words, a word being a maximal run of letters, digits or underscores (the
regex ``\\w+``), in the subject and body together. Percentiles are nearest-rank: the p-th
percentile is the smallest length that at least p% of messages do not exceed.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass

from challenge.data.corpus import Message, check_name, duplicate_groups, load_corpus, load_meta

_WORD = re.compile(r"\w+")
PERCENTILES = (50, 90, 99)
LONG = 256


def word_count(text: str) -> int:
    """The documented simple token count: runs of ``\\w`` characters."""
    return sum(1 for _ in _WORD.finditer(text))


def percentile(sorted_values: list[int], p: float) -> int:
    """Nearest-rank percentile of an ascending list (0 for an empty list)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class CorpusStats:
    """The figures ``challenge data stats`` reports; ``to_dict()`` is its ``--json`` output."""

    name: str
    source: str
    licence: str
    messages: int
    ham: int
    spam: int
    verified: bool
    groups: dict[str, int]
    empty_body: int
    parse_failures: int
    duplicate_bodies: dict[str, int]
    tokens: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        rows = [("corpus", self.name), ("source", self.source), ("licence", self.licence),
                ("messages", f"{self.messages:,}"), ("ham", f"{self.ham:,}"),
                ("spam", f"{self.spam:,}"), ("verified", "yes" if self.verified else "no"),
                *((f"  {g}", f"{n:,}") for g, n in self.groups.items()),
                ("empty body", f"{self.empty_body:,}"),
                ("parse failures", f"{self.parse_failures:,}"),
                ("duplicate bodies", f"{self.duplicate_bodies['messages']:,} messages in "
                                     f"{self.duplicate_bodies['groups']:,} groups"),
                ("words p50/p90/p99", f"{self.tokens['p50']:,} / {self.tokens['p90']:,} / "
                                      f"{self.tokens['p99']:,}"),
                (f"over {LONG} words", f"{self.tokens[f'over_{LONG}']:.1%}")]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def compute_stats(name: str, messages: list[Message], meta: dict) -> CorpusStats:
    """Stats of ``messages`` (the corpus itself; ``meta`` supplies provenance and failures)."""
    spam = sum(m.label for m in messages)
    groups = Counter(m.group for m in messages)
    dups = duplicate_groups(messages)
    lengths = sorted(word_count(m.text("subject_body")) for m in messages)
    tokens: dict[str, float] = {f"p{p}": percentile(lengths, p) for p in PERCENTILES}
    tokens["mean"] = round(sum(lengths) / len(lengths), 1) if lengths else 0.0
    tokens["max"] = lengths[-1] if lengths else 0
    tokens[f"over_{LONG}"] = round(sum(n > LONG for n in lengths) / max(1, len(lengths)), 4)
    return CorpusStats(
        name=name, source=str(meta.get("source", "")), licence=str(meta.get("licence", "")),
        messages=len(messages), ham=len(messages) - spam, spam=spam,
        verified=bool(meta.get("verified", False)), groups=dict(sorted(groups.items())),
        empty_body=sum(1 for m in messages if not m.body),
        parse_failures=int(meta.get("parse_failures", 0)),
        duplicate_bodies={"messages": sum(len(g) for g in dups), "groups": len(dups)},
        tokens=tokens)


def corpus_stats(name: str, data_dir: str | os.PathLike | None = None) -> CorpusStats:
    """Stats of fetched or imported corpus ``name``; a ChallengeError if it is not there."""
    check_name(name)
    meta = load_meta(name, data_dir)
    return compute_stats(name, load_corpus(name, data_dir), meta)
