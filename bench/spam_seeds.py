"""How much the reference LSTM's test figures move with the training seed alone, and what a
training setting does on average: trains it once per (setting, training seed) on the split on
disk and prints one JSON object.

    python bench/spam_seeds.py [--data-dir data] [--train-seeds 0,1,2,3]
                               [--inits cooccurrence,random] [--workers 2] [--lstm KEY=VALUE ...]

For each run: test F1 at the threshold chosen on dev, ROC-AUC, dev F1, epochs; for each
embedding init: mean, min and max over the seeds. One split, as on disk; runs go ``--workers``
at a time, so their training seconds are not comparable with bench/spam.py's and are left out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import spam  # noqa: E402  (bench/spam.py, beside this file)


def run_one(init: str, seed: int, data_dir: str, folder: str, lstm: list[str]) -> dict:
    """Train one reference LSTM with embedding ``init`` and score it on the test part."""
    out = os.path.join(folder, f"{init}-{seed}")
    os.makedirs(out)
    figures = spam.run_one("lstm", seed, data_dir, out, lstm=[*lstm, f"embedding_init={init}"],
                           timing=False)
    keep = ("f1", "roc_auc", "dev_f1", "epochs", "stopped")
    return {"init": init, "train_seed": seed, **{k: figures[k] for k in keep}}


def _spread(values: list[float]) -> dict:
    return {"mean": round(statistics.fmean(values), 4), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=None,
                        help="data folder holding the split (default: $CHALLENGE_DATA_DIR or data)")
    parser.add_argument("--train-seeds", default="0,1,2,3", help="comma-separated training seeds")
    parser.add_argument("--inits", default="cooccurrence,random",
                        help="comma-separated embedding inits to compare")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (default: 2)")
    parser.add_argument("--lstm", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of every run, as in bench/spam.py (repeatable)")
    args = parser.parse_args()

    from challenge import paths
    from challenge.errors import ChallengeError
    from challenge.tasks.spam import EMBEDDING_INITS, split_info

    try:
        seeds = [int(s) for s in args.train_seeds.split(",") if s.strip()]
    except ValueError:
        sys.exit(f"bench/spam_seeds.py: --train-seeds takes whole numbers, got {args.train_seeds!r}")
    inits = [i.strip() for i in args.inits.split(",") if i.strip()]
    if not seeds or not inits or any(i not in EMBEDDING_INITS for i in inits) or args.workers < 1:
        sys.exit(f"bench/spam_seeds.py: give at least one seed, inits among "
                 f"{','.join(EMBEDDING_INITS)} and --workers >= 1")
    spam.lstm_settings(args.lstm)           # a bad setting fails here, before training
    if any(pair.partition("=")[0] == "embedding_init" for pair in args.lstm):
        sys.exit("bench/spam_seeds.py: choose embedding inits with --inits, not --lstm")
    data_dir = str(paths.data_dir(args.data_dir))
    try:
        info = split_info(data_dir=data_dir)
    except ChallengeError as e:
        sys.exit(f"bench/spam_seeds.py: {e}")
    jobs = [(init, seed) for init in inits for seed in seeds]
    with tempfile.TemporaryDirectory() as folder, ProcessPoolExecutor(
            args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, init, seed, data_dir, folder, args.lstm)
                   for init, seed in jobs]
        runs = []
        for n, future in enumerate(futures, 1):
            runs.append(future.result())
            print(f"run {n}/{len(jobs)}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    summary = {init: {key: _spread([r[key] for r in runs if r["init"] == init])
                      for key in ("f1", "roc_auc")} for init in inits}
    print(json.dumps({"split": {k: info.get(k) for k in ("scheme", "seed", "counts")},
                      "lstm_settings": args.lstm, "runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()
