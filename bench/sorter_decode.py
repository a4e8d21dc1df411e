"""Decoding speed of the reference sorter's ``generate`` against another version of
sorter_model.py on the same weights and inputs, alternated in one process so that both see the
same machine; prints one JSON object.

    git show REV:solutions/sorter_model.py > /tmp/old_sorter_model.py
    python bench/sorter_decode.py --against /tmp/old_sorter_model.py [--threads 2,1] [--rounds 3]

The model is an untrained pointer sorter from a fixed seed: the work per sequence of greedy
pointer decoding does not depend on the weights (each row runs exactly its length in steps),
so no training is needed to compare speeds. Each figure is sequences/s, the best of 3 passes
over ``--n`` graded-length inputs (1..20) in one batch; ``same_outputs`` says whether both
versions decoded every row alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from challenge.data.sequences import collate, make_sequences  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path: str, name: str):
    """The module in ``path`` under ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module               # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def speed(model, src, lengths) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        model.generate(src, lengths)
        best = min(best, time.perf_counter() - start)
    return len(src) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="another sorter_model.py to compare")
    parser.add_argument("--threads", default="2,1", help="comma-separated torch thread counts")
    parser.add_argument("--rounds", type=int, default=3, help="alternations per thread count")
    parser.add_argument("--n", type=int, default=2000, help="sequences in the batch")
    args = parser.parse_args()
    versions = {"reference": load(os.path.join(HERE, "..", "solutions", "sorter_model.py"),
                                  "bench_sorter_reference"),
                "against": load(args.against, "bench_sorter_against")}
    torch.manual_seed(0)
    models = {}
    for key, module in versions.items():
        models[key] = module.Sorter(module.SorterConfig(vocab_size=104, arch="pointer")).eval()
    models["against"].load_state_dict(models["reference"].state_dict())
    src, lengths, _ = collate(make_sequences(args.n, 20_240_601, 1, 20, 0, 99))
    outs = {k: m.generate(src, lengths) for k, m in models.items()}
    same = outs["reference"].shape == outs["against"].shape and bool(
        (outs["reference"] == outs["against"]).all())
    figures: dict = {}
    for threads in [int(t) for t in args.threads.split(",") if t.strip()]:
        torch.set_num_threads(threads)
        for _ in range(args.rounds):
            for key, model in models.items():
                figures.setdefault(f"{key}_threads_{threads}", []).append(
                    round(speed(model, src, lengths)))
    print(json.dumps({"bench": "sorter_decode", "n": args.n, "same_outputs": same,
                      "load_avg": round(os.getloadavg()[0], 2), "seqs_per_s": figures}))


if __name__ == "__main__":
    main()
