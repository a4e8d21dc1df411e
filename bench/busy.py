"""Training on a busy machine: the time per step of ``challenge train spam`` with its defaults,
first as the machine is, then with other CPU-bound processes running beside it, and prints one
JSON object.

    python bench/busy.py [--messages 400] [--words 250] [--epochs 2] [--load 1] [--repeats 2]
                         [--threads N] [--wait-policy ACTIVE|PASSIVE]

Each run is the real command line in a fresh process, on a synthetic corpus written to a
temporary folder (nothing downloaded), with OMP_WAIT_POLICY and OMP_NUM_THREADS removed from
its environment, so what it measures is what a student gets. The load is ``--load`` processes
that each spin one core in pure Python. Runs alternate quiet and busy (``--repeats`` pairs);
the figure per condition is the median over runs of each run's median seconds per optimiser
step (each step timed in the command's own process; setup and dev evaluation left out). ``ratio``: busy over quiet;
the target of issue #33 is at most 2. The "quiet" runs see whatever else the machine is doing:
on a shared machine, say so beside the figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HAM = "meeting patch build kernel review lunch thanks agenda release notes server".split()
SPAM = "free offer click winner cash prize unsubscribe money guaranteed limited".split()
FILLER = "the a to of and in for on with this that is are was be it you we".split()


def write_corpus(root: Path, messages: int, words: int, seed: int = 0) -> None:
    """A labelled corpus of ``messages`` synthetic mails of about ``words`` words, split."""
    from challenge.data.corpus import Message, write_corpus as write
    from challenge.data.split import make_split

    rng = random.Random(seed)
    out = []
    for i in range(messages):
        spam = int(i % 3 == 0)
        vocab = (SPAM if spam else HAM) + FILLER * 3 + [f"w{rng.randrange(3000)}" for _ in range(40)]
        body = " ".join(rng.choice(vocab) for _ in range(rng.randint(words // 2, words * 3 // 2)))
        group = "spam-1" if spam else "easy-ham-1"
        out.append(Message(id=f"{group}/{i:05d}", group=group, label=spam,
                           subject=" ".join(rng.sample(vocab, 4)), body=body))
    write("spam", out, {"source": "synthetic (bench/busy.py)"}, root)
    make_split("spam", seed=0, scheme="random", data_dir=root)


def spin() -> None:
    """One core's worth of CPU-bound work until killed."""
    x = 0
    while True:
        x = (x * 31 + 7) % 1_000_003


# The child: the real CLI, with each optimiser step timed. The timer wraps Trainer._step when
# challenge.training is first imported (by the command, after it has set up OpenMP), so the
# bench imports nothing of torch before the command does.
CHILD = """
import atexit, importlib.util, json, os, sys, time
TIMES = []
class StepTimer:
    def find_spec(self, name, path=None, target=None):
        if name != "challenge.training":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            step = module.Trainer._step
            def timed(self, batch, state):
                t = time.perf_counter()
                try:
                    return step(self, batch, state)
                finally:
                    TIMES.append(time.perf_counter() - t)
            module.Trainer._step = timed
        spec.loader.exec_module = exec_module
        return spec
sys.meta_path.insert(0, StepTimer())
atexit.register(lambda: open(os.environ["BUSY_BENCH_TIMES"], "w").write(json.dumps(TIMES)))
from challenge.cli import main
main()
"""


def train_once(data: Path, out: Path, epochs: int, extra: tuple[list[str], str | None]) -> dict:
    """One ``challenge train spam`` in a fresh process: its median seconds per optimiser step
    and the threads it chose."""
    times = out.with_suffix(".times.json")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(CHALLENGE_DATA_DIR=str(data), CHALLENGE_QUIET="1", BUSY_BENCH_TIMES=str(times))
    options, policy = extra
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    cmd = [sys.executable, "-c", CHILD, "train", "spam",
           "--impl", "solutions", "--epochs", str(epochs), "--minutes", "0",
           "--out", str(out), "--json", *options]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"train spam failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    steps = json.loads(times.read_text())
    return {"s_per_step": statistics.median(steps), "steps": len(steps),
            "wall_s": round(time.monotonic() - start, 2), "threads": run.get("threads")}


def measure(data: Path, folder: Path, args: argparse.Namespace, busy: bool) -> dict:
    spinners = []
    if busy:
        ctx = multiprocessing.get_context("spawn")
        spinners = [ctx.Process(target=spin, daemon=True) for _ in range(args.load)]
        for p in spinners:
            p.start()
        time.sleep(0.5)
    try:
        extra = ([] if args.threads is None else ["--threads", str(args.threads)],
                 args.wait_policy)
        return train_once(data, folder / f"{'busy' if busy else 'quiet'}.pt", args.epochs, extra)
    finally:
        for p in spinners:
            p.terminate()
            p.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400, help="synthetic messages in all")
    parser.add_argument("--words", type=int, default=250, help="typical words per message")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run")
    parser.add_argument("--load", type=int, default=1, help="CPU-bound processes when busy")
    parser.add_argument("--repeats", type=int, default=2, help="quiet/busy pairs")
    parser.add_argument("--threads", type=int, default=None,
                        help="pass --threads N to the command (default: its own choice)")
    parser.add_argument("--wait-policy", default=None,
                        help="OMP_WAIT_POLICY for the command (default: unset, as a student has "
                             "it; ACTIVE shows what spinning threads cost)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="busy-bench-") as tmp:
        data = Path(tmp) / "data"
        write_corpus(data, args.messages, args.words)
        runs: dict[str, list[dict]] = {"quiet": [], "busy": []}
        for _ in range(args.repeats):
            for name in ("quiet", "busy"):
                runs[name].append(measure(data, Path(tmp), args, name == "busy"))
    med = {k: statistics.median(r["s_per_step"] for r in v) for k, v in runs.items()}
    print(json.dumps({
        "bench": "busy", "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(), "load_processes": args.load,
        "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
        "quiet_s_per_step": round(med["quiet"], 4), "busy_s_per_step": round(med["busy"], 4),
        "ratio": round(med["busy"] / med["quiet"], 2), "target_ratio": 2.0,
        "given": {"threads": args.threads, "wait_policy": args.wait_policy},
        "steps_per_run": runs["quiet"][0]["steps"],
        "threads": {k: [r["threads"] and r["threads"]["threads"] for r in v]
                    for k, v in runs.items()},
        "wait_policy": (runs["quiet"][0]["threads"] or {}).get("wait_policy"),
        "runs": {k: [round(r["s_per_step"], 4) for r in v] for k, v in runs.items()},
    }))


if __name__ == "__main__":
    main()
