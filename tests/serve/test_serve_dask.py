"""Grading on a Dask distributed cluster (a LocalCluster of two worker processes): the live
challenge's engine and the folder grade ``challenge grade --hidden SUBS/ --dask ADDRESS``."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from support.serve import FAKE_RUBRIC, fake_grade, wait_for

from grader.batch import grade_folder, grade_many
from grader.engines.base import Work
from grader.engines.cluster import DaskEngine
from grader.serve.dispatch import Dispatcher
from grader.serve.queue import JobQueue


@pytest.fixture(scope="module")
def cluster():
    import dask
    from distributed import LocalCluster

    # one lost worker is enough for Dask to give up on a task (the default retries three times)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="1GiB",
                          dashboard_address=None, host="127.0.0.1") as c:
            yield c.scheduler_address


def test_the_live_queue_grades_on_dask_once_each_and_a_killer_job_fails(tmp_path, cluster):
    queue = JobQueue(tmp_path / "board.sqlite")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    ids = {}
    for name, content in [("a", b"id,prediction\n1\n"), ("b", b"id,prediction\n22\n"),
                          ("c", b"SLEEP 0.5\n"), ("d", b"DIE\n")]:
        (uploads / f"{name}__1.csv").write_bytes(content)
        ids[name] = queue.enqueue(name, "p.csv", f"{name}__1.csv",
                                  hashlib.sha256(content).hexdigest())
    engine = DaskEngine(Work(fake_grade), cluster)
    dispatcher = Dispatcher(queue, engine, uploads, poll_s=0.05)
    dispatcher.start()
    try:
        wait_for(lambda: all(j.state in ("graded", "failed") for j in queue.jobs()), 120)
    finally:
        dispatcher.stop()
        engine.close()
    jobs = {j.student: j for j in queue.jobs()}
    assert [jobs[s].state for s in "abc"] == ["graded"] * 3
    assert jobs["d"].state == "failed" and "Dask lost the workers" in jobs["d"].detail
    assert jobs["d"].counts == 0
    with sqlite3.connect(queue.path) as con:
        assert sorted(r[0] for r in con.execute("SELECT student FROM submissions")) == ["a", "b", "c"]


def test_the_folder_grade_on_dask_stores_every_file_once_and_resumes(tmp_path, cluster):
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(5):
        (subs / f"s{i}.csv").write_text(f"id,prediction\n{'x' * i}\n")
    (subs / "crash.csv").write_text("CRASH\n")
    db = tmp_path / "board.sqlite"
    with DaskEngine(Work(fake_grade), cluster, slots=2) as engine:   # two files in flight
        first = grade_folder(subs, engine, db=db, rubric_hash=FAKE_RUBRIC)
    assert sorted(first.graded) == [f"s{i}.csv" for i in range(5)]
    assert [f for f, _ in first.crashed] == ["crash.csv"] and "a bug of the grader" in first.crashed[0][1]
    again = grade_many(subs, dask=cluster, db=db, grade_fn=fake_grade, rubric_hash=FAKE_RUBRIC)
    assert again.graded == [] and sorted(again.skipped) == [f"s{i}.csv" for i in range(5)]


@pytest.mark.slow
def test_the_real_grader_on_dask_matches_the_local_grade(tmp_path, cluster):
    from support.grading import make_hidden_sets, tiny_rubric

    from grader.hidden import hidden_spam
    from grader.predictions import write_predictions

    data = tmp_path / "data"
    rubric = tiny_rubric()
    make_hidden_sets(data, rubric)
    spam = hidden_spam(data)
    subs = tmp_path / "subs"
    write_predictions(subs / "alice.csv", spam.ids, spam.labels)
    write_predictions(subs / "bob.csv", spam.ids, [1 - y for y in spam.labels])
    kwargs = {"rubric": rubric, "data_dir": data}
    on_dask = grade_many(subs, dask=cluster, db=tmp_path / "dask.sqlite", grade_kwargs=kwargs)
    local = grade_many(subs, workers=1, db=tmp_path / "local.sqlite", grade_kwargs=kwargs)
    assert sorted(on_dask.graded) == sorted(local.graded) == ["alice.csv", "bob.csv"]

    def points(db):
        with sqlite3.connect(db) as con:
            return dict(con.execute("SELECT student, points FROM submissions"))
    assert points(tmp_path / "dask.sqlite") == points(tmp_path / "local.sqlite")
    assert points(tmp_path / "dask.sqlite")["alice"] > points(tmp_path / "dask.sqlite")["bob"]


def test_the_instructor_sees_how_many_workers_are_live(tmp_path, cluster):
    from grader.engines.local import LocalEngine
    from grader.serve.dispatch import live_workers

    engine = DaskEngine(Work(fake_grade), cluster)
    try:
        dispatcher = Dispatcher(JobQueue(tmp_path / "board.sqlite"), engine, tmp_path)
        assert wait_for(lambda: dispatcher.status()["workers"] == 2, 60)   # after any restart
    finally:
        engine.close()

    class Gone:      # a cluster whose scheduler went away
        client = type("C", (), {"scheduler_info": lambda self: (_ for _ in ()).throw(OSError())})()
    assert live_workers(Gone()) is None
    assert live_workers(LocalEngine(Work(fake_grade), 3)) == 3     # no process started yet
