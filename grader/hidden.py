"""Hidden test sets from an instructor's secret (``challenge hidden make``), and the sets a grade
is computed on: the hidden ones for the instructor, the public dev ones for a student.

From one secret file come, each with its own derived seed: the spam split (public train/dev,
hidden test, by the data module), the published order and opaque ids of the hidden test messages
(``m00001``...: a corpus id would give the label away), the hidden sorter sequences (in range and
longer), and the public/private partition of every hidden set. Files under ``data/hidden/`` are
private to the instructor (mode 600); ``data/public/spam_test_unlabelled.csv`` is for students.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import time
from pathlib import Path

from challenge import paths
from challenge.data.corpus import Message, load_meta, load_split, read_jsonl, split_path
from challenge.data.lineage import (
    HIDDEN_META,
    check_current,
    corpus_sha256,
    hidden_meta,
)
from challenge.data.sequences import make_sequences
from challenge.errors import ChallengeError
from challenge.rubric import Rubric, SorterSettings, course_file, load_rubric
from challenge.scoring import SorterSet, SpamSet, dev_sorter, dev_spam  # noqa: F401 (the grader's sets)
from grader.predictions import write_unlabelled

META_NAME = HIDDEN_META
UNLABELLED_NAME = "spam_test_unlabelled.csv"


def hidden_root(data_dir: str | os.PathLike | None = None) -> Path:
    return paths.data_dir(data_dir) / "hidden"


def unlabelled_path(data_dir: str | os.PathLike | None = None) -> Path:
    """The published unlabelled spam test file (``id,text``) for predictions submissions."""
    return paths.data_dir(data_dir) / "public" / UNLABELLED_NAME


def read_secret(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise ChallengeError(f"secret file {path} does not exist; create one with "
                             f"`challenge hidden make --secret-file {path} --new`")
    secret = path.read_text(encoding="utf-8", errors="strict").strip()
    if not secret:
        raise ChallengeError(f"secret file {path} is empty; put a long random string in it or "
                             f"create a new one with --new")
    return secret


def new_secret(path: str | os.PathLike) -> Path:
    """Write a fresh random secret (256 bits) to ``path``, readable by its owner only."""
    path = Path(path)
    if path.exists():
        raise ChallengeError(f"secret file {path} already exists; drop --new to use it, or pick "
                             f"another path (never overwrite a secret that graded anything)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def derive_seed(secret: str, purpose: str) -> int:
    """A 63-bit seed for one purpose; seeds of different purposes reveal nothing of each other."""
    digest = hashlib.sha256(f"challenge-hidden:{purpose}:{secret}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _private_flags(n: int, secret: str, purpose: str, public_fraction: float) -> list[bool]:
    k = round(n * (1.0 - public_fraction))
    chosen = set(random.Random(derive_seed(secret, f"partition:{purpose}")).sample(range(n), k))
    return [i in chosen for i in range(n)]


def make_hidden(*, secret_file: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                rubric: str | os.PathLike | Rubric | None = None, new: bool = False,
                train_reference: bool = False, reference_training=None,
                test_fraction: float | None = None) -> dict:
    """Make every hidden set from the secret in ``secret_file``; returns what was written.

    Where the rubric's spam band is not fixed for the course corpus, the band is measured on
    the hidden set (:mod:`grader.bands`): with the reference runs cached on this split, or
    trained first (``train_reference``, with ``reference_training``). A hidden set with fewer
    spam messages than the band's ``min_positives`` is refused before anything is written;
    ``test_fraction`` puts more of the corpus into it."""
    from challenge.data.split import make_split  # the data module owns the split itself

    rub = rubric if isinstance(rubric, Rubric) else load_rubric(rubric, data_dir=data_dir)
    corpus, scheme = rub.hidden.spam_corpus, rub.hidden.spam_scheme
    load_meta(corpus, data_dir)  # a missing corpus is an error before anything is written
    _check_size(rub, data_dir, test_fraction)
    if new:
        new_secret(secret_file)
    secret = read_secret(secret_file)
    split = make_split(corpus, derive_seed(secret, "spam-split"), scheme, data_dir, force=True,
                       test_fraction=test_fraction)
    test = sorted(read_jsonl(split_path(corpus, "test", data_dir)), key=lambda m: m.id)
    random.Random(derive_seed(secret, "spam-order")).shuffle(test)
    spam_private = _private_flags(len(test), secret, "spam", rub.hidden.public_fraction)
    spam_ids = [f"m{j + 1:05d}" for j in range(len(test))]

    s = rub.sorter
    seqs = {name: make_sequences(s.hidden_size, derive_seed(secret, f"sorter-{name}"), lo, hi,
                                 s.low, s.high)
            for name, lo, hi in (("in", s.min_len, s.max_len),
                                 ("long", s.long_min_len, s.long_max_len))}
    rows = []
    for name, pairs in seqs.items():
        flags = _private_flags(len(pairs), secret, f"sorter-{name}", rub.hidden.public_fraction)
        rows += [{"id": f"{name}-{j + 1:05d}", "long": name == "long", "private": flags[j],
                  "values": values} for j, (values, _) in enumerate(pairs)]
    root = hidden_root(data_dir)
    sorter_file = root / "sorter" / "test.jsonl"
    blob = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
    with paths.atomic_write(sorter_file, "w", encoding="utf-8") as f:
        f.write(blob)
    public = _publish(rub, data_dir, spam_ids, test)
    meta = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "secret_fingerprint": hashlib.sha256(f"fingerprint:{secret}".encode()).hexdigest()[:16],
        # where the secret is, so grading can hide it from submissions (the public corpus and
        # the secret give back every hidden label); never the secret itself
        "secret_file": str(Path(secret_file).resolve()),
        "public_fraction": rub.hidden.public_fraction,
        "checks_seed": derive_seed(secret, "checks") % (1 << 31),
        "spam": {"corpus": corpus, "scheme": scheme, "test_sha256": split.sha256["test"],
                 "corpus_sha256": corpus_sha256(corpus, data_dir),
                 "examples": [[i, m.id, p] for i, m, p in zip(spam_ids, test, spam_private)]},
        "sorter": {"settings": _sorter_settings(s), "file_sha256": _sha256(blob.encode())},
    }
    measured = _measure_band(rub, (test, spam_private), data_dir, derive_seed(secret, "bands"),
                             train_reference, reference_training)
    if measured:
        meta["spam"]["bands"] = measured
    with paths.atomic_write(root / META_NAME, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    _write_course(rub, data_dir)
    return {"bands": measured,
            "folder": str(root), "public_file": str(public) if public else "",
            "course_file": str(course_file(data_dir)),
            "spam": {"corpus": corpus, "scheme": scheme, "messages": len(test),
                     "private": sum(spam_private), "splits": split.counts},
            "sorter": {"in_range": s.hidden_size, "longer": s.hidden_size,
                       "lengths": f"{s.min_len}..{s.max_len}",
                       "long_lengths": f"{s.long_min_len}..{s.long_max_len}"},
            "secret_fingerprint": meta["secret_fingerprint"]}


def _publish(rub: Rubric, data_dir, ids: list[str], test: list[Message]) -> Path | None:
    """The unlabelled hidden test texts for predictions submissions, where the course takes
    them; a code-only course publishes none (and removes one left from before)."""
    path = unlabelled_path(data_dir)
    if not rub.hidden.predictions:
        path.unlink(missing_ok=True)
        return None
    public = write_unlabelled(path, ids, [m.text() for m in test])
    os.chmod(public, 0o644)
    return public


def _write_course(rub: Rubric, data_dir) -> None:
    """The course configuration (data/course.toml): the rubric these sets were made with, so
    every later command, and the student bundle, follows it without an option."""
    source, target = Path(rub.source), course_file(data_dir)
    if not source.is_file() or (target.is_file() and source.resolve() == target.resolve()):
        return
    with paths.atomic_write(target, "w", encoding="utf-8", permissions=0o644) as f:
        f.write(source.read_text(encoding="utf-8"))


def _check_size(rub: Rubric, data_dir, test_fraction: float | None) -> None:
    """Refuse a spam hidden set too small to measure a band on: fewer spam messages than the
    band's ``min_positives`` (one missed spam would be worth a large share of the points)."""
    from challenge.data.corpus import load_corpus
    from challenge.data.split import FRACTIONS

    task = rub.task("spam")
    band = task.quality if task else None
    if band is None or rub.hidden.spam_scheme != "random" or \
            (band.fixed and band.corpus in ("", rub.hidden.spam_corpus)):
        return    # thresholds the instructor fixed for this corpus: their choice, not measured
    need, fraction = task.quality.min_positives, test_fraction or FRACTIONS["test"]
    spam = sum(m.label == 1 for m in load_corpus(rub.hidden.spam_corpus, data_dir))
    if round(fraction * spam) >= need:
        return
    fix = (f"pass --test-fraction {min(0.75, need / spam + 0.005):.2f} to put more of it into "
           f"the hidden set" if need / spam < 0.75 else
           f"import more spam (`challenge data import {rub.hidden.spam_corpus} ...`)")
    raise ChallengeError(
        f"the hidden spam set would hold about {round(fraction * spam)} spam messages "
        f"({fraction:g} of the {spam} in corpus {rub.hidden.spam_corpus!r}); grading needs at "
        f"least {need} (min_positives of the spam quality band), or one missed spam moves the "
        f"points by more than the noise allows: {fix}, or lower min_positives in the rubric")


def _measure_band(rub: Rubric, test_set: tuple[list[Message], list[bool]], data_dir, seed: int,
                  train_reference: bool, reference_training) -> dict | None:
    """The measured spam band, or None where the rubric fixes the thresholds for the corpus."""
    from grader import bands
    from grader.reference import ReferenceTraining, reference_spam_runs

    task = rub.task("spam")
    band = task.quality if task else None
    corpus, (test, private) = rub.hidden.spam_corpus, test_set
    if band is None or (band.fixed and band.corpus in ("", corpus)):
        return None
    runs = reference_spam_runs(rub, data_dir=data_dir, train=train_reference,
                               config=reference_training or ReferenceTraining())
    figures = bands.measure_models(corpus, test, data_dir, runs)
    noise = bands.measure_noise(band.metric, figures, [m.label for m in test], private, seed)
    measured = bands.derive_band(band, figures, noise)
    inputs = bands.band_inputs(band, rub)
    return {**measured, "inputs": inputs, "inputs_sha256": bands.inputs_hash(inputs)}


def spam_bands(data_dir: str | os.PathLike | None = None) -> dict | None:
    """The spam band `challenge hidden make` measured, if it measured one."""
    return _meta(data_dir)["spam"].get("bands")


def _sorter_settings(s: SorterSettings) -> dict:
    return {k: getattr(s, k) for k in ("low", "high", "min_len", "max_len", "long_min_len",
                                       "long_max_len", "hidden_size")}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _meta(data_dir) -> dict:
    path, meta = hidden_meta(data_dir)
    if not meta:
        raise ChallengeError(f"no hidden sets under {path.parent}; run `challenge hidden make "
                             f"--secret-file F` first (with --data-dir if you use one)")
    return meta


def hidden_corpus(data_dir: str | os.PathLike | None = None) -> str | None:
    """The corpus the hidden sets were made from, or None where there are none."""
    spam = hidden_meta(data_dir)[1].get("spam")
    return str(spam["corpus"]) if isinstance(spam, dict) and "corpus" in spam else None


def require_hidden_sets(data_dir: str | os.PathLike | None = None) -> None:
    """A ChallengeError saying how to make them when ``challenge hidden make`` has not run."""
    _meta(data_dir)


def hidden_spam(data_dir: str | os.PathLike | None = None) -> SpamSet:
    """The hidden spam test set in its published order, with labels (grader process only)."""
    meta = _meta(data_dir)["spam"]
    check_current(meta["corpus"], meta.get("corpus_sha256"), "the hidden spam set",
                  "run `challenge hidden make` again", data_dir)
    path = split_path(meta["corpus"], "test", data_dir)
    if not path.is_file() or _sha256(path.read_bytes()) != meta["test_sha256"]:
        raise ChallengeError(f"{path} is missing or differs from the one `challenge hidden make` "
                             f"wrote (was the corpus split again?); run hidden make again")
    by_id = {m.id: m for m in read_jsonl(path)}
    examples = meta["examples"]
    return SpamSet(ids=tuple(e[0] for e in examples), messages=tuple(by_id[e[1]] for e in examples),
                   private=tuple(bool(e[2]) for e in examples))


def hidden_sorter(data_dir: str | os.PathLike | None = None, rubric: Rubric | None = None) -> SorterSet:
    """The hidden sorter sequences; ChallengeError if the rubric's setting changed since."""
    meta = _meta(data_dir)["sorter"]
    path = hidden_root(data_dir) / "sorter" / "test.jsonl"
    blob = path.read_bytes() if path.is_file() else b""
    if _sha256(blob) != meta["file_sha256"]:
        raise ChallengeError(f"{path} is missing or was changed; run `challenge hidden make` again")
    if rubric is not None and _sorter_settings(rubric.sorter) != meta["settings"]:
        raise ChallengeError(f"the hidden sorter sets were made for {meta['settings']}, but the "
                             f"rubric ({rubric.source}) asks for {_sorter_settings(rubric.sorter)}; "
                             f"run `challenge hidden make` again with this rubric")
    rows = [json.loads(line) for line in blob.decode("utf-8").splitlines() if line.strip()]
    return SorterSet(ids=tuple(r["id"] for r in rows), inputs=tuple(tuple(r["values"]) for r in rows),
                     long=tuple(bool(r["long"]) for r in rows),
                     private=tuple(bool(r["private"]) for r in rows))


def checks_seed(data_dir: str | os.PathLike | None = None) -> int:
    """The seed of the checks' inputs when grading on the hidden sets: a student never saw them."""
    return int(_meta(data_dir)["checks_seed"])


def secret_file(data_dir: str | os.PathLike | None = None) -> Path | None:
    """Where the secret the hidden sets came from was (None for sets made before this was
    recorded)."""
    path = _meta(data_dir).get("secret_file")
    return Path(path) if path else None


