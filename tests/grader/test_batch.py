"""Batch grading: parallel workers lose and duplicate nothing, a killed run resumes, names are safe."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.board import (
    RUBRIC,
    env_grade,
    fake_grade,
    flaky_grade,
    report_for_file,
    write_submissions,
)

from challenge.errors import ChallengeError
from grader.batch import grade_many, student_from_filename
from grader.board.leaderboard import Leaderboard

TESTS = Path(__file__).resolve().parents[1]


def comparable(db: Path) -> list[tuple]:
    """Every stored row without its id and time, in a stable order."""
    with Leaderboard(db, readonly=True) as store:
        entries = store.entries(examples=True, checks=True)
    out = []
    for e in entries:
        tasks = {t: (v.points, v.metrics, {k: a.tolist() for k, a in v.examples.items()})
                 for t, v in e.tasks.items()}
        out.append((e.student, e.submission, e.sha256, e.status, e.points, e.rubric_hash,
                    repr(tasks), repr([sorted(c.items()) for c in e.checks])))
    return sorted(out)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("CHALLENGE_QUIET", "1")


@pytest.mark.parametrize("name, student", [("alice.zip", "alice"), ("alice__2.zip", "alice"),
                                           ("Bob_Lee.CSV", "bob_lee"), ("x__y.csv", "x"), ("x__y__3.zip", "x"),
                                           ("carol__12.csv", "carol")])
def test_student_comes_from_the_file_name(name, student):
    assert student_from_filename(name) == student


def test_parallel_workers_lose_no_row_and_duplicate_none(tmp_path):
    names = [f"s{i:02d}.zip" for i in range(10)] + ["s01__2.zip", "s02.csv"]
    paths = write_submissions(tmp_path / "subs", names)
    db = tmp_path / "lb.sqlite"
    result = grade_many(tmp_path / "subs", workers=3, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert sorted(result.graded) == sorted(names) and not result.crashed and not result.rejected
    con = sqlite3.connect(db)
    rows = con.execute("SELECT submission, student, sha256 FROM submissions").fetchall()
    assert len(rows) == len(names) == len(set(rows))
    expected = {(p.name, student_from_filename(p), report_for_file(p)["sha256"]) for p in paths}
    assert set(rows) == expected
    assert con.execute("SELECT count(*) FROM task_results").fetchone() == (2 * len(names),)
    again = grade_many(tmp_path / "subs", workers=2, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert again.graded == [] and sorted(again.skipped) == sorted(names)
    regrade = grade_many(paths[:2], workers=1, db=db, grade_fn=fake_grade, rubric_hash="rubric-2",
                         grade_kwargs={"rubric": "rubric-2"})
    assert len(regrade.graded) == 2          # a new rubric grades again
    wrong = grade_many(paths[2:4], workers=1, db=db, grade_fn=fake_grade, rubric_hash="rubric-3")
    assert [why for _, why in wrong.crashed] == ["the grader used rubric rubric-1, not rubric-3"] * 2


def test_a_killed_batch_resumes_to_the_same_result_as_an_uninterrupted_run(tmp_path):
    names = [f"student{i:02d}.zip" for i in range(12)]
    write_submissions(tmp_path / "subs", names)
    db, pids = tmp_path / "killed.sqlite", tmp_path / "pids"
    pids.mkdir()
    code = ("import sys; from grader.batch import grade_many; from support.board import "
            "slow_grade, RUBRIC; grade_many(sys.argv[1], workers=2, db=sys.argv[2], grade_fn=slow_grade,"
            " rubric_hash=RUBRIC, grade_kwargs={'delay': 0.4, 'pid_dir': sys.argv[3]})")
    env = dict(os.environ, PYTHONPATH=str(TESTS), CHALLENGE_QUIET="1")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "subs"), str(db), str(pids)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    done = 0
    while done < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if db.exists():
            try:
                done = sqlite3.connect(db).execute("SELECT count(*) FROM submissions").fetchone()[0]
            except sqlite3.OperationalError:   # the schema is being created
                pass
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    kept = con.execute("SELECT count(*) FROM submissions").fetchone()[0]
    assert 3 <= kept < len(names)
    assert con.execute("SELECT count(*) FROM task_results").fetchone() == (2 * kept,)   # no half row
    con.close()
    workers = [int(p.name) for p in pids.iterdir()]
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers), "orphaned workers kept running"

    resumed = grade_many(tmp_path / "subs", workers=2, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert len(resumed.skipped) == kept and len(resumed.graded) == len(names) - kept
    whole = tmp_path / "whole.sqlite"
    grade_many(tmp_path / "subs", workers=2, db=whole, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert comparable(db) == comparable(whole)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_grader_errors_store_nothing_and_failed_grades_are_rows(tmp_path):
    names = ["a1.zip", "a2.zip", "boom.zip", "dies.zip", "bad.zip", "a3.zip", "a4.zip"]
    write_submissions(tmp_path / "subs", names)
    db = tmp_path / "lb.sqlite"
    result = grade_many(tmp_path / "subs", workers=2, db=db, grade_fn=flaky_grade, rubric_hash=RUBRIC)
    crashed = dict(result.crashed)
    assert set(crashed) == {"boom.zip", "dies.zip"}
    assert "RuntimeError: grader bug" in crashed["boom.zip"] and "died" in crashed["dies.zip"]
    assert sorted(result.graded) == ["a1.zip", "a2.zip", "a3.zip", "a4.zip", "bad.zip"]
    assert result.failed == ["bad.zip"]
    rows = sqlite3.connect(db).execute("SELECT submission, status, reason FROM submissions").fetchall()
    assert sorted(r[0] for r in rows) == sorted(result.graded)
    assert ("bad.zip", "failed", "malformed zip") in rows
    assert "grader errors 2" in result.summary()


def test_unsafe_file_names_are_rejected_with_a_reason_and_not_graded(tmp_path):
    names = ["alice.zip", "=SUM(A1).csv", "__reference__.zip", "a" * 70 + ".zip", "tab\tname.zip"]
    write_submissions(tmp_path / "subs", names + [".hidden.zip", "notes.txt"])
    db = tmp_path / "lb.sqlite"
    result = grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert result.graded == ["alice.zip"]
    reasons = dict(result.rejected)
    assert set(reasons) == set(names[1:])
    assert "outside ASCII" in reasons["=SUM(A1).csv"] and "reserved" in reasons["__reference__.zip"]
    assert "longer than 64" in reasons["a" * 70 + ".zip"] and "control" in reasons["tab\tname.zip"]
    assert sqlite3.connect(db).execute("SELECT student FROM submissions").fetchall() == [("alice",)]


def test_names_that_look_like_another_students_are_rejected_before_grading(tmp_path):
    db = tmp_path / "lb.sqlite"
    write_submissions(tmp_path / "first", ["alice.zip"])
    grade_many(tmp_path / "first", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    names = ["Alice.zip", "a1ice.zip", "\u0430\u04cf\u0456\u0441\u0435.zip",  # the last: all Cyrillic
             "carol.zip", "carol__2.zip", "alice__3.zip"]
    write_submissions(tmp_path / "subs", names)
    result = grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    # "Alice" is alice (ids are case-folded); the look-alikes are refused
    assert sorted(result.graded) == ["Alice.zip", "alice__3.zip", "carol.zip", "carol__2.zip"]
    reasons = dict(result.rejected)
    assert set(reasons) == set(names) - set(result.graded)
    assert "looks like 'alice', already on the leaderboard" in reasons["a1ice.zip"]
    assert "outside ASCII" in reasons["\u0430\u04cf\u0456\u0441\u0435.zip"]
    assert sqlite3.connect(db).execute("SELECT DISTINCT student FROM submissions ORDER BY student"
                                       ).fetchall() == [("alice",), ("carol",)]


def test_a_look_alike_new_in_one_batch_is_held_back_alone_whatever_the_file_order(tmp_path):
    db = tmp_path / "lb.sqlite"
    names = ["B0B.zip", "bob.zip", "BOB__2.zip", "b.o.b.zip", "bob_.zip", "dan.zip"]
    write_submissions(tmp_path / "subs", names)
    result = grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert sorted(result.graded) == ["BOB__2.zip", "bob.zip", "dan.zip"]   # bob is not held back
    reasons = dict(result.rejected)
    assert set(reasons) == {"B0B.zip", "b.o.b.zip", "bob_.zip"}
    assert reasons["B0B.zip"] == ("student name 'b0b' looks like 'bob', also in this batch, so it "
                                  "is held back and 'bob' is graded; if it is the same student, "
                                  "name the file 'bob', else choose a name that cannot be "
                                  "mistaken for it")
    assert sqlite3.connect(db).execute("SELECT DISTINCT student FROM submissions ORDER BY student"
                                       ).fetchall() == [("bob",), ("dan",)]
    (tmp_path / "subs" / "B0B.zip").unlink()                  # the instructor removes them
    (tmp_path / "subs" / "b.o.b.zip").unlink()
    (tmp_path / "subs" / "bob_.zip").unlink()
    again = grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert again.graded == [] and again.rejected == []


def test_look_alikes_with_no_plain_name_among_them_are_all_held_back(tmp_path):
    db = tmp_path / "lb.sqlite"
    write_submissions(tmp_path / "subs", ["a1ice.zip", "al-ice.zip", "dan.zip"])
    result = grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert result.graded == ["dan.zip"]
    reasons = dict(result.rejected)
    assert reasons["a1ice.zip"].startswith("student name 'a1ice' looks like 'al-ice', also in "
                                           "this batch, so neither is graded")
    assert "neither is graded" in reasons["al-ice.zip"]


def test_the_cli_exits_1_when_a_file_of_the_folder_was_rejected(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from challenge.cli import main

    monkeypatch.chdir(tmp_path)
    write_submissions(tmp_path / "subs", ["=SUM(A1).zip", "\u0430lice.zip"])
    result = CliRunner().invoke(main, ["grade", "--hidden", str(tmp_path / "subs"),
                                       "--db", str(tmp_path / "lb.sqlite")])
    assert result.exit_code == 1, result.output
    assert "rejected 2" in result.output and "outside ASCII" in result.output
    assert "Traceback" not in result.output


def test_workers_wait_passively_and_the_parent_environment_is_restored(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    write_submissions(tmp_path / "subs", ["a.zip", "b.zip"])
    db = tmp_path / "lb.sqlite"
    grade_many(tmp_path / "subs", workers=2, db=db, grade_fn=env_grade, rubric_hash=RUBRIC)
    reasons = {r for (r,) in sqlite3.connect(db).execute("SELECT reason FROM submissions")}
    assert reasons == {"OMP_WAIT_POLICY=PASSIVE"}
    assert "OMP_WAIT_POLICY" not in os.environ


def test_bad_batch_inputs_name_the_problem(tmp_path):
    with pytest.raises(ChallengeError, match="does not exist"):
        grade_many(tmp_path / "nope", grade_fn=fake_grade, rubric_hash=RUBRIC, db=tmp_path / "x.sqlite")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ChallengeError, match=r"no \*.zip or \*.csv"):
        grade_many(tmp_path / "empty", grade_fn=fake_grade, rubric_hash=RUBRIC, db=tmp_path / "x.sqlite")
    with pytest.raises(ChallengeError, match="workers must be"):
        grade_many(tmp_path / "empty", workers=0, grade_fn=fake_grade, rubric_hash=RUBRIC)


def test_without_hidden_sets_a_folder_grade_stops_before_grading_anything(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from challenge.cli import main

    monkeypatch.chdir(tmp_path)                       # a data folder without hidden sets
    write_submissions(tmp_path / "subs", ["alice.zip", "bob.zip"])
    db = tmp_path / "lb.sqlite"
    result = CliRunner().invoke(main, ["grade", "--hidden", str(tmp_path / "subs"),
                                       "--db", str(db)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "no hidden sets" in lines[0] and "challenge hidden make" in lines[0]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM submissions").fetchone() == (0,)
