"""Benchmark of grading: prints one JSON object.

- ``code_mode_seconds``: wall-clock seconds of ``challenge grade --hidden ref.zip --json`` as a
  subprocess (process start, safe extraction, the sandboxed child with every check and both
  models on the hidden sets, scoring), for a zip of the reference modules and checkpoints
  (target: <= 15 s);
- ``sandbox_start_seconds``: the sandbox alone (bubblewrap, the cgroup, Python and torch in the
  child until it is ready), the median of three starts running one small check each;
- ``predictions_100_seconds``: seconds to grade 100 prediction files in one process (target:
  <= 10 s).

The hidden sets are made afresh from a throwaway secret in a temporary copy of the data folder
(``--data-dir``, which must hold the parsed spam corpus), so an instructor's own hidden sets are
never touched. Reference checkpoints come from ``runs/grade/`` (trained first when missing;
training is not timed).

    python bench/grade.py [--data-dir data] [--runs-dir runs]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("CHALLENGE_QUIET", "1")

REPO = Path(__file__).resolve().parents[1]


def _reference_zip(path: Path, checkpoints: dict[str, Path]) -> Path:
    from challenge.impl import STUDENT_MODULES

    payload = {f"modules/{m}.py": (REPO / "solutions" / f"{m}.py").read_bytes() for m in STUDENT_MODULES}
    payload.update({f"checkpoints/{t}.pt": p.read_bytes() for t, p in checkpoints.items()})
    manifest = {"student": "reference", "files": {k: hashlib.sha256(v).hexdigest()
                                                  for k, v in payload.items()}}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in payload.items():
            zf.writestr(name, data)
    return path


def _sandbox_start() -> float:
    from challenge.checks import all_checks
    from challenge.rubric import Limits
    from grader.sandbox import Unit, isolation_problem, run_units

    check = all_checks(["bptt"])[0]
    unit = Unit(f"check:{check.key}", "check", {"check": check.key, "data": check.make_inputs(0)},
                check.part)
    run = run_units([unit], impl="solutions", limits=Limits(wall_seconds=120),
                    isolate=not isolation_problem())
    return run.start_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CHALLENGE_DATA_DIR", "data"))
    parser.add_argument("--runs-dir", default=os.environ.get("CHALLENGE_RUNS_DIR", "runs"))
    parser.add_argument("--files", type=int, default=100, help="prediction files to grade")
    args = parser.parse_args()
    os.environ["CHALLENGE_RUNS_DIR"] = str(Path(args.runs_dir).resolve())

    from challenge.rubric import load_rubric
    from grader.grade import grade
    from grader.hidden import hidden_spam, make_hidden
    from grader.predictions import write_predictions
    from grader.reference import reference_checkpoints

    rubric = load_rubric()
    corpus = Path(args.data_dir) / "corpora" / rubric.hidden.spam_corpus
    if not (corpus / "messages.jsonl").is_file():
        sys.exit(f"bench/grade.py: no parsed corpus at {corpus}; run `challenge data fetch spam` "
                 f"or pass --data-dir")
    tmp = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    try:
        data = tmp / "data"
        shutil.copytree(corpus, data / "corpora" / corpus.name)
        (tmp / "secret").write_text("bench secret\n")
        make_hidden(secret_file=tmp / "secret", data_dir=data, rubric=rubric)
        checkpoints = reference_checkpoints(rubric, data_dir=data)
        ref = _reference_zip(tmp / "reference.zip", checkpoints)

        start = time.perf_counter()
        command = [sys.executable, "-c", "from challenge.cli import main; main()", "grade",
                   "--hidden", str(ref), "--data-dir", str(data), "--json"]
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        code_seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"bench/grade.py: grading the reference failed: {proc.stderr.strip()[-500:]}")
        report = json.loads(proc.stdout)

        starts = sorted(_sandbox_start() for _ in range(3))

        spam = hidden_spam(data)
        rng = random.Random(0)
        files = []
        for i in range(args.files):
            preds = [min(1.0, max(0.0, y + rng.uniform(-0.6, 0.6))) for y in spam.labels]
            files.append(write_predictions(tmp / f"student{i:03d}.csv", spam.ids, preds))
        start = time.perf_counter()
        points = [grade(submission=f, hidden=True, rubric=rubric, data_dir=data).points
                  for f in files]
        predictions_seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    import torch

    print(json.dumps({
        "code_mode_seconds": round(code_seconds, 2),
        "code_mode_target_seconds": 15,
        "sandbox_start_seconds": round(starts[1], 2),
        "code_mode_points": report["points"], "code_mode_max_points": report["max_points"],
        "code_mode_tasks": {k: {"points": v["points"], "max_points": v["max_points"],
                                "metrics": (v.get("quality") or {}).get("metrics")}
                            for k, v in report["tasks"].items()},
        "predictions_files": len(files),
        "predictions_100_seconds": round(predictions_seconds * 100 / len(files), 2),
        "predictions_target_seconds": 10,
        "predictions_mean_points": round(sum(points) / len(points), 3),
        "hidden_spam_messages": len(spam.ids),
        "hidden_sorter_sequences": 2 * rubric.sorter.hidden_size,
        "isolation": report.get("isolation", {}),
        "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
