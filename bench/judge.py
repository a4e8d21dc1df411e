"""Benchmark of the judge under attack (issue #30): prints one JSON object.

- ``huge_outputs_seconds`` / ``huge_outputs_peak_rss_mb``: grading a submission whose every check
  answers a legal 64 MiB tensor (all six parts' checks, both models' quality), in a process of its
  own; the peak RSS is that grading process's (targets: < 120 s, < 1536 MB);
- ``stride0_checkpoint_seconds``: grading a submission whose sorter checkpoint is a 1.6 kB file
  of stride-0 views claiming 2**40 values (target: < 30 s);
- ``honest_seconds`` / ``honest_peak_rss_mb``: the reference modules and checkpoints on the same
  sets, for comparison on the same machine.

Everything runs on a tiny synthetic corpus and tiny hidden sets in a temporary folder (the test
suite's builders), never on the real corpus.

    python bench/judge.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CHALLENGE_QUIET", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

HUGE = """
import torch
from challenge.checks import all_checks
for _c in all_checks():
    object.__setattr__(_c, "run", lambda module, data: torch.zeros(16 << 20))
"""
PARTS = ["tokenizer", "batching", "spam_model", "sorter_model", "lstm_cell", "bptt"]


def _rubric():
    from support.grading import ATTACK_TASKS, tiny_rubric

    tasks = {**ATTACK_TASKS, "foundations": {"parts": PARTS, "checks": 10}}
    return tiny_rubric(tasks=tasks, check_seconds=20.0, unit_seconds=20.0)


def _stride0(path: Path) -> Path:
    import torch

    state = {"w": torch.zeros(1).expand(2 ** 20, 2 ** 20), "v": torch.zeros(1).expand(2 ** 28)}
    torch.save({"state_dict": state, "config": {"task": "sorter", "model": {}}}, path)
    return path


def scenario(name: str, root: Path) -> dict:
    """Grade one scenario in this process: its seconds and this process's peak RSS."""
    from support.grading import build_zip, reference_modules

    from grader.grade import grade

    modules = reference_modules()
    checkpoints = {"sorter": root / "sorter.pt", "spam": root / "spam.pt"}
    if name == "huge":
        modules = {k: v + "\n" + HUGE for k, v in modules.items()}
    if name == "stride0":
        checkpoints["sorter"] = _stride0(root / f"stride0-{os.getpid()}.pt")
    z = build_zip(root / f"{name}.zip", modules, checkpoints)
    start = time.monotonic()
    report = grade(submission=z, hidden=True, rubric=_rubric(), data_dir=root / "data")
    seconds = time.monotonic() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sorter = report.tasks["sorter"].quality
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(rss), "points": report.points,
            "sorter_status": sorter.status if sorter else ""}


def main() -> None:
    from support.grading import attack_env

    with tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        root = Path(tmp)
        attack_env(root, _rubric())
        out: dict = {}
        for name in ("honest", "huge", "stride0"):
            proc = subprocess.run([sys.executable, __file__, "--scenario", name, str(root)],
                                  capture_output=True, text=True, timeout=600)
            if proc.returncode:
                out[f"{name}_error"] = proc.stderr.strip().splitlines()[-1:]
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            out[f"{name}_seconds"] = result["seconds"]
            out[f"{name}_peak_rss_mb"] = result["peak_rss_mb"]
            out[f"{name}_points"] = result["points"]
            if name == "stride0":
                out["stride0_sorter_status"] = result["sorter_status"]
    out["huge_outputs_seconds"] = out.pop("huge_seconds", None)
    out["huge_outputs_peak_rss_mb"] = out.pop("huge_peak_rss_mb", None)
    out["stride0_checkpoint_seconds"] = out.pop("stride0_seconds", None)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--scenario":
        print(json.dumps(scenario(sys.argv[2], Path(sys.argv[3]))))
    else:
        main()
