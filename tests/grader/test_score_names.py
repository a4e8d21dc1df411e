"""One vocabulary of scores: a grade on the hidden sets has three numbers, the public part, the
private part and the whole hidden set, and each carries the same name (``public``, ``private``,
``whole`` in JSON and options; "public part", "private part", "whole hidden set" in words) in a
single grade's summary and JSON, the board, the gradebooks, the feedback files and the live
server, where the late penalty a student reads is that of the part they are shown."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner
from support.grading import make_hidden_sets, missed_spam, tiny_rubric, write_rubric

from challenge.cli import main
from challenge.report import PART_NAMES
from grader.board.late import shown_note
from grader.board.leaderboard import Leaderboard
from grader.grade import grade
from grader.hidden import hidden_spam
from grader.serve.boards import board_cells

# a band from 0 to 1 over F1: every missed spam moves the points, on each part alone
RUBRIC = tiny_rubric({"spam": {"parts": [], "checks": 0,
                               "quality": {"metric": "f1", "floor": 0.0, "full": 1.0,
                                           "points": 30}}})


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    data = root / "data"
    make_hidden_sets(data, RUBRIC)
    spam = hidden_spam(data)
    files = {"alice": missed_spam(root / "alice.csv", spam, public=1, private=0),
             "bob": missed_spam(root / "bob.csv", spam, public=0, private=2)}
    db = root / "board.sqlite"
    reports = {}
    with Leaderboard(db) as store:
        for name, path in files.items():
            reports[name] = grade(submission=path, hidden=True, rubric=RUBRIC, data_dir=data)
            store.record(reports[name].to_dict(), student=name)
    common = ["--rubric", str(write_rubric(root / "rubric.toml", RUBRIC)),
              "--data-dir", str(data)]
    return {"root": root, "data": data, "files": files, "db": db, "reports": reports,
            "common": common}


def test_a_single_grade_names_its_three_numbers_in_its_summary_and_json(course):
    runner = CliRunner()
    done = runner.invoke(main, ["grade", "--hidden", str(course["files"]["alice"]), "--json",
                                *course["common"]])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["part"] == "whole" and list(report["scores"]) == ["public", "private", "whole"]
    scores = report["scores"]
    assert scores["whole"] == report["points"]
    assert scores["public"] < scores["private"] == 30.0          # alice missed a public spam
    assert set(report["tasks"]["spam"]["quality"]["part_points"]) == {"public", "private",
                                                                      "whole"}
    table = runner.invoke(main, ["grade", "--hidden", str(course["files"]["alice"]),
                                 *course["common"]]).stdout
    assert "hidden sets: whole hidden set" in table.splitlines()[0]
    assert (f"public part {round(scores['public'], 2):g}, private part 30, whole hidden set "
            f"{round(scores['whole'], 2):g} / 30") in table


def test_the_report_a_student_reads_names_the_public_part_alone(course):
    view = course["reports"]["alice"].public_view()
    data = view.student_dict()
    assert data["part"] == "public" and data["scores"] == {"public": view.points}
    summary = view.summary()
    assert "hidden sets: public part" in summary
    assert "private part" not in summary and "whole hidden set" not in summary


@pytest.mark.parametrize("part", ["public", "private", "whole"])
def test_the_board_and_each_gradebook_say_which_part_they_hold(course, part):
    runner = CliRunner()
    db = ["--db", str(course["db"]), "--part", part]
    name = PART_NAMES[part]
    table = runner.invoke(main, ["leaderboard", *db])
    assert table.exit_code == 0 and f"Overall leaderboard - {name}, ranked" in table.output
    book = runner.invoke(main, ["leaderboard", *db, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(book.stdout)))
    assert f"points ({name})" in rows[0] and f"spam_f1 ({name})" in rows[0]
    for row in rows:
        want = course["reports"][row["student"]].scores[part]
        assert float(row[f"points ({name})"]) == pytest.approx(want, abs=0.005)
    for fmt in ("canvas", "moodle"):
        lms = runner.invoke(main, ["leaderboard", *db, "--format", fmt])
        # the LMS matches its assignment by name: the column is the name, the notice the part
        assert next(csv.reader(io.StringIO(lms.stdout)))[-1] == "RNN challenge"
        assert f"column 'RNN challenge' holds the {name}'s points" in lms.stderr
    cells = board_cells(course["db"], part)
    assert cells["part"] == part and name in cells["title"]


def test_private_is_short_for_part_private_and_never_beside_another_part(course):
    runner = CliRunner()
    db = ["--db", str(course["db"]), "--format", "csv"]
    short = runner.invoke(main, ["leaderboard", *db, "--private"])
    assert short.stdout == runner.invoke(main, ["leaderboard", *db, "--part", "private"]).stdout
    both = runner.invoke(main, ["leaderboard", *db, "--private", "--part", "whole"])
    assert both.exit_code == 1
    assert both.output.strip() == ("Error: --private is --part private; leave it out with "
                                   "--part whole")
    odd = runner.invoke(main, ["leaderboard", *db, "--part", "all"])
    assert odd.exit_code == 2 and "'all' is not one of 'public', 'private', 'whole'" in odd.output


def test_feedback_names_the_part_it_was_asked_for(course, tmp_path):
    runner = CliRunner()
    for part in ("public", "whole"):
        out = tmp_path / part
        done = runner.invoke(main, ["feedback", str(out), "--db", str(course["db"]),
                                    "--part", part])
        assert done.exit_code == 0, done.output
        bob = (out / "bob.txt").read_text()
        assert f"measured on the {PART_NAMES[part]}" in bob
        total = course["reports"]["bob"].scores[part]
        assert f"Points: {round(total, 2):g} / 30" in bob


def test_a_late_penalty_is_read_on_the_part_it_is_shown_beside():
    recorded = {"kept": 0.9, "penalty": 8.7, "why": "1 day late", "days_late": 1}   # of 87
    note = shown_note(recorded, 80.0)            # the public part's total, before the penalty
    assert note["penalty"] == pytest.approx(8.0) and note["why"] == "1 day late"
    assert shown_note({}, 80.0) == {}
