"""``challenge data split NAME --seed S``: deterministic, stratified, duplicate-aware splits.

Schemes:

* ``random``: stratified by label, 70% train, 10% dev, 20% test.
* ``temporal`` (SpamAssassin groups only): train and dev come from the older mail
  (easy-ham-1, spam-1 and a seeded half of hard-ham-1, split 7:1 stratified), test from the
  newer mail (easy-ham-2, spam-2 and the other half of hard-ham-1). Imported corpora have no
  such groups, so temporal is refused there with the fix (use random).

Messages whose normalised bodies are identical (and messages without a body whose subjects
are: subject-only and empty ones) form one unit that is assigned whole, so no text is in both
train/dev and test. In the temporal scheme a unit with any member on the
test side goes entirely to test: the newer mail is never moved into training, and the few
older copies that move are counted in ``split.json`` (``moved_for_duplicates``).

train and dev go to ``splits/NAME/`` (public), test with its labels to ``hidden/NAME/``. The
same corpus and seed give byte-identical files; ``split.json`` records seed, scheme, counts
and the sha256 of each part.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import asdict, dataclass

from challenge import paths
from challenge.data.corpus import (
    Message,
    check_name,
    corpus_dir,
    duplicate_groups,
    duplicate_key,
    load_corpus,
    split_path,
    splits_dir,
    to_jsonl,
)
from challenge.errors import ChallengeError

SCHEMES = ("random", "temporal")
FRACTIONS = {"train": 0.7, "dev": 0.1, "test": 0.2}
EARLY = ("easy-ham-1", "spam-1")
LATE = ("easy-ham-2", "spam-2")
SHARED = "hard-ham-1"


@dataclass
class SplitResult:
    """What a split wrote: seed, scheme, per-part counts and hashes, and where."""

    corpus: str
    seed: int
    scheme: str
    counts: dict[str, dict[str, int]]
    sha256: dict[str, str]
    duplicate_groups: int
    moved_for_duplicates: int
    files: dict[str, str]

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = ", ".join(f"{p} {c['messages']:,} ({c['spam']:,} spam)"
                          for p, c in self.counts.items())
        return (f"split {self.corpus} ({self.scheme}, seed {self.seed}): {parts}; public parts in "
                f"{os.path.dirname(self.files['train'])}, hidden test in {self.files['test']}")


def parse_seed(seed: object) -> int:
    """``seed`` as an int; a ChallengeError naming it when it is not a whole number."""
    if isinstance(seed, bool):
        raise ChallengeError(f"split seed {seed!r} is not an integer; pass e.g. --seed 0")
    if isinstance(seed, int):
        return seed
    try:
        return int(str(seed).strip())
    except ValueError:
        raise ChallengeError(f"split seed {seed!r} is not an integer; pass a whole number, "
                             "e.g. --seed 0") from None


def _units(messages: list[Message]) -> list[list[int]]:
    """Groups of indices assigned together: each duplicate group, and every other message alone."""
    grouped = duplicate_groups(messages)
    taken = {i for g in grouped for i in g}
    units = grouped + [[i] for i in range(len(messages)) if i not in taken]
    return sorted(units, key=lambda u: u[0])


def _unit_label(unit: list[int], messages: list[Message]) -> int:
    spam = sum(messages[i].label for i in unit)
    return int(2 * spam >= len(unit))


def _stratified(units: list[list[int]], messages: list[Message], rng: random.Random,
                shares: dict[str, float]) -> dict[str, list[int]]:
    """Assign shuffled units per label, filling the parts of ``shares`` in order (last = rest)."""
    out: dict[str, list[int]] = {p: [] for p in shares}
    names = list(shares)
    for label in (0, 1):
        pool = [u for u in units if _unit_label(u, messages) == label]
        rng.shuffle(pool)
        total = sum(len(u) for u in pool)
        targets = {p: round(shares[p] * total) for p in names[:-1]}
        filled = {p: 0 for p in names}
        for unit in pool:
            part = next((p for p in names[:-1] if filled[p] < targets[p]), names[-1])
            out[part].extend(unit)
            filled[part] += len(unit)
    return out


def _random(messages: list[Message], seed: int,
            test: float = FRACTIONS["test"]) -> tuple[dict[str, list[int]], int]:
    rng = random.Random(seed)
    parts = _stratified(_units(messages), messages, rng,
                        {"test": test, "dev": FRACTIONS["dev"], "train": 0.0})
    return parts, 0


def _temporal(name: str, messages: list[Message], seed: int) -> tuple[dict[str, list[int]], int]:
    present = {m.group for m in messages}
    needed = set(EARLY + LATE + (SHARED,))
    if not needed <= present:
        raise ChallengeError(f"the temporal scheme needs the SpamAssassin groups "
                             f"({', '.join(sorted(needed))}) but corpus {name!r} has "
                             f"{', '.join(sorted(present))}; use --scheme random")
    rng = random.Random(seed)
    shared = [i for i, m in enumerate(messages) if m.group == SHARED]
    rng.shuffle(shared)
    early_shared = set(shared[: len(shared) // 2])
    late = [m.group in LATE or (m.group == SHARED and i not in early_shared)
            for i, m in enumerate(messages)]
    test, early_units, moved = [], [], 0
    for unit in _units(messages):
        if any(late[i] for i in unit):
            test.extend(unit)
            moved += sum(not late[i] for i in unit)
        else:
            early_units.append(unit)
    dev_share = FRACTIONS["dev"] / (FRACTIONS["train"] + FRACTIONS["dev"])
    parts = _stratified(early_units, messages, rng, {"dev": dev_share, "train": 0.0})
    return {"test": test, **parts}, moved


def _counts(part: list[Message]) -> dict[str, int]:
    spam = sum(m.label for m in part)
    return {"messages": len(part), "ham": len(part) - spam, "spam": spam}


def make_split(name: str, seed: int, scheme: str = "random",
               data_dir: str | os.PathLike | None = None, *, force: bool = False,
               test_fraction: float | None = None) -> SplitResult:
    """Split corpus ``name`` by ``seed`` and ``scheme``: train/dev (public), test (hidden).

    A split that would replace the test part of hidden sets made from a secret (``challenge
    hidden make``) is refused unless ``force``: their test part would become one that anyone
    can remake from ``seed``. ``test_fraction`` (random scheme): the share of the corpus in
    the test part (default 0.2; `challenge hidden make --test-fraction` for a small corpus).
    """
    check_name(name)
    seed = parse_seed(seed)
    if scheme not in SCHEMES:
        raise ChallengeError(f"unknown split scheme {scheme!r}; use one of {', '.join(SCHEMES)}")
    messages = load_corpus(name, data_dir)
    if not messages:
        raise ChallengeError(f"corpus {name!r} is empty; fetch or import it again")
    spam = sum(m.label == 1 for m in messages)
    if spam in (0, len(messages)):
        raise ChallengeError(f"corpus {name!r} holds only {'ham' if spam == 0 else 'spam'} "
                             f"({len(messages)} messages); a spam classifier needs both classes: "
                             f"import the other class too (`challenge data import {name} ...`)")
    fractions = FRACTIONS if test_fraction is None else \
        {"train": round(1 - FRACTIONS["dev"] - test_fraction, 6), "dev": FRACTIONS["dev"],
         "test": test_fraction}
    if not 0 < fractions["test"] < 0.8:
        raise ChallengeError(f"test fraction {test_fraction!r} is invalid; expected a share "
                             f"above 0 and below 0.8 (train needs the rest)")
    if scheme == "random":
        index, moved = _random(messages, seed, fractions["test"])
    else:
        index, moved = _temporal(name, messages, seed)
    parts = {p: [messages[i] for i in sorted(index[p])] for p in ("train", "dev", "test")}
    test_keys = {duplicate_key(m) for m in parts["test"]}
    assert not any(duplicate_key(m) in test_keys for m in parts["train"] + parts["dev"])
    for part, members in parts.items():
        if not members:
            raise ChallengeError(f"corpus {name!r} is too small to split: the {part} part would "
                                 f"be empty ({len(messages)} messages); add more messages")
    blobs = {p: to_jsonl(members) for p, members in parts.items()}
    if not force:
        _keep_hidden_sets(name, hashlib.sha256(blobs["test"]).hexdigest(), data_dir)
    corpus_file = corpus_dir(name, data_dir) / "messages.jsonl"
    result = SplitResult(
        corpus=name, seed=seed, scheme=scheme,
        counts={p: _counts(members) for p, members in parts.items()},
        sha256={p: hashlib.sha256(b).hexdigest() for p, b in blobs.items()},
        duplicate_groups=len(duplicate_groups(messages)), moved_for_duplicates=moved,
        files={p: str(split_path(name, p, data_dir)) for p in parts})
    record = {**{k: v for k, v in result.to_dict().items() if k != "files"},
              "fractions": fractions if scheme == "random" else
              {"test": "easy-ham-2, spam-2, half of hard-ham-1",
               "dev_share_of_the_rest": round(FRACTIONS["dev"] / (1 - FRACTIONS["test"]), 4)},
              "corpus_sha256": hashlib.sha256(corpus_file.read_bytes()).hexdigest()}
    for part in ("test", "train", "dev"):  # the hidden part first, the public record last
        with paths.atomic_write(split_path(name, part, data_dir), "wb") as f:
            f.write(blobs[part])
        if part != "test":  # the temporary file was private; the public parts are not
            os.chmod(split_path(name, part, data_dir), 0o644)
    record_path = splits_dir(name, data_dir) / "split.json"
    with paths.atomic_write(record_path, "w", encoding="utf-8") as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.chmod(record_path, 0o644)
    return result


def _keep_hidden_sets(name: str, test_sha256: str, data_dir: str | os.PathLike | None) -> None:
    """Refuse to replace the test part that hidden sets (``hidden/hidden.json``) were made on."""
    from challenge.data.lineage import hidden_meta

    meta_path, meta = hidden_meta(data_dir)
    spam = meta.get("spam") if isinstance(meta.get("spam"), dict) else {}
    if spam.get("corpus") != name or spam.get("test_sha256") in (None, test_sha256):
        return
    raise ChallengeError(f"corpus {name!r} holds the hidden sets of `challenge hidden make` "
                         f"({meta_path}); this split would replace their secret test part with "
                         f"one anyone can remake from the seed. To change the hidden sets, run "
                         f"`challenge hidden make --secret-file FILE` again; to split anyway, "
                         f"add --force (then run hidden make again before grading)")
