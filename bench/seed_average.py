"""What averaging the reference's scores over training seeds would give, before building it;
prints one JSON object.

    python bench/seed_average.py --corpus sms --seeds 0,1,2,3,4 --train-seeds 0,1,2,3 [--jobs 2]
        [--group 2] [--lstm KEY=VALUE ...]

The issue's list of things worth trying holds "averaging the weights or the scores of a few
seeds". Two reference runs on one torch thread each fit two CPU cores side by side in the wall
time of one, so a checkpoint holding two members would keep training's time. This asks first
whether it would pay: on every split seed (made as bench/spam.py makes it) the reference is
trained once per training seed, each run in its own child process on one torch thread (``--jobs``
at a time), and each run's dev and test spam probabilities are kept. Then per split:

- ``single``: the mean over the training seeds of each run's test F1 at its own (checkpoint)
  threshold: bench/spam.py's reference figure for the same seeds.
- ``averaged``: the training seeds taken ``--group`` at a time, in order (0,1 then 2,3 ...), as
  one model: the mean of the members' logits, its threshold chosen on dev from the averaged
  dev scores (challenge.metrics.choose_threshold, as training chooses one); the mean over the
  groups of their test F1.

and over the splits, the paired difference averaged - single with its standard error and the
verdict (bench/compare.py). Nothing is built into the kit here: it is the measurement that
says whether to.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import spam_training, split_folder  # noqa: E402  (bench/common.py)
from compare import paired  # noqa: E402  (bench/compare.py, beside this file)


def _settings(pairs: list[str]):
    from spam import NOT_SETTINGS   # bench/spam.py: the fields its own options decide

    return spam_training(pairs, script="bench/seed_average.py", option="--lstm",
                         forbidden=NOT_SETTINGS)


def train_and_score(corpus: str, data_dir: str, train_seed: int, lstm: list[str],
                    out: str) -> None:
    """One reference run on the split in ``data_dir``; writes its dev and test probabilities,
    labels and threshold to ``out`` (JSON)."""
    from challenge.tasks.config import override
    from challenge.tasks.spam import load_texts, train_spam
    from challenge.tasks.spam_predict import load_spam_predictor

    config = override(_settings(lstm), seed=train_seed, corpus=corpus)
    with tempfile.TemporaryDirectory() as folder:
        run = train_spam(config, data_dir=data_dir, out=os.path.join(folder, "lstm.pt"),
                         progress=False)
        model = load_spam_predictor(run.path)
        scored = {}
        for part in ("dev", "test"):
            texts, labels = load_texts(corpus, part, data_dir=data_dir)
            scored[part] = {"labels": labels,
                            "scores": [float(p) for p in model.predict_proba(texts)]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"train_seed": train_seed, "threshold": model.threshold,
                   "seconds": round(run.seconds, 1), "epochs": round(run.epochs, 2), **scored}, f)


def _logit(p: float) -> float:
    import math

    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p / (1 - p))


def average_members(members: list[dict]) -> dict:
    """The members' runs as one model: per message the mean of their logits; the threshold
    chosen on the averaged dev scores; its test F1."""
    import math

    from challenge.metrics import binary_metrics, choose_threshold

    def mean_prob(part: str) -> list[float]:
        rows = zip(*(m[part]["scores"] for m in members))
        return [1 / (1 + math.exp(-sum(_logit(p) for p in row) / len(members))) for row in rows]

    dev, test = mean_prob("dev"), mean_prob("test")
    threshold = choose_threshold(members[0]["dev"]["labels"], dev)
    return {"f1": binary_metrics(members[0]["test"]["labels"], test, threshold).f1,
            "threshold": threshold}


def one_split_figures(runs: list[dict], group: int) -> dict:
    """Per split: each run's F1, their mean (``single``), each group's averaged F1 and their
    mean (``averaged``)."""
    from challenge.metrics import binary_metrics

    singles = [binary_metrics(r["test"]["labels"], r["test"]["scores"], r["threshold"]).f1
               for r in runs]
    groups = [runs[i:i + group] for i in range(0, len(runs) - group + 1, group)]
    averaged = [average_members(g)["f1"] for g in groups]
    return {"single_per_run": [round(f, 4) for f in singles],
            "single": round(sum(singles) / len(singles), 4),
            "averaged_per_group": [round(f, 4) for f in averaged],
            "averaged": round(sum(averaged) / len(averaged), 4),
            "groups": [[r["train_seed"] for r in g] for g in groups],
            "train_seconds": [r["seconds"] for r in runs]}


def main() -> None:
    from spam import seed_list   # bench/spam.py

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="spam")
    parser.add_argument("--seeds", default="0,1,2", help="split seeds")
    parser.add_argument("--train-seeds", default="0,1,2,3")
    parser.add_argument("--group", type=int, default=2, help="members per averaged model")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side")
    parser.add_argument("--lstm", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--one", nargs=2, metavar=("DATA_DIR", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--train-seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        train_and_score(args.corpus, args.one[0], args.train_seed, args.lstm, args.one[1])
        return
    from challenge.paths import data_dir as default_data_dir

    seeds = seed_list(args.seeds, "--seeds")
    train_seeds = seed_list(args.train_seeds, "--train-seeds")
    _settings(args.lstm)                                   # a bad --lstm exits before training
    if not 2 <= args.group <= len(train_seeds):
        sys.exit(f"bench/seed_average.py: --group must be between 2 and the number of training "
                 f"seeds ({len(train_seeds)}); got {args.group}")
    data_dir = str(args.data_dir or default_data_dir())
    if not os.path.isdir(os.path.join(data_dir, "corpora", args.corpus)):
        sys.exit(f"bench/seed_average.py: no corpus {args.corpus!r} in {data_dir}; fetch or "
                 f"import it first (README)")
    with ExitStack() as stack:
        folders = {s: stack.enter_context(split_folder(data_dir, args.corpus, s))[0]
                   for s in seeds}
        work = stack.enter_context(tempfile.TemporaryDirectory())

        def run(task: tuple[int, int]) -> dict:
            split, train_seed = task
            out = os.path.join(work, f"{split}-{train_seed}.json")
            proc = subprocess.run(
                [sys.executable, __file__, "--corpus", args.corpus, "--train-seed",
                 str(train_seed), *[f"--lstm={p}" for p in args.lstm],
                 "--one", folders[split], out], check=False)
            if proc.returncode != 0:
                sys.exit(f"bench/seed_average.py: split {split} training seed {train_seed} "
                         f"failed (exit code {proc.returncode})")
            with open(out, encoding="utf-8") as f:
                result = json.load(f)
            print(f"bench/seed_average.py: split {split} training seed {train_seed} done in "
                  f"{result['seconds']} s", file=sys.stderr, flush=True)
            return result

        tasks = [(s, t) for s in seeds for t in train_seeds]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(run, tasks))
    per_split = {s: one_split_figures([r for (split, _), r in zip(tasks, results) if split == s],
                                      args.group) for s in seeds}
    comparison = paired([per_split[s]["averaged"] for s in seeds],
                        [per_split[s]["single"] for s in seeds])
    print(f"bench/seed_average.py: averaged {args.group} vs single: f1 "
          f"{comparison['mean_difference']:+.4f} (SE {comparison['se']}, {len(seeds)} splits): "
          f"{comparison['verdict']}", file=sys.stderr, flush=True)
    print(json.dumps({"corpus": args.corpus, "seeds": seeds, "train_seeds": train_seeds,
                      "group": args.group, "lstm": args.lstm, "splits": per_split,
                      "averaged_minus_single": comparison}))


if __name__ == "__main__":
    main()
