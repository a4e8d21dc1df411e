"""The one roster: the format docs/instructors.md documents is read into typed rows and
accepted by the folder grade, the gradebook and serve's tokens; old layouts and bad rows are
refused with the file, the line and the fix, as one ``Error:`` line from each command."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from support.board import RUBRIC, fake_grade, make_report, write_submissions
from support.serve import read_tokens

import grader.batch
from challenge.cli import main
from challenge.errors import ChallengeError
from grader.board.leaderboard import Leaderboard
from grader.board.roster import Roster, RosterRow, read_roster
from grader.serve.server import prepare

DOCS = Path(__file__).resolve().parents[2] / "docs" / "instructors.md"


def documented_roster(path: Path) -> Path:
    """The example of docs/instructors.md's "The roster", written to ``path``."""
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"\n\n((?:    student,name.*\n)(?:    \S.*\n)*)", text)
    assert block, "docs/instructors.md lost its roster example"
    path.write_text("".join(line[4:] + "\n" for line in block.group(1).splitlines()))
    return path


@pytest.fixture
def roster_file(tmp_path):
    return documented_roster(tmp_path / "roster.csv")


def test_the_documented_roster_reads_into_typed_rows(roster_file):
    roster = read_roster(roster_file)
    assert isinstance(roster, Roster) and roster.students == ["alice", "bob", "carol"]
    alice, bob, carol = roster
    assert alice == RosterRow("alice", "Alice Liddell", "1001", "A", "alice@example.org",
                              extension="2", line=2)
    assert (carol.name, carol.display, carol.sis_id, carol.lms_id) == ("", "carol", "1003", "1003")
    assert (bob.extension, carol.extension) == ("", "2026-12-20T12:00:00+00:00")
    assert "carol" in roster and "Carol" not in roster and "dave" not in roster
    assert roster.get("bob") is bob and len(roster) == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        alice.student = "mallory"


def test_optional_columns_come_in_any_order_and_may_be_left_out(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffStudent,email,name\nj.doe,j@x.org,Jos\u00e9 Do\u00eb\n\nBob\n")
    rows = list(read_roster(path))
    assert rows == [RosterRow("j.doe", "Jos\u00e9 Do\u00eb", email="j@x.org", line=2),
                    RosterRow("bob", line=4)]
    assert rows[1].lms_id == "bob" and rows[1].display == "bob"


OLD_LAYOUTS = [
    ("alice\nbob\n", "has no header row (line 1 is 'alice'); add a header row `student`"),
    ("alice,Alice Liddell\n", "has no header row (line 1 is 'alice,Alice Liddell'); add a "
                              "header row `student,name`"),
    ("id,student\n7,alice\n", "the header 'id,student' starts with 'id', not 'student'; write "
                              "it as `student,sis_id`"),
    ("sis_id,student,email\n1001,alice,a@x\n", "write it as `student,sis_id,email`"),
    ("id,name\nalice,Alice\n", "has no 'student' column (header 'id,name'); name the column of "
                               "student ids `student` and put it first"),
    ("name\nalice\n", "has no 'student' column"),
]


@pytest.mark.parametrize("text, message", OLD_LAYOUTS)
def test_an_old_layout_is_refused_with_the_file_what_was_found_and_the_fix(tmp_path, text,
                                                                          message):
    path = tmp_path / "old.csv"
    path.write_text(text)
    with pytest.raises(ChallengeError) as e:
        read_roster(path)
    assert str(e.value).startswith(f"roster {path}") and message in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("student,login\nalice,al\n", "unknown column 'login' in the header"),
    ("student,name,Name\nalice,A,B\n", "column 'name' appears twice"),
    ("student,name\nalice,A\n,Bob\n", "line 3: no student id; fill in the student column"),
    ("student\n../x\n", "line 2: student id '../x': contains a path separator"),
    ("student\nal\u0131ce\n", "line 2: student id 'al\u0131ce': contains characters outside"),
    ("student\n__reference__\n", "line 2: student id '__reference__': names starting with '__'"),
    ("student,name\nalice,A\nALICE,B\n", "line 3: student 'alice' is already on line 2"),
    ("student,sis_id\nalice,7\nbob,7\n", "line 3: sis_id '7' is already on line 2 (student 'alice')"),
    ("student\nalice\na1ice\n", "line 3: student name 'a1ice' looks like 'alice'"),
    ("student,name\nalice,=HYPERLINK(1)\n", "line 2: name '=HYPERLINK(1)' starts with '='"),
    ("student,email\nalice,nobody\n", "line 2: email 'nobody' is not an email address"),
    ("student,name\nalice,A,extra\n", "line 2: 3 fields but the header has 2"),
    ('student,name\nalice,"Alice\n', "not valid CSV"),
    ("student\n\n", "lists no students"),
    ("\n \n", "is empty"),
])
def test_bad_rows_are_refused_with_the_line_and_the_fix(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(ChallengeError, match=re.escape(message)):
        read_roster(path)


def test_a_missing_or_binary_roster_says_what_to_pass(tmp_path):
    with pytest.raises(ChallengeError, match="does not exist; pass a CSV file with a header row"):
        read_roster(tmp_path / "missing.csv")
    (tmp_path / "latin1.csv").write_bytes("student,name\nalice,Andr\xe9\n".encode("latin-1"))
    with pytest.raises(ChallengeError, match="is not UTF-8 text"):
        read_roster(tmp_path / "latin1.csv")


def _grade_with_fake(paths, **kwargs):
    """The folder grade's own grade_many, with a fake grader instead of the hidden sets."""
    kwargs.pop("grade_kwargs", None)
    return REAL_GRADE_MANY(paths, grade_fn=fake_grade, rubric_hash=RUBRIC, **kwargs)


REAL_GRADE_MANY = grader.batch.grade_many


def test_the_folder_grade_takes_the_documented_roster(roster_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLENGE_QUIET", "1")
    monkeypatch.setattr(grader.batch, "grade_many", _grade_with_fake)
    write_submissions(tmp_path / "subs", ["alice.zip", "Bob__2.zip", "carol.csv", "dave.zip"])
    db = tmp_path / "lb.sqlite"
    run = CliRunner().invoke(main, ["grade", "--hidden", str(tmp_path / "subs"), "--unsafe",
                                    "--db", str(db), "--roster", str(roster_file)])
    assert run.exit_code == 1, run.output                 # dave.zip was listed, not graded
    assert "rejected 1" in run.output and "'dave' is not on the roster" in run.output
    with Leaderboard(db, readonly=True) as store:
        assert sorted(e.student for e in store.entries()) == ["alice", "bob", "carol"]


def test_the_gradebook_takes_the_documented_roster(roster_file, tmp_path):
    db = tmp_path / "lb.sqlite"
    with Leaderboard(db) as store:
        store.record(make_report("alice", pub_errors=4, seed=1))
        store.record(make_report("dave", pub_errors=9, seed=2))
    run = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "--format", "csv",
                                    "--roster", str(roster_file)])
    assert run.exit_code == 0, run.output
    book = pd.read_csv(io.StringIO(run.output), dtype=str, keep_default_na=False)
    assert list(book["id"]) == ["1001", "1002", "1003", ""]          # sis_id; dave is no one's
    assert list(book["student"]) == ["alice", "bob", "carol", "dave"]
    assert list(book["name"]) == ["Alice Liddell", "Bob Lee", "carol", "dave"]
    assert book.loc[0, "points (public part)"] != "" and book.loc[1, "points (public part)"] == ""


def test_serve_gives_every_student_of_the_documented_roster_a_token(roster_file, tmp_path):
    ready = prepare(tmp_path / "data" / "board.sqlite", roster_file)
    assert sorted(read_tokens(ready.tokens_csv)) == ["alice", "bob", "carol"]
    assert sorted(ready.tokens.students()) == ["alice", "bob", "carol"]


@pytest.mark.parametrize("command", [
    ["grade", "--hidden", "SUBS", "--unsafe"],
    ["leaderboard", "--format", "csv"],
    ["serve"],
])
@pytest.mark.parametrize("text, message", OLD_LAYOUTS[:3])
def test_each_command_refuses_an_old_roster_in_one_error_line(tmp_path, monkeypatch, command,
                                                             text, message):
    monkeypatch.chdir(tmp_path)
    write_submissions(tmp_path / "SUBS", ["alice.zip"])
    (tmp_path / "old.csv").write_text(text)
    db = tmp_path / "board" / "lb.sqlite"
    run = CliRunner().invoke(main, [*command, "--db", str(db), "--roster", "old.csv"])
    assert run.exit_code == 1 and "Traceback" not in run.output
    errors = [line for line in run.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: roster old.csv"), run.output
    assert message in errors[0]
    assert not db.exists()                                 # refused before anything was written
