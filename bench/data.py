"""Benchmark of the data path: prints one JSON object of seconds and rates.

    python bench/data.py [--data-dir DIR] [--repeats 3]

* ``fetch_cold_s``: ``fetch_spam`` into an empty temporary data folder through the kit's own
  source order (the Apache archives, then ``npm pack``; npm's own download cache may be warm),
  with the winning source and the fetch / verify+parse+write split;
* ``fetch_cached_s``: the second fetch, a no-op;
* ``parse_verify_s``: MD5 verification and parsing of all 6,046 raw messages (best of
  ``--repeats``), without writing;
* ``tokenizer_tokens_per_s`` and ``collate_batches_per_s``: the reference
  ``solutions/tokenizer.py`` encoding every message (subject + body), and
  ``solutions/batching.py`` collating batches of 32 truncated to 400 tokens; null with a note
  when those modules are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("CHALLENGE_QUIET", "1")

from challenge.data.corpus import load_corpus  # noqa: E402
from challenge.data.fetch import fetch_spam  # noqa: E402
from challenge.data.verify import build_corpus, load_manifest  # noqa: E402

BATCH, MAX_LEN = 32, 400


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_fetch(data: Path, repeats: int) -> dict:
    result, cold = _timed(lambda: fetch_spam(data_dir=data))
    again, cached = _timed(lambda: fetch_spam(data_dir=data))
    assert again.cached
    manifest = load_manifest(data_dir=data)
    raw = data / "raw" / "spam"
    best = min(_timed(lambda: build_corpus(raw, manifest, source="bench"))[1]
               for _ in range(repeats))
    return {"fetch_source": result.source, "fetch_cold_s": round(cold, 2),
            "fetch_cold_parts_s": result.seconds, "fetch_cached_s": round(cached, 4),
            "messages": result.messages, "parse_verify_s": round(best, 2),
            "parse_verify_messages_per_s": round(result.messages / best)}


def bench_student_modules(data: Path, repeats: int) -> dict:
    root = Path(__file__).resolve().parents[1] / "solutions"
    if not (root / "tokenizer.py").is_file() or not (root / "batching.py").is_file():
        note = "solutions/tokenizer.py or solutions/batching.py not written yet"
        return {"tokenizer_tokens_per_s": None, "collate_batches_per_s": None, "note": note}
    from challenge.impl import load_module

    tok_mod, batching = load_module("solutions", "tokenizer"), load_module("solutions", "batching")
    messages = load_corpus("spam", data)
    texts = [m.text() for m in messages]
    tokenizer, train_s = _timed(
        lambda: tok_mod.Tokenizer.train_from_iterator(texts, vocab_size=20000))
    best, ids = float("inf"), []
    for _ in range(repeats):
        ids, seconds = _timed(lambda: tokenizer.encode_batch(texts))
        best = min(best, seconds)
    tokens = sum(len(x) for x in ids)
    pairs = [(x, m.label) for x, m in zip(ids, messages)]
    batches = [pairs[i:i + BATCH] for i in range(0, len(pairs), BATCH)]
    def collate_all() -> list:
        return [batching.collate(b, pad_id=tokenizer.pad_id, max_length=MAX_LEN) for b in batches]

    collate_best = min(_timed(collate_all)[1] for _ in range(repeats))
    return {"tokenizer_train_s": round(train_s, 2), "tokenizer_vocab": tokenizer.get_vocab_size(),
            "tokens": tokens, "tokenizer_tokens_per_s": round(tokens / best),
            "collate_batch_size": BATCH, "collate_max_length": MAX_LEN,
            "collate_batches_per_s": round(len(batches) / collate_best)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None,
                        help="Empty (or new) data folder to fetch into; default a temporary one.")
    parser.add_argument("--repeats", type=int, default=3, help="Best of N for the timed loops.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        data = Path(args.data_dir) if args.data_dir else Path(tmp)
        if (data / "corpora" / "spam").exists():
            sys.exit(f"{data} already holds the corpus; give an empty --data-dir for a cold fetch")
        import torch

        out = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               **bench_fetch(data, args.repeats), **bench_student_modules(data, args.repeats)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
