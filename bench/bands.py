"""Fair bands on a real imported corpus, checked as issue 31's "Done when" asks; prints one JSON
object (progress on stderr).

    python bench/bands.py --source /path/to/SMSSpamCollection --work DIR
                          [--name sms] [--format tsv] [--spamassassin DIR2]

In DIR (its own data and runs folders, so nothing else is touched) it runs the documented
commands: ``challenge data import NAME SOURCE --format FORMAT``, a course file (the kit's
rubric with ``spam_corpus = NAME``), ``challenge hidden make --secret-file DIR/secret.txt
[--new] --rubric course.toml --train-reference`` (three reference seeds, cached under DIR/runs:
a second run reuses them and the secret). Then, as a student would, it fits TF-IDF+LR and
ComplementNB on the course's train split (threshold chosen on dev) and grades their predictions
files on the hidden set: at the dev threshold, and TF-IDF+LR's raw probabilities too (cut at
0.5, what a first try writes). ``checks`` holds the four conditions: the band is at least 3
noise sd wide, a TF-IDF+LR predictions file earns strictly between 0 and full points,
ComplementNB and TF-IDF+LR earn points within 3 of each other, and (with ``--spamassassin``,
a folder whose ``data/corpora/spam`` holds the SpamAssassin corpus) the reference earns full
marks on the default course's hidden sets (``challenge hidden make --secret-file
DIR2/secret.txt [--new]`` then ``challenge grade --impl solutions --on-hidden``, training the
reference where DIR2/runs holds none: about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
KIT = Path(__file__).resolve().parents[1]


def _challenge(work: Path, *args: str) -> str:
    """Run ``challenge ARGS`` with DIR's data and runs folders; its stdout (stderr passes)."""
    env = {**os.environ, "CHALLENGE_DATA_DIR": str(work / "data"),
           "CHALLENGE_RUNS_DIR": str(work / "runs"), "CHALLENGE_QUIET": "1"}
    cmd = [str(Path(sys.executable).parent / "challenge"), *args]
    print("$ challenge " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, cwd=work, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"challenge {' '.join(args)} exited {done.returncode}:\n{done.stdout[-2000:]}")
    return done.stdout


def _hidden_make(work: Path, *extra: str) -> float:
    secret = work / "secret.txt"
    start = time.perf_counter()
    _challenge(work, "hidden", "make", "--secret-file", str(secret),
               *([] if secret.is_file() else ["--new"]), *extra)
    return round(time.perf_counter() - start, 1)


def make_course(work: Path, source: str, name: str, fmt: str) -> dict:
    """Import (once), write the course file and make the hidden sets with a measured band."""
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "data" / "corpora" / name / "messages.jsonl").is_file():
        _challenge(work, "data", "import", name, source, "--format", fmt)
    rubric = (KIT / "challenge" / "rubric.toml").read_text(encoding="utf-8")
    rubric, n = re.subn(r'(?m)^spam_corpus = "spam"', f'spam_corpus = "{name}"', rubric)
    assert n == 1, "the kit's rubric has no spam_corpus line"
    (work / "course.toml").write_text(rubric, encoding="utf-8")
    seconds = _hidden_make(work, "--rubric", str(work / "course.toml"), "--train-reference")
    return {"hidden_make_seconds": seconds}


def _graded(path: Path, rub, data: Path) -> dict:
    from grader.grade import grade_predictions

    report = grade_predictions(path, rub, data)
    q = report.tasks["spam"].quality
    return {"f1_whole": round(q.metrics["f1"], 4), "f1_public": round(q.public["f1"], 4),
            "points_whole": round(q.points, 2),
            "points_public": round(q.part_points["public"], 2), "max_points": q.max_points}


def predictions_points(data: Path) -> dict:
    """Each baseline's predictions file graded on the hidden set like a student's."""
    from challenge.baseline import TfidfBaseline
    from challenge.rubric import load_rubric
    from challenge.tasks.spam import load_texts
    from grader.board.rows import to_half
    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions

    rub = load_rubric(None, data_dir=data)
    corpus = rub.hidden.spam_corpus
    spam = hidden_spam(data)
    texts = [m.text() for m in spam.messages]
    train, dev = load_texts(corpus, "train", data_dir=data), load_texts(corpus, "dev", data_dir=data)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, kind in (("tfidf_logreg", "logreg"), ("tfidf_cnb", "cnb")):
            model = TfidfBaseline(kind, random_state=0).fit(*train, *dev)
            proba = model.predict_proba(texts)[:, 1]
            tuned = write_predictions(Path(tmp) / f"{key}.csv", spam.ids,
                                      to_half(proba, model.threshold_))
            out[key] = {**_graded(tuned, rub, data), "threshold": round(model.threshold_, 4)}
            if kind == "logreg":
                raw = write_predictions(Path(tmp) / f"{key}-0.5.csv", spam.ids, proba)
                out[f"{key}_at_0.5"] = _graded(raw, rub, data)
    return out


def band_figures(data: Path) -> dict:
    from challenge.data.lineage import hidden_meta

    band = hidden_meta(data)[1]["spam"]["bands"]
    width = band["full"] - band["floor"]
    return {"floor": band["floor"], "full": band["full"], "width": round(width, 6),
            "noise_sd": band["noise"], "noise_part": band.get("noise_part", "whole"),
            "width_in_sd": round(width / band.get("noise_sd", band["noise"]["whole"]), 3),
            "points": 30, "points_per_0.004_f1": round(30 * 0.004 / width, 2),
            "reference_runs_f1": [r["f1"] for r in band["figures"].get("reference_runs", [])],
            "baselines_f1": {k: band["figures"][k]["f1"] for k in ("tfidf_logreg", "tfidf_cnb")},
            "reasons": band["reasons"]}


def checks(band: dict, pred: dict, reference: dict | None = None) -> dict:
    """Issue 31's conditions on the figures above (``reference``: the SpamAssassin grade, its
    check left out where there is none)."""
    lr, cnb = pred["tfidf_logreg"], pred["tfidf_cnb"]
    out = {"band_at_least_3_sd": band["width_in_sd"] >= 3 - 1e-6,
           "tfidf_lr_strictly_between_0_and_full": 0 < lr["points_whole"] < lr["max_points"],
           "cnb_and_lr_within_3_points": abs(cnb["points_whole"] - lr["points_whole"]) <= 3}
    if reference is not None:
        out["reference_full_marks_on_spamassassin"] = reference["points"] >= reference["max_points"]
    return out


def spamassassin_reference(work: Path) -> dict:
    """The reference on the default course (SpamAssassin) graded on its hidden sets."""
    made = _hidden_make(work)
    start = time.perf_counter()
    report = json.loads(_challenge(work, "grade", "--impl", "solutions", "--on-hidden", "--json"))
    return {"points": report["points"], "max_points": report["max_points"],
            "tasks": {n: t["points"] for n, t in report["tasks"].items()},
            "spam_f1_whole": report["tasks"]["spam"]["quality"]["metrics"]["f1"],
            "hidden_make_seconds": made, "grade_seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--source", required=True, help="The labelled mail to import (a file).")
    p.add_argument("--work", required=True, help="A folder of its own for data and runs.")
    p.add_argument("--name", default="sms", help="The corpus's name (default sms).")
    p.add_argument("--format", default="tsv", help="Its layout (challenge data import).")
    p.add_argument("--spamassassin", default=None,
                   help="A folder whose data/corpora/spam holds the SpamAssassin corpus: also "
                        "grade the reference on the default course there.")
    a = p.parse_args()
    work = Path(a.work).resolve()
    out = {"date": time.strftime("%Y-%m-%d"), "corpus": a.name,
           **make_course(work, a.source, a.name, a.format)}
    data = work / "data"
    os.environ["CHALLENGE_DATA_DIR"] = str(data)
    out["band"] = band_figures(data)
    out["predictions"] = pred = predictions_points(data)
    if a.spamassassin:
        out["spamassassin"] = spamassassin_reference(Path(a.spamassassin).resolve())
    out["checks"] = checks(out["band"], pred, out.get("spamassassin"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
