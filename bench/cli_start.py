"""Benchmark of the CLI's start-up: prints one JSON object of seconds per command.

    python bench/cli_start.py [--data-dir DIR] [--repeats 5]

Each command runs as a user runs it, a fresh ``challenge`` process (the installed entry point,
else ``python -m challenge.cli``), best and median wall seconds of ``--repeats`` runs:
``challenge --help``, ``challenge data --help`` and ``challenge data stats spam --json`` (the
last needs the corpus in the data folder; null with a note when it is not there). For scale,
``import_torch_s`` is a bare ``python -c "import torch"``. The issue's bar: under 1 s each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _command() -> list[str]:
    exe = shutil.which("challenge")
    if exe:
        return [exe]
    return [sys.executable, "-c", "from challenge.cli import main; main()"]


def _time(argv: list[str], repeats: int, env: dict) -> dict:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        runs.append(time.perf_counter() - start)
    return {"best_s": round(min(runs), 3), "median_s": round(statistics.median(runs), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CHALLENGE_DATA_DIR", "data"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "CHALLENGE_DATA_DIR": args.data_dir, "OMP_WAIT_POLICY": "PASSIVE"}
    cli = _command()
    out: dict = {"repeats": args.repeats, "cpus": os.cpu_count(),
                 "load_1min": round(os.getloadavg()[0], 2),
                 "help": _time(cli + ["--help"], args.repeats, env),
                 "data_help": _time(cli + ["data", "--help"], args.repeats, env)}
    if (Path(args.data_dir) / "corpora" / "spam" / "meta.json").is_file():
        out["data_stats_json"] = _time(cli + ["data", "stats", "spam", "--json"], args.repeats, env)
    else:
        out["data_stats_json"] = None
        out["note"] = f"no spam corpus under {args.data_dir}: run `challenge data fetch spam`"
    out["import_torch_s"] = _time([sys.executable, "-c", "import torch"], args.repeats, env)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
