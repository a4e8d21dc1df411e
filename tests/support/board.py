"""Report dicts and fake grade functions for the leaderboard, ranking, batch and export tests.

Reports follow the "Grade reports" shape of docs/interfaces.md; their metrics are computed
from their own per-example arrays, so bootstrap intervals and metrics agree. The fake grade
functions are module-level so that spawned batch workers can unpickle them.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

RUBRIC = "rubric-1"


def _spam_part(n: int, errors: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y_true = (np.arange(n) % 2).astype(int)          # balanced
    y_pred = y_true.copy()
    wrong = rng.choice(n, size=errors, replace=False)
    y_pred[wrong] = 1 - y_pred[wrong]
    return y_true, y_pred


def spam_metrics(y_true, y_pred) -> dict:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(((y_true == 1) & (y_pred == 1)).sum())
    fp = int(((y_true == 0) & (y_pred == 1)).sum())
    fn = int(((y_true == 1) & (y_pred == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"f1": f1, "precision": precision, "recall": recall,
            "accuracy": float((y_true == y_pred).mean()), "roc_auc": 0.5 + f1 / 2}


def make_report(student: str = "alice", *, pub_errors: int = 10, priv_errors: int = 10,
                n: int = 200, sorter_pub: int = 150, sorter_priv: int = 150, seed: int = 0,
                status: str = "ok", rubric: str = RUBRIC, failing: tuple = (),
                submission: str | None = None, sha256: str | None = None) -> dict:
    """A report whose spam part has ``pub_errors``/``priv_errors`` wrong of ``n`` per part and
    whose sorter part gets ``sorter_pub``/``sorter_priv`` of ``n`` exactly right."""
    rng = np.random.default_rng(seed)
    pub_t, pub_p = _spam_part(n, pub_errors, rng)
    priv_t, priv_p = _spam_part(n, priv_errors, rng)
    private = [False] * n + [True] * n
    y_true, y_pred = np.concatenate([pub_t, priv_t]), np.concatenate([pub_p, priv_p])
    spam_all = spam_metrics(y_true, y_pred)
    s_pred = np.array([1] * sorter_pub + [0] * (n - sorter_pub) + [1] * sorter_priv + [0] * (n - sorter_priv))

    def sorter_metrics(pred):
        return {"exact_match": float(pred.mean()), "token_accuracy": float(0.5 + pred.mean() / 2)}

    checks = [{"part": part, "name": name, "passed": f"{part}.{name}" not in failing,
               "points": 0.0 if f"{part}.{name}" in failing else 5.0, "max_points": 5.0,
               "message": "ok", "status": "failed" if f"{part}.{name}" in failing else "passed"}
              for part, name in (("tokenizer", "encode"), ("spam_model", "padding_invariant"))]
    s_checks = [{"part": "lstm_cell", "name": "matches_torch", "passed": "lstm_cell.matches_torch" not in failing,
                 "points": 5.0, "max_points": 5.0, "message": "ok", "status": "passed"}]
    spam_q = round(40 * spam_all["f1"], 4) if status == "ok" else 0.0
    sorter_q = round(40 * float(s_pred.mean()), 4) if status == "ok" else 0.0
    spam_pts = spam_q + sum(c["points"] for c in checks)
    sorter_pts = sorter_q + sum(c["points"] for c in s_checks)
    return {
        "student": student, "submission": submission or f"{student}.zip",
        "sha256": sha256 or hashlib.sha256(f"{student}{seed}{pub_errors}{priv_errors}".encode()).hexdigest(),
        "mode": "code", "status": status, "reason": "" if status == "ok" else "malformed zip",
        "points": spam_pts + sorter_pts if status == "ok" else 0.0, "max_points": 100.0,
        "tasks": {
            "spam": {"points": spam_pts, "max_points": 50.0, "checks": checks,
                     "quality": {"points": spam_q, "max_points": 40.0, "status": "ok", "reason": "",
                                 "metrics": spam_all, "public": spam_metrics(pub_t, pub_p),
                                 "private": spam_metrics(priv_t, priv_p)},
                     "examples": {"y_true": y_true.tolist(), "y_pred": y_pred.tolist(), "private": private}},
            "sorter": {"points": sorter_pts, "max_points": 50.0, "checks": s_checks,
                       "quality": {"points": sorter_q, "max_points": 40.0, "status": "ok", "reason": "",
                                   "metrics": sorter_metrics(s_pred),
                                   "public": sorter_metrics(s_pred[:n]),
                                   "private": sorter_metrics(s_pred[n:])},
                       "examples": {"y_true": [1] * (2 * n), "y_pred": s_pred.tolist(), "private": private}},
        } if status == "ok" else {},
        "rubric_hash": rubric, "grader_version": "0.1.0+test", "torch_version": "2.13",
    }


def report_for_file(path: str, rubric: str = RUBRIC) -> dict:
    """A deterministic report for a submission file: its content decides the errors."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).digest()
    return make_report(Path(path).stem, pub_errors=digest[0] % 40, priv_errors=digest[1] % 40,
                       n=60, sorter_pub=digest[3] % 61, sorter_priv=digest[4] % 61,
                       seed=digest[2], submission=Path(path).name, rubric=rubric,
                       sha256=hashlib.sha256(data).hexdigest())


def fake_grade(path: str, rubric: str = RUBRIC) -> dict:
    return report_for_file(path, rubric)


def slow_grade(path: str, delay: float = 0.3, pid_dir: str | None = None) -> dict:
    if pid_dir:
        Path(pid_dir, str(os.getpid())).touch()
    time.sleep(delay)
    return report_for_file(path)


def flaky_grade(path: str) -> dict:
    """Crashes the grader on ``boom*``, kills its worker on ``dies*``, fails ``bad*`` cleanly."""
    name = Path(path).name
    if name.startswith("boom"):
        raise RuntimeError("grader bug")
    if name.startswith("dies"):
        os._exit(3)
    if name.startswith("bad"):
        report = make_report(Path(path).stem, status="failed", submission=name)
        return report
    time.sleep(0.05)
    return report_for_file(path)


def env_grade(path: str) -> dict:
    report = report_for_file(path)
    report["reason"] = f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}"
    return report


def write_submissions(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        p = folder / name
        p.write_bytes(f"submission of {name}\n".encode())
        paths.append(p)
    return paths


def rubric_grade(path: str, rubric: str = RUBRIC) -> dict:
    """``fake_grade`` whose points depend on the rubric: under any rubric but the first, each
    file's spam task earns 5 points more (a rubric change a regrade must show)."""
    report = report_for_file(path, rubric)
    if rubric != RUBRIC and report["status"] == "ok":
        report["tasks"]["spam"]["points"] += 5.0
        report["points"] += 5.0
    return report
