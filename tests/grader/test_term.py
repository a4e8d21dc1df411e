"""A whole term: regrades keep history, late work under extensions, LMS gradebooks, feedback."""

from __future__ import annotations

import csv
import io
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from support.board import RUBRIC, fake_grade, make_report, rubric_grade, write_submissions

import grader.regrade
from challenge.cli import main
from challenge.errors import ChallengeError
from challenge.report import GradeReport
from challenge.rubric import LatePolicy, load_rubric, parse_rubric
from grader.batch import grade_many
from grader.board.export import LmsOptions, leaderboard
from grader.board.feedback import write_feedback
from grader.board.late import apply_late
from grader.board.leaderboard import Leaderboard, files_dir
from grader.board.ranking import load_board
from grader.board.roster import read_roster
from grader.regrade import regrade

DEADLINE = datetime(2026, 12, 14, 23, 59, tzinfo=timezone.utc)
POLICY = LatePolicy(DEADLINE.isoformat(), penalty_per_day=0.1, last_day=3)


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setenv("CHALLENGE_QUIET", "1")


def _board_points(db) -> dict[str, float]:
    return {r.student: r.points for r in load_board(db).rows}


def _roster(tmp_path, text: str):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


# --- regrades -----------------------------------------------------------------------------

def _regrade_with_fake(students, **kwargs):
    """The CLI's own regrade, with the rubric-dependent fake grader under "rubric-2"."""
    kwargs.update(grade_fn=rubric_grade, grade_kwargs={"rubric": "rubric-2"},
                  rubric_hash="rubric-2", workers=1)
    return REAL_REGRADE(students, **kwargs)


REAL_REGRADE = grader.regrade.regrade


def test_regrade_alice_after_a_rubric_change_regrades_her_alone(tmp_path, monkeypatch):
    write_submissions(tmp_path / "subs", ["alice.zip", "alice__2.zip", "bob.zip"])
    db = tmp_path / "lb.sqlite"
    grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=rubric_grade, rubric_hash=RUBRIC)
    before = _board_points(db)
    kept = sorted(p.name for p in files_dir(db).iterdir())
    assert len(kept) == 3 and all(len(n) == 64 + 4 for n in kept)   # <sha256>.zip each
    (tmp_path / "subs" / "alice.zip").unlink()    # the board kept its own copy
    monkeypatch.setattr(grader.regrade, "regrade", _regrade_with_fake)
    out = CliRunner().invoke(main, ["regrade", "alice", "--db", str(db), "--unsafe"])
    assert out.exit_code == 0, out.output
    assert "graded 2" in out.output
    after = _board_points(db)
    assert after == {"alice": before["alice"] + 5.0}   # the new rubric's board: alice, newer
    with Leaderboard(db, readonly=True) as store:
        rows = [(e.student, e.rubric_hash, e.attempt) for e in store.entries()]
    assert sorted(rows) == sorted([("alice", RUBRIC, 0)] * 2 + [("bob", RUBRIC, 0)]
                                  + [("alice", "rubric-2", 0)] * 2)
    assert load_board(db, rubric_hash=RUBRIC).rows[0].points == max(before.values())
    history = leaderboard(db=db, student="alice").text       # the old grades stay visible
    assert history.count("alice.zip") == 2 and history.count("alice__2.zip") == 2
    assert "rubric-1" in history and "rubric-2" in history


def test_a_regrade_under_the_same_rubric_is_a_new_attempt_that_the_board_ranks(tmp_path):
    write_submissions(tmp_path / "subs", ["alice.zip", "bob.zip"])
    db = tmp_path / "lb.sqlite"
    grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    result = regrade(["alice"], db=db, workers=1, grade_fn=rubric_grade,
                     grade_kwargs={"rubric": RUBRIC}, rubric_hash=RUBRIC)
    assert result.graded == ["alice.zip"]
    with Leaderboard(db, readonly=True) as store:
        attempts = sorted((e.student, e.attempt) for e in store.entries())
    assert attempts == [("alice", 0), ("alice", 1), ("bob", 0)]
    board = load_board(db)
    assert {r.student for r in board.rows} == {"alice", "bob"}
    assert next(r for r in board.rows if r.student == "alice").attempts == 1


def test_regrade_names_unknown_students_and_files_it_cannot_find(tmp_path):
    write_submissions(tmp_path / "subs", ["alice.zip"])
    db = tmp_path / "lb.sqlite"
    grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    with pytest.raises(ChallengeError, match="no graded submissions of 'zoe'.*known: alice"):
        regrade(["zoe"], db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    with pytest.raises(ChallengeError, match="or pass --all, not both"):
        regrade(["alice"], every=True, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC)
    [kept] = files_dir(db).iterdir()
    kept.write_bytes(b"altered")                 # a kept copy that no longer matches its hash
    lost = regrade([], every=True, db=db, workers=1, grade_fn=fake_grade, rubric_hash=RUBRIC)
    assert lost.graded == [] and "pass --from" in lost.crashed[0][1]
    found = regrade([], every=True, db=db, workers=1, grade_fn=fake_grade, rubric_hash=RUBRIC,
                    source=tmp_path / "subs")
    assert found.graded == ["alice.zip"] and not found.crashed


def test_a_schema_2_board_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    with Leaderboard(path) as store:
        store.record(make_report("alice"))
    con = sqlite3.connect(path)     # back to schema 2: no attempt, no late, the old UNIQUE
    con.executescript("""
        CREATE TABLE s2 AS SELECT id, student, kind, submission, sha256, mode, graded_at, status,
          reason, points, max_points, rubric_hash, grader_version, torch_version FROM submissions;
        DROP TABLE submissions; ALTER TABLE s2 RENAME TO submissions; PRAGMA user_version=2;""")
    con.close()
    with Leaderboard(path, readonly=True) as store:
        [old] = store.entries()
    assert old.attempt == 0 and old.late == {}
    with Leaderboard(path) as store:
        assert store.record(make_report("alice")) is None            # same file: kept once
        assert store.record(make_report("alice"), regrade=True) is not None
        assert [e.attempt for e in store.entries()] == [0, 1]


# --- late work ----------------------------------------------------------------------------

def _late_files(tmp_path, names, when: datetime):
    paths = write_submissions(tmp_path / "subs", names)
    for p in paths:
        os.utime(p, (when.timestamp(), when.timestamp()))
    return paths


def test_an_extension_spares_the_penalty_that_another_late_student_gets(tmp_path):
    _late_files(tmp_path, ["alice.zip", "bob.zip"], DEADLINE + timedelta(hours=20))
    roster = read_roster(_roster(tmp_path, "student,extension\nalice,2\nbob,\n"))
    db = tmp_path / "lb.sqlite"
    grade_many(tmp_path / "subs", workers=1, db=db, grade_fn=fake_grade, rubric_hash=RUBRIC,
               roster=roster, late=POLICY)
    with Leaderboard(db, readonly=True) as store:
        rows = {e.student: e for e in store.entries()}
    alice, bob = rows["alice"].late, rows["bob"].late
    assert alice["days_late"] == 0 and alice["penalty"] == 0
    assert "on time" in alice["why"] and "an extension of 2 days" in alice["why"]
    assert alice["deadline"].startswith("2026-12-16T23:59")
    assert bob["days_late"] == 1 and bob["kept"] == pytest.approx(0.9)
    assert "1 day late" in bob["why"] and "the course deadline" in bob["why"]
    unpenalised = fake_grade(str(tmp_path / "subs" / "bob.zip"))["points"]
    assert rows["bob"].points == pytest.approx(0.9 * unpenalised)
    board = _board_points(db)
    assert board["bob"] == pytest.approx(0.9 * sum(t["points"] for t in fake_grade(
        str(tmp_path / "subs" / "bob.zip"))["tasks"].values()))
    fb = write_feedback(tmp_path / "fb", db=db)
    assert sorted(fb.written) == ["alice", "bob"]
    assert "an extension of 2 days" in (tmp_path / "fb" / "alice.txt").read_text()
    bob_text = (tmp_path / "fb" / "bob.txt").read_text()
    assert "1 day late" in bob_text and "late penalty -" in bob_text


def test_work_past_the_last_day_is_a_zero_with_its_reason():
    report = make_report("carol")
    late = apply_late(report, POLICY, DEADLINE + timedelta(days=4, hours=1))
    assert late["status"] == "failed" and late["points"] == 0.0
    assert "5 days late" in late["reason"] and "more than 3 days late" in late["reason"]
    assert apply_late(report, None, DEADLINE + timedelta(days=9)) is report


def test_every_report_says_which_deadline_applied():
    on_time = apply_late(make_report("alice"), POLICY, DEADLINE - timedelta(hours=1), "2")
    report = GradeReport(student="alice", submission="alice.zip", sha256="", mode="code",
                         status="ok", reason="", points=on_time["points"], max_points=100.0,
                         tasks={}, rubric_hash="", grader_version="", torch_version="",
                         late=on_time["late"])
    assert "deadline: on time" in report.summary() and "extension of 2 days" in report.summary()
    assert report.to_dict()["late"]["days_late"] == 0


@pytest.mark.parametrize("table, message", [
    ({"deadline": "2026-12-14T23:59:00"}, "UTC offset"),
    ({"deadline": "next friday"}, "ISO 8601"),
    ({"deadline": "2026-12-14T23:59:00Z", "penalty_per_day": 1.5}, "from 0 to 1"),
    ({"deadline": "2026-12-14T23:59:00Z", "last_day": -1}, "late.last_day"),
    ({"penalty_per_day": 0.1}, "needs a 'deadline'"),
    ({"deadline": "2026-12-14T23:59:00Z", "grace": 1}, "unknown key 'late.grace'"),
])
def test_a_bad_late_table_names_the_key_and_the_fix(table, message):
    raw = {"tasks": {"spam": {"parts": ["tokenizer"], "checks": 10}}, "late": table}
    with pytest.raises(ChallengeError, match=message):
        parse_rubric(raw)


def test_a_late_table_parses_and_a_rubric_without_one_keeps_its_hash():
    raw = {"tasks": {"spam": {"parts": ["tokenizer"], "checks": 10}}}
    plain = parse_rubric(raw)
    assert plain.late is None and "late" not in plain.canonical()
    dated = parse_rubric({**raw, "late": {"deadline": DEADLINE.date()}})
    assert dated.late.when == datetime(2026, 12, 14, 23, 59, 59, tzinfo=timezone.utc)
    assert dated.hash != plain.hash and load_rubric().late is None


@pytest.mark.parametrize("cell, message", [("soon", "neither a number of days"),
                                           ("2026-12-20T12:00:00", "no UTC offset"),
                                           ("400", "more than 365 days")])
def test_a_bad_extension_names_the_line(tmp_path, cell, message):
    with pytest.raises(ChallengeError, match=f"line 2: extension .*{message}"):
        read_roster(_roster(tmp_path, f"student,extension\nalice,{cell}\n"))


# --- the LMS and feedback -----------------------------------------------------------------

def _class_board(tmp_path):
    """alice over the maximum (a bonus), bob graded, carol on the roster without a file."""
    db = tmp_path / "lb.sqlite"
    rich = make_report("alice", pub_errors=0)
    rich["tasks"]["spam"]["points"] += 60.0
    with Leaderboard(db) as store:
        store.record(rich)
        store.record(make_report("bob", pub_errors=30))
    roster = _roster(tmp_path, "student,name,sis_id,section,email\nalice,\"Liddell, Alice\",1001,A,"
                               "alice@example.org\nbob,Bob,1002,B,\ncarol,Carol,1003,A,\n")
    return db, roster


def test_the_canvas_export_has_its_header_points_possible_and_empty_scores(tmp_path):
    db, roster = _class_board(tmp_path)
    text = leaderboard(db=db, fmt="canvas", roster=roster,
                       lms=LmsOptions("Challenge 1")).text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Challenge 1"]       # exactly the assignment's name: Canvas matches it
    assert rows[1] == ["    Points Possible", "", "", "", "", "100.00"]
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["alice"][:5] == ["Liddell, Alice", "", "1001", "alice", "A"]
    assert float(by_login["alice"][5]) > 100 and by_login["carol"][5] == ""
    capped = leaderboard(db=db, fmt="canvas", roster=roster, lms=LmsOptions(cap_bonus=True)).text
    assert list(csv.reader(io.StringIO(capped)))[2][5] == "100.00"


@pytest.mark.parametrize("fmt", ["canvas", "moodle"])
def test_with_no_board_yet_the_lms_export_lists_the_roster_with_empty_scores(tmp_path,
                                                                              monkeypatch, fmt):
    """Before the grading day (no leaderboard file at all), the instructor's first import
    creates the column in the LMS: every roster student, each with an empty score."""
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "data"))
    roster = _roster(tmp_path, "student,name,sis_id,email\nalice,Alice,1001,a@example.org\n"
                               "bob,Bob,1002,\n")
    out = tmp_path / "lms.csv"
    run = CliRunner().invoke(main, ["leaderboard", "--format", fmt, "--roster", str(roster),
                                    "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "every roster student is listed with an empty score" in run.output
    assert f"wrote {out}" in run.output
    rows = list(csv.reader(out.open()))
    if fmt == "canvas":
        assert rows[1] == ["    Points Possible", "", "", "", "", "100.00"]   # the rubric's
        assert rows[2:] == [["Alice", "", "1001", "alice", "", ""],
                            ["Bob", "", "1002", "bob", "", ""]]
    else:
        assert rows[1:] == [["1001", "a@example.org", "Alice", ""], ["1002", "", "Bob", ""]]
    assert not (tmp_path / "data").exists()          # reading wrote no leaderboard file


@pytest.mark.parametrize("fmt", ["csv", "canvas", "moodle"])
@pytest.mark.parametrize("empty_db", [False, True])
def test_with_no_board_and_no_roster_the_lms_export_is_one_line_and_writes_nothing(
        tmp_path, monkeypatch, fmt, empty_db):
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "data"))
    args = ["leaderboard", "--format", fmt, "--out", str(tmp_path / "lms.csv")]
    if empty_db:
        Leaderboard(tmp_path / "empty.sqlite").close()
        args += ["--db", str(tmp_path / "empty.sqlite")]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 1 and "Traceback" not in run.output
    assert run.output.startswith(f"Error: --format {fmt}: nobody to list")
    assert "pass --roster roster.csv" in run.output and run.output.count("\n") == 1
    assert not (tmp_path / "lms.csv").exists()


def test_the_moodle_export_carries_the_idnumber_and_the_cli_writes_it(tmp_path):
    db, roster = _class_board(tmp_path)
    out = tmp_path / "moodle.csv"
    run = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "--format", "moodle",
                                    "--roster", str(roster), "--assignment", "RNN", "--cap-bonus",
                                    "--out", str(out)])
    assert run.exit_code == 0, run.output
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["ID number", "Email address", "Full name", "RNN"]
    assert "column 'RNN' holds the public part's points" in run.output
    assert rows[1] == ["1001", "alice@example.org", "Liddell, Alice", "100.00"]
    assert rows[3] == ["1003", "", "Carol", ""]
    bad = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "--format", "canvas",
                                    "--assignment", "=HYPERLINK(1)"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: --assignment")


def test_feedback_shows_a_student_the_public_part_only(tmp_path):
    db, roster = _class_board(tmp_path)
    run = CliRunner().invoke(main, ["feedback", str(tmp_path / "fb"), "--db", str(db),
                                    "--roster", str(roster)])
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == [
        f"{s}.{x}" for s in ("alice", "bob", "carol") for x in ("html", "txt")]
    bob = (tmp_path / "fb" / "bob.txt").read_text()
    public = make_report("bob", pub_errors=30)["tasks"]["spam"]["quality"]["public"]["f1"]
    private = make_report("bob", pub_errors=30)["tasks"]["spam"]["quality"]["private"]["f1"]
    assert f"f1 {public:.4f}" in bob and f"{private:.4f}" not in bob
    assert "public part" in bob and "y_true" not in bob
    assert "No graded submission" in (tmp_path / "fb" / "carol.txt").read_text()
    assert "<h1>Feedback for alice</h1>" in (tmp_path / "fb" / "alice.html").read_text()
