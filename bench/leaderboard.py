"""Benchmark: batch grading of prediction-file submissions, and rendering a 1,000-row leaderboard.

Prints one JSON object. Everything happens in a temporary data folder: a synthetic labelled
corpus (the size of SpamAssassin) stands in for the real one, ``grader.hidden.make_hidden``
makes its hidden set from a fresh secret, and 200 students' predictions CSVs (each with its own
error rate) are graded by the real grader (``grader.grade.grade``, predictions mode) through
``grader.batch.grade_many`` with 1 and 2 workers. The render timing then ranks 1,000 stored
rows (the 200 real reports, each stored under 5 names) on the spam task with 1,000 bootstrap
resamples and writes the HTML page; the csv and the overall table are timed too.

    python bench/leaderboard.py [--submissions 200] [--rows 1000] [--messages 6046]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path


def _corpus(data: Path, n: int, seed: int) -> None:
    from challenge.data.corpus import Message, write_corpus

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    messages = []
    for i in range(n):
        label = int(rng.random() < 0.31)               # SpamAssassin: 1,896 of 6,046 are spam
        body = " ".join(rng.choices(words, k=rng.randint(20, 200))) + f" #{i}"
        messages.append(Message(id=f"bench/{i:05d}", group="imported", label=label,
                                subject=f"message {i}", body=body))
    write_corpus("spam", messages, {"source": "synthetic benchmark corpus", "messages": n}, data)


def _predictions(folder: Path, data: Path, students: int, seed: int) -> None:
    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions

    spam = hidden_spam(data)
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for s in range(students):
        error = rng.uniform(0.01, 0.15)
        probs = [round(rng.uniform(0.5, 1.0) if (y == 1) != (rng.random() < error)
                       else rng.uniform(0.0, 0.49), 4) for y in spam.labels]
        write_predictions(folder / f"student{s:03d}.csv", list(spam.ids), probs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=6046)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("CHALLENGE_QUIET", "1")

    from challenge.rubric import load_rubric
    from grader.batch import grade_many
    from grader.board.export import leaderboard
    from grader.board.leaderboard import Leaderboard
    from grader.grade import grade
    from grader.hidden import make_hidden

    out: dict = {"bench": "leaderboard", "cpu_count": os.cpu_count(),
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                 "grader": "grader.grade.grade, predictions mode (real), via grader.batch.grade_many",
                 "submissions": args.submissions}
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        _corpus(data, args.messages, seed=0)
        made = make_hidden(secret_file=tmp / "secret.txt", data_dir=data, new=True)
        out["hidden_set"] = {"corpus": f"synthetic, {args.messages} messages",
                             "messages": made["spam"]["messages"], "private": made["spam"]["private"]}
        _predictions(tmp / "subs", data, args.submissions, seed=1)
        rubric = load_rubric()
        kwargs = {"data_dir": str(data), "rubric": rubric}
        out["grade_seconds"] = {}
        for workers in (1, 2):
            result = grade_many(tmp / "subs", workers=workers, db=tmp / f"w{workers}.sqlite",
                                grade_kwargs=kwargs)
            if len(result.graded) != args.submissions or result.crashed:
                raise SystemExit(f"batch with {workers} worker(s) went wrong: {result.summary()}")
            out["grade_seconds"][str(workers)] = round(result.seconds, 2)
        out["speedup_2_workers"] = round(out["grade_seconds"]["1"] / out["grade_seconds"]["2"], 2)

        reports = [grade(submission=p, hidden=True, **kwargs).to_dict()
                   for p in sorted((tmp / "subs").iterdir())]
        board_db = tmp / "board.sqlite"
        with Leaderboard(board_db) as store:
            for i in range(args.rows):
                store.record(reports[i % len(reports)], student=f"s{i:04d}")
        timings = {}
        for name, task, fmt, part in (("spam_html", "spam", "html", "public"),
                                      ("spam_private_csv", "spam", "csv", "private"),
                                      ("overall_table", None, "table", "public")):
            start = time.perf_counter()
            leaderboard(db=board_db, task=task, part=part, fmt=fmt, out=tmp / f"board.{fmt}")
            timings[name] = round(time.perf_counter() - start, 3)
        out["render_rows"] = args.rows
        out["render_seconds"] = timings
        out["render_target_seconds"] = 2.0
        out["render_within_target"] = max(timings.values()) < 2.0
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
