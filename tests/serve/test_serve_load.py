"""Load on loopback: 200 students upload predictions files at once, 20 of them a code zip too,
against one server with 2 local workers: every submission is graded exactly once, none lost.

The predictions files go through the real grader (on tiny hidden sets); the code zips through
a fake grade function (``support.serve.mixed_grade``): grading 20 students' code for real would
cost minutes of CI, and the queue treats both kinds alike. Timings are for bench/serve.py."""

from __future__ import annotations

import asyncio
import io
import json
import random
import sqlite3
import zipfile

import pytest
from support.serve import (
    mixed_grade,
    read_tokens,
    running_app,
    upload_all,
    wait_for,
    write_roster,
)

from grader.engines.base import Work
from grader.engines.local import LocalEngine
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher
from grader.serve.server import default_grade_kwargs, prepare

STUDENTS, CODE = 200, 20


def _code_zip(student: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"student": student, "files": {}}))
    return out.getvalue()


@pytest.mark.slow
def test_200_students_at_once_are_each_graded_exactly_once(tmp_path, monkeypatch):
    from support.grading import make_hidden_sets, tiny_rubric

    from grader.hidden import hidden_spam

    log = tmp_path / "fake-graded.log"
    monkeypatch.setenv("FAKE_GRADE_LOG", str(log))   # the spawned workers inherit it
    data = tmp_path / "data"
    rubric = tiny_rubric()
    make_hidden_sets(data, rubric)
    ids = hidden_spam(data).ids
    names = [f"student{i:03d}" for i in range(STUDENTS)]
    ready = prepare(data / "leaderboard.sqlite", write_roster(tmp_path / "roster.csv", names))
    tokens = read_tokens(ready.tokens_csv)
    uploads = ready.folder / "uploads"
    rng = random.Random(0)
    files = []
    for name in names:
        rows = "".join(f"{i},{rng.random():.4f}\n" for i in ids)
        files.append((tokens[name], "predictions.csv", f"id,prediction\n{rows}".encode()))
    files += [(tokens[n], "submission.zip", _code_zip(n)) for n in names[:CODE]]
    app = create_app(ready.queue, ready.tokens, ServeConfig(uploads=uploads, upload_interval_s=0))
    kwargs = default_grade_kwargs(ready.queue.path, uploads, rubric, data)
    engine = LocalEngine(Work(mixed_grade, kwargs), 2)
    dispatcher = Dispatcher(ready.queue, engine, uploads)
    dispatcher.start()
    try:
        with running_app(app) as url:
            answers = asyncio.run(upload_all(url, files, seconds=120))
            assert [a[0] for a in answers] == [201] * len(files), answers[:3]
            assert len({a[2]["id"] for a in answers}) == len(files)
            wait_for(lambda: ready.queue.counts_by_state()["graded"] == len(files), 240, 0.5)
    finally:
        dispatcher.stop()
        engine.close()
    assert ready.queue.counts_by_state() == {"queued": 0, "running": 0, "graded": len(files),
                                             "failed": 0}
    with sqlite3.connect(ready.queue.path) as con:
        rows = con.execute("SELECT student, sha256, count(*) FROM submissions "
                           "GROUP BY student, sha256").fetchall()
    assert len(rows) == len(files) and all(n == 1 for _, _, n in rows)   # one row per upload
    assert sorted(log.read_text().split()) == sorted(set(log.read_text().split()))
    assert len(log.read_text().split()) == CODE                          # each zip graded once
    assert len({j.board_id for j in ready.queue.jobs()}) == len(files)   # each its own row
