"""Benchmark of training on a device: trains the reference sorter and spam model as the grader
does (fixed steps and epochs, grader/reference.py) on each of ``--devices``, then scores every
checkpoint on the CPU, as the grade does, and prints one JSON object: per device, training
seconds and the CPU-scored figures (sorter exact match on the rubric's public dev sets, in
range and longer; spam dev F1 and ROC-AUC at the checkpoint's threshold), so CPU and GPU runs
can be compared figure by figure.

    python bench/device.py [--devices cpu,cuda] [--sorter-steps 600] [--spam-epochs 8]
                           [--data-dir DIR]

The spam part needs the default split in the data folder (`challenge data split spam --seed
0`, or the main job's set-up); `--spam-epochs 0` skips it.
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

import torch  # noqa: E402

from challenge.device import describe, resolve_device  # noqa: E402
from challenge.metrics import binary_metrics  # noqa: E402
from challenge.rubric import load_rubric  # noqa: E402
from challenge.tasks.config import SorterTraining, SpamTraining, override  # noqa: E402
from challenge.tasks.sorter import evaluate_sorter, load_sorter, train_sorter  # noqa: E402
from challenge.tasks.spam import load_texts, train_spam  # noqa: E402
from challenge.tasks.spam_predict import load_spam_predictor  # noqa: E402
from grader.hidden import dev_sorter  # noqa: E402
from grader.reference import ReferenceTraining  # noqa: E402


def sorter_on(device: str, steps: int, folder: Path, rubric) -> dict:
    s, ref = rubric.sorter, ReferenceTraining()
    config = override(SorterTraining(), impl="solutions", arch=ref.sorter_arch, min_len=s.min_len,
                      max_len=s.max_len, vocab=s.high + 1, minutes=None, steps=steps, seed=ref.seed)
    run = train_sorter(config, out=folder / f"sorter-{device}.pt", device=device, progress=False)
    model, _ = load_sorter(run.path)            # on the CPU, as the grade loads it
    dev = dev_sorter(rubric)
    pairs = [(list(v), sorted(v)) for v in dev.inputs]
    scored = {}
    for name, keep in (("in_range", False), ("longer", True)):
        chosen = [p for p, long in zip(pairs, dev.long) if long == keep]
        scored[name] = round(evaluate_sorter(model, chosen)["exact_match"], 4)
    return {"train_seconds": round(run.seconds, 1), "steps": run.steps,
            "trained_on": run.device, "exact_match_cpu_scored": scored}


def spam_on(device: str, epochs: int, folder: Path, data_dir: str | None, rubric) -> dict:
    corpus = rubric.hidden.spam_corpus
    config = override(SpamTraining(), impl="solutions", corpus=corpus, epochs=epochs,
                      seed=ReferenceTraining().seed)
    run = train_spam(config, out=folder / f"spam-{device}.pt", data_dir=data_dir, device=device,
                     progress=False)
    predictor = load_spam_predictor(run.path)   # on the CPU, as the grade loads it
    texts, labels = load_texts(corpus, "dev", predictor.data.view, data_dir)
    m = binary_metrics(labels, predictor.predict_proba(texts), predictor.threshold)
    return {"train_seconds": round(run.seconds, 1), "epochs": run.epochs,
            "trained_on": run.device, "dev_f1_cpu_scored": round(m.f1, 4),
            "dev_roc_auc_cpu_scored": round(m.roc_auc, 4),
            "dev_f1_while_training": round(run.metrics["f1"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="cpu,auto",
                        help="comma-separated: auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--sorter-steps", type=int, default=ReferenceTraining().sorter_steps)
    parser.add_argument("--spam-epochs", type=int, default=ReferenceTraining().spam_epochs)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    rubric = load_rubric(None)
    out: dict = {"torch": torch.__version__, "sorter_steps": args.sorter_steps,
                 "spam_epochs": args.spam_epochs, "devices": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.devices.split(","):
            device = resolve_device(name.strip())
            start = time.perf_counter()
            result: dict = {"device_name": describe(device),
                            "sorter": sorter_on(str(device), args.sorter_steps, Path(tmp), rubric)}
            if args.spam_epochs > 0:
                result["spam"] = spam_on(str(device), args.spam_epochs, Path(tmp), args.data_dir,
                                         rubric)
            result["seconds"] = round(time.perf_counter() - start, 1)
            out["devices"][name.strip()] = result
            print(f"{name}: done in {result['seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
