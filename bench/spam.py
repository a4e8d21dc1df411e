"""Benchmark of the spam task: the reference LSTM and both TF-IDF baselines trained on the same
split, scored on its hidden test part; prints one JSON object.

    challenge data fetch spam                              # once
    challenge data split spam --scheme random --seed 0
    python bench/spam.py [--scheme random|temporal] [--seed 0] [--data-dir data]
                         [--train-seed N] [--models lstm,...] [--lstm KEY=VALUE ...]
    python bench/spam.py --corpus NAME --seeds 0,1,2 [--scheme random] [--models ...]
    python bench/spam.py --corpus NAME --seeds 0,1,2 --train-seeds 0,1,2,3,4

``--corpus``: which corpus (default ``spam``; an imported one works the same). ``--seeds``:
instead of the split on disk, split the corpus once per seed (in a temporary data folder, so
the one on disk is untouched), train and score every model on each split with that seed, and
report each run and, per model, the mean, standard deviation, min and max of every figure, so
a claim such as "the LSTM beats the baselines" rests on several splits, not one: ``comparison``
holds each model's per-seed F1 (a list, seed order) with its sample sd, the paired difference
of the LSTM against each baseline with its standard error, and ``verdicts``, one line per
baseline: "ahead beyond noise" (difference > 2 SE), "tie" or "behind" (< -2 SE), also printed
on stderr (bench/compare.py). ``--train-seeds`` (with ``--seeds``): the LSTM is trained once
per training seed on every split, and each split's LSTM figures are the mean over those runs
(each run's figures kept under ``train_seeds``), so the paired comparison sets the reference's
mean over training seeds against each baseline, split by split; the baselines train once per
split (training seed: the split seed). ``tfidf_wordchar_lr`` is a stronger linear baseline: word 1-2
and char 2-5 grams, LogisticRegression with C and the threshold chosen on dev
(bench/linear.py).

``--lstm`` changes one setting of the reference run (repeatable), e.g. ``--lstm max_length=600
--lstm threads=2 --lstm hidden_size=64``: a field of SpamDataConfig (max_length, vocab_size,
token_dropout, ...), of the model config (hidden_size, pooling, ...), of the training loop
(lr, weight_decay, epochs, ema_decay, threads, ...) or of SpamTraining itself (precision,
adversarial, embedding_init): any field of challenge.tasks.config.SpamTraining by its name.

Per model: test accuracy, precision, recall, F1 on spam, ROC-AUC (at the threshold chosen on
dev), train seconds, inference messages/second (raw text to probability: tokenizing or
vectorizing included; the LSTM scores on the predictor's default workers, one per free core
up to 4) and peak RSS in MB; for the LSTM also ``inference_seconds``: the test set's
encoding, and its scoring on one worker, on two workers (one torch thread each) and on one
worker with two torch threads.
Each model runs in its own child process, so each peak RSS is that model's alone (Python and
the libraries included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import spam_training, split_folder  # noqa: E402  (bench/common.py)
from compare import compare  # noqa: E402  (bench/compare.py, beside this file)

MODELS = ("lstm", "tfidf_logreg", "tfidf_cnb", "tfidf_wordchar_lr")
KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "threshold")


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)   # KiB on Linux


def _best_seconds(work, repeats: int = 3) -> float:
    """Seconds of ``work()``, best of ``repeats`` runs."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _inference_speed(predict, texts: list[str], repeats: int = 3) -> float:
    """Messages per second of ``predict(texts)``, best of ``repeats`` passes."""
    return round(len(texts) / _best_seconds(lambda: predict(texts), repeats), 1)


def _lstm_inference_parts(model, texts: list[str]) -> dict:
    """Where the LSTM's scoring time goes: encoding text to ids, then the model on one worker
    and one torch thread, on two workers (a model copy each, one torch thread each; the
    default where two cores are free) and on one worker with two torch threads."""
    ids = model.encode(texts)
    parts = {"encode": _best_seconds(lambda: model.encode(texts))}
    workers = model.workers
    for key, w, threads in (("score_1_worker", 1, 1), ("score_2_workers", 2, 1),
                            ("score_2_threads", 1, 2)):
        model.workers, model.threads = w, threads
        parts[key] = _best_seconds(lambda: model.scores_of_ids(ids))
    model.workers, model.threads = workers, 1
    return {"workers": workers, **{k: round(v, 3) for k, v in parts.items()}}


#: SpamTraining fields that --lstm may not set: the benchmark's own options decide them.
NOT_SETTINGS = ("impl", "corpus", "scheme", "seed", "data", "model", "loop")


def lstm_settings(pairs: list[str]):
    """``["max_length=600", "hidden_size=64", "lr=0.002"]`` -> the reference's SpamTraining
    with those fields changed (each by name, wherever it lives: data, model or loop)."""
    return spam_training(pairs, script="bench/spam.py", option="--lstm", forbidden=NOT_SETTINGS)


def run_one(name: str, seed: int, data_dir: str, folder: str, train_seed: int | None = None,
            lstm: list[str] | None = None, timing: bool = True, corpus: str = "spam") -> dict:
    """Train and score one model in this process; the figures of one model (without the
    inference speed and peak RSS when not ``timing``)."""
    from challenge.baseline import TfidfBaseline
    from challenge.metrics import binary_metrics
    from challenge.tasks.config import override
    from challenge.tasks.spam import load_texts, train_spam
    from challenge.tasks.spam_predict import load_spam_predictor

    train_seed = seed if train_seed is None else train_seed

    train = load_texts(corpus, "train", data_dir=data_dir)
    dev = load_texts(corpus, "dev", data_dir=data_dir)
    test_texts, test_labels = load_texts(corpus, "test", data_dir=data_dir)
    start = time.perf_counter()
    extra: dict = {}
    if name == "lstm":
        config = override(lstm_settings(lstm or []), seed=train_seed, corpus=corpus)
        run = train_spam(config, data_dir=data_dir, out=os.path.join(folder, "lstm.pt"),
                         progress=os.environ.get("CHALLENGE_QUIET") != "1")
        seconds = time.perf_counter() - start
        model = load_spam_predictor(run.path)
        predict, threshold = model.predict_proba, model.threshold
        extra = {"epochs": round(run.epochs, 2), "steps": run.steps, "stopped": run.stopped,
                 "dev_f1": round(run.metrics["f1"], 4)}
    else:
        if name == "tfidf_wordchar_lr":
            from linear import WordCharBaseline     # bench/linear.py
            model = WordCharBaseline(random_state=train_seed)
        else:
            model = TfidfBaseline(name.split("_")[1], random_state=train_seed)
        model.fit(*train, *dev)
        extra = {"C": model.C_} if hasattr(model, "C_") else {}
        seconds = time.perf_counter() - start
        predict, threshold = (lambda texts: model.predict_proba(texts)[:, 1]), model.threshold_
    metrics = binary_metrics(test_labels, predict(test_texts), threshold).to_dict()
    figures = {**{k: round(metrics[k], 4) for k in KEYS}, "train_seconds": round(seconds, 1)}
    if timing:
        figures.update(inference_msgs_per_s=_inference_speed(predict, test_texts),
                       peak_rss_mb=_peak_rss_mb())
        if name == "lstm":
            extra["inference_seconds"] = _lstm_inference_parts(model, test_texts)
    return {**figures, **extra}


def _child(name: str, seed: int, data_dir: str, folder: str, corpus: str, args,
           timing: bool, train_seed: int | None) -> dict:
    """One model trained and scored in a child process; its figures."""
    extra = [] if train_seed is None else ["--train-seed", str(train_seed)]
    extra += [f"--lstm={pair}" for pair in args.lstm]
    extra += [] if timing else ["--no-timing"]
    proc = subprocess.run([sys.executable, __file__, "--only", name, "--seed", str(seed),
                           "--data-dir", data_dir, "--folder", folder, "--corpus", corpus,
                           *extra], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench/spam.py: {name} failed (exit code {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mean_over_train_seeds(per_seed: list[dict]) -> dict:
    """One model's runs on one split, one per training seed -> one entry: the mean of every
    figure the runs share (rounded to 4 places; so the comparison pairs split seeds on the
    mean over training seeds) and, under ``train_seeds``, each run's figures as they were."""
    shared = [k for k in per_seed[0] if all(isinstance(r.get(k), (int, float))
                                            and not isinstance(r.get(k), bool) for r in per_seed)]
    means = {k: round(sum(r[k] for r in per_seed) / len(per_seed), 4) for k in shared}
    return {**means, "train_seeds": per_seed}


def _models(chosen: list[str], seed: int, data_dir: str, corpus: str, args,
            timing: bool) -> dict:
    """Each model trained and scored in its own child process on the split in ``data_dir``;
    with ``args.train_seeds``, the LSTM once per training seed (:func:`mean_over_train_seeds`)."""
    models = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in chosen:
            if name == "lstm" and getattr(args, "train_seeds", None):
                runs = []
                for train_seed in args.train_seeds:
                    runs.append({"train_seed": train_seed,
                                 **_child(name, seed, data_dir, folder, corpus, args, timing,
                                          train_seed)})
                    print(f"bench/spam.py: seed {seed} {name} training seed {train_seed}: "
                          f"f1 {runs[-1]['f1']}", file=sys.stderr, flush=True)
                models[name] = mean_over_train_seeds(runs)
            else:
                models[name] = _child(name, seed, data_dir, folder, corpus, args, timing,
                                      args.train_seed)
            print(f"bench/spam.py: seed {seed} {name}: f1 {models[name]['f1']}",
                  file=sys.stderr, flush=True)
    return models


def _gap(models: dict) -> float | None:
    baselines = [models[m]["f1"] for m in models if m != "lstm"]
    return (round(models["lstm"]["f1"] - max(baselines), 4)
            if "lstm" in models and baselines else None)


def spread(values: list[float]) -> dict:
    """Mean, sample standard deviation (ddof=1; None for one value), min and max of
    ``values``, rounded to 4 places."""
    import statistics

    return {"mean": round(statistics.fmean(values), 4),
            "sd": round(statistics.stdev(values), 4) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}


def summarise(runs: dict[int, dict]) -> dict:
    """Per model, the spread over seeds of each test figure; the LSTM's mean F1 less the best
    baseline's mean F1; and the comparison as it should be read (bench/compare.py): per-seed
    F1 lists, sample sd, the paired difference against each baseline with its standard error,
    and one verdict line per baseline."""
    names = list(next(iter(runs.values())))
    summary = {name: {k: spread([runs[s][name][k] for s in runs]) for k in KEYS if k != "threshold"}
               for name in names}
    baselines = [summary[n]["f1"]["mean"] for n in names if n != "lstm"]
    gap = (round(summary["lstm"]["f1"]["mean"] - max(baselines), 4)
           if "lstm" in summary and baselines else None)
    comparison = compare(runs, reference="lstm", key="f1")
    for verdict_line in comparison.get("verdicts", []):
        print(f"bench/spam.py: {verdict_line}", file=sys.stderr, flush=True)
    return {"summary": summary, "lstm_mean_f1_minus_best_baseline_mean": gap,
            "comparison": comparison, "verdicts": comparison.get("verdicts", [])}


def _seeded_runs(chosen: list[str], seeds: list[int], data_dir: str, corpus: str, args) -> dict:
    """Split ``corpus`` once per seed in a temporary data folder (the corpus linked, not
    copied; the split on disk untouched) and run every model on each split."""
    from concurrent.futures import ThreadPoolExecutor

    def one(seed: int) -> tuple[dict, dict]:
        with split_folder(data_dir, corpus, seed, args.scheme) as (tmp, split):
            return split.counts, _models(chosen, seed, tmp, corpus, args, timing=False)

    # Each split's models run in child processes, so splits may run side by side (--jobs);
    # the figures do not depend on it (one torch thread per run), only the wall clock does.
    with ThreadPoolExecutor(max_workers=max(1, getattr(args, "jobs", 1))) as pool:
        done = dict(zip(seeds, pool.map(one, seeds)))
    counts = {seed: done[seed][0] for seed in seeds}
    runs = {seed: done[seed][1] for seed in seeds}
    return {"splits": counts, "runs": runs, **summarise(runs)}


def seed_list(text: str, option: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; exits with a message naming ``option`` on anything else."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds):
        sys.exit(f"bench/spam.py: {option} takes distinct comma-separated whole numbers, e.g. "
                 f"0,1,2; got {text!r}")
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scheme", choices=("random", "temporal"), default="random",
                        help="the scheme the split on disk must have (default: random)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the seed the split on disk must have; also the training seed")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated split seeds: split the corpus anew for each (in a "
                             "temporary folder) and report mean and spread per model")
    parser.add_argument("--corpus", default="spam",
                        help="the corpus (default: spam, the built-in one; or an imported one)")
    parser.add_argument("--data-dir", default=None,
                        help="data folder holding the split (default: $CHALLENGE_DATA_DIR or data)")
    parser.add_argument("--train-seed", type=int, default=None,
                        help="seed of training (default: --seed); the split stays --seed's")
    parser.add_argument("--train-seeds", default=None,
                        help="comma-separated training seeds of the LSTM (with --seeds): it is "
                             "trained once per seed on every split, and each split's LSTM "
                             "figures are the mean over them (the baselines train once)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with --seeds: how many splits run side by side (default 1)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated subset of {','.join(MODELS)} (default: all)")
    parser.add_argument("--lstm", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of the reference LSTM run (repeatable)")
    parser.add_argument("--only", choices=MODELS, help=argparse.SUPPRESS)   # child processes
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--no-timing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    from challenge import paths
    from challenge.data.corpus import check_name, load_meta
    from challenge.errors import ChallengeError
    from challenge.tasks.spam import check_scheme, split_info

    data_dir = os.path.abspath(paths.data_dir(args.data_dir))
    if args.only:
        print(json.dumps(run_one(args.only, args.seed, data_dir, args.folder, args.train_seed,
                                 args.lstm, timing=not args.no_timing, corpus=args.corpus)))
        return
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    if not chosen or any(m not in MODELS for m in chosen):
        sys.exit(f"bench/spam.py: --models takes a comma-separated subset of {','.join(MODELS)}, "
                 f"got {args.models!r}")
    if "lstm" in chosen:
        lstm_settings(args.lstm)                # a bad setting fails here, before any training
    seeds = None if args.seeds is None else seed_list(args.seeds, "--seeds")
    args.train_seeds = (None if args.train_seeds is None
                        else seed_list(args.train_seeds, "--train-seeds"))
    if args.train_seeds is not None and (seeds is None or args.train_seed is not None):
        sys.exit("bench/spam.py: --train-seeds goes with --seeds (split seeds), and not with "
                 "--train-seed")
    try:
        check_name(args.corpus)
        load_meta(args.corpus, data_dir)
        if seeds is None:
            check_scheme(args.scheme, args.corpus, data_dir=data_dir)
            info = split_info(args.corpus, data_dir=data_dir)
            if info.get("seed") != args.seed:
                raise ChallengeError(
                    f"the split on disk has seed {info.get('seed')}, not {args.seed}; run "
                    f"`challenge data split {args.corpus} --scheme {args.scheme} "
                    f"--seed {args.seed}` first (or pass --seeds)")
    except ChallengeError as e:
        sys.exit(f"bench/spam.py: {e}")
    import torch

    load_before = os.getloadavg()
    head = {"corpus": args.corpus, "scheme": args.scheme, "view": "subject_body",
            "lstm_settings": args.lstm}
    if seeds is not None:
        body = {"seeds": seeds, "train_seed": "the split seed" if args.train_seed is None
                else args.train_seed, "lstm_train_seeds": args.train_seeds, "jobs": args.jobs,
                **_seeded_runs(chosen, seeds, data_dir, args.corpus, args)}
    else:
        models = _models(chosen, args.seed, data_dir, args.corpus, args, timing=True)
        body = {"seed": args.seed,
                "train_seed": args.seed if args.train_seed is None else args.train_seed,
                "split": info.get("counts"), "models": models,
                "lstm_f1_minus_best_baseline": _gap(models)}
    print(json.dumps({
        **head, **body,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                    "load_avg_before": [round(x, 2) for x in load_before],
                    "load_avg_after": [round(x, 2) for x in os.getloadavg()]},
    }))


if __name__ == "__main__":
    main()
