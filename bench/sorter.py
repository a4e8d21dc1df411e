"""Benchmark of the reference sorter: trains each architecture for a time budget, then prints one
JSON object with exact-sequence and per-token accuracy in the training range and on longer,
never-seen lengths, the permutation and early-<eos> rates, training time and batched greedy
decoding speed.

    python bench/sorter.py [--minutes 5] [--archs seq2seq,attention,pointer] [--setting issue]

Settings: "issue" trains on lengths 1..10 and tests 1..10, 11..15 and 20 (issue 4's targets);
"graded" trains on 1..20 and tests 1..20, 21..30 and 30 (the rubric's default challenge).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from challenge.data.sequences import collate, make_sequences  # noqa: E402
from challenge.tasks.config import SorterTraining, override  # noqa: E402
from challenge.tasks.sorter import ARCHS, evaluate_sorter, load_sorter, train_sorter  # noqa: E402

#: setting -> (training max_len, test sets as name -> (min_len, max_len))
SETTINGS = {
    "issue": (10, {"in_range": (1, 10), "len_11_15": (11, 15), "len_20": (20, 20)}),
    "graded": (20, {"in_range": (1, 20), "len_21_30": (21, 30), "len_30": (30, 30)}),
}
TEST_SEED = 20_240_601   # held out: training batches come from the run seed's own stream


def decode_speed(model: torch.nn.Module, pairs: list, batch_size: int, repeats: int = 3) -> float:
    """Sequences per second of batched greedy decoding (best of ``repeats`` passes)."""
    batches = [collate(pairs[i:i + batch_size]) for i in range(0, len(pairs), batch_size)]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for src, lengths, _ in batches:
            model.generate(src, lengths)
        best = min(best, time.perf_counter() - start)
    return len(pairs) / best


def bench_arch(arch: str, setting: str, args: argparse.Namespace, folder: str) -> dict:
    max_len, tests = SETTINGS[setting]
    config = override(SorterTraining(), impl="solutions", arch=arch, min_len=1, max_len=max_len,
                      vocab=args.vocab, minutes=args.minutes, seed=args.seed)
    run = train_sorter(config, out=os.path.join(folder, f"{setting}-{arch}.pt"),
                       progress=args.progress)
    model, _ = load_sorter(run.path)
    result: dict = {"train_seconds": round(run.seconds, 1), "steps": run.steps,
                    "dev_exact_match": run.metrics.get("exact_match")}
    for i, (name, (lo, hi)) in enumerate(tests.items()):
        pairs = make_sequences(args.n, TEST_SEED + i, lo, hi, 0, args.vocab - 1)
        metrics = evaluate_sorter(model, pairs)
        result[name] = {k: round(v, 4) for k, v in metrics.items() if k != "n"}
    speed_pairs = make_sequences(args.n, TEST_SEED, *tests["in_range"], 0, args.vocab - 1)
    result["decode_seqs_per_s"] = round(decode_speed(model, speed_pairs, args.decode_batch))
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per arch")
    parser.add_argument("--archs", default=",".join(ARCHS), help="comma-separated architectures")
    parser.add_argument("--setting", default="issue", choices=[*SETTINGS, "both"],
                        help="length ranges: issue (train 1..10), graded (train 1..20), both")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--n", type=int, default=2000, help="test sequences per set")
    parser.add_argument("--vocab", type=int, default=100, help="values 0..vocab-1")
    parser.add_argument("--decode-batch", type=int, default=2000, help="batch size for decoding")
    parser.add_argument("--progress", action="store_true", help="show training bars on stderr")
    args = parser.parse_args(argv)
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        parser.error(f"unknown architecture {unknown[0]!r}; use {', '.join(ARCHS)}")
    torch.set_num_threads(args.threads)
    settings = list(SETTINGS) if args.setting == "both" else [args.setting]
    report: dict = {"config": {"minutes": args.minutes, "threads": args.threads, "seed": args.seed,
                               "n": args.n, "vocab": args.vocab, "torch": torch.__version__,
                               "cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}}
    with tempfile.TemporaryDirectory() as folder:
        for setting in settings:
            report[setting] = {arch: bench_arch(arch, setting, args, folder) for arch in archs}
    report["config"]["load_after"] = os.getloadavg()[0]
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
