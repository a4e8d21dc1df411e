"""One vocabulary of scores on what a class can see: a class graded with different public and
private results, and every page a student can reach (the HTML board, its per-student details,
the live server's board JSON) holds public-part numbers only, never a private-part or
whole-set one; the instructor's --public-details and --anonymise shape the HTML page."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from support.board import make_report

from challenge.cli import main
from challenge.errors import ChallengeError
from grader.board.export import PageOptions, leaderboard
from grader.board.leaderboard import Leaderboard
from grader.serve.boards import board_cells

# (student, public spam errors, private spam errors, public sorter hits, private sorter hits)
CLASS = [("alice", 3, 37, 131, 77), ("bob", 21, 9, 97, 147), ("carol", 11, 29, 119, 61)]
N = 200


def _with_part_points(report: dict) -> dict:
    """The fake report with the per-part points a real grade keeps (40 points a band)."""
    q = report["tasks"]["spam"]["quality"]
    q["part_points"] = {p: round(40 * q[k]["f1"], 4)
                        for p, k in (("whole", "metrics"), ("public", "public"),
                                     ("private", "private"))}
    s = report["tasks"]["sorter"]["quality"]
    s["part_points"] = {p: round(40 * s[k]["exact_match"], 4)
                        for p, k in (("whole", "metrics"), ("public", "public"),
                                     ("private", "private"))}
    return report


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    db = tmp_path_factory.mktemp("class") / "lb.sqlite"
    reports = {}
    with Leaderboard(db) as store:
        for i, (name, pub, priv, s_pub, s_priv) in enumerate(CLASS):
            failing = ("tokenizer.encode",) if name == "bob" else ()
            r = _with_part_points(make_report(name, pub_errors=pub, priv_errors=priv, n=N,
                                              sorter_pub=s_pub, sorter_priv=s_priv, seed=i,
                                              failing=failing))
            for c in r["tasks"]["spam"]["checks"]:
                if not c["passed"]:
                    c["message"] = "encode returned a str; expected a list of ids"
            store.record(r)
            reports[name] = r
    return db, reports


def _texts(v: float) -> set[str]:
    """How a number may be written on a page: as points (2 decimals, stripped or not) or as a
    metric (4 decimals)."""
    two = f"{v:.2f}"
    return {two, two.rstrip("0").rstrip("."), f"{v:.4f}"}


def _numbers(report: dict, part: str) -> set[str]:
    """Every quality figure and points total of ``report`` on ``part`` ("whole" is the whole
    hidden set): metrics, quality points, task points and the total."""
    out: set[str] = set()
    total = 0.0
    for t in report["tasks"].values():
        q = t["quality"]
        metrics = q["metrics"] if part == "whole" else q[part]
        out |= {s for v in metrics.values() for s in _texts(v)}
        quality = q["part_points"][part]
        points = t["points"] - q["points"] + quality
        out |= _texts(quality) | _texts(points)
        total += points
    return out | _texts(total)


def _forbidden(reports: dict) -> set[str]:
    public = set().union(*(_numbers(r, "public") for r in reports.values()))
    hidden = set().union(*(_numbers(r, p) for r in reports.values() for p in ("whole", "private")))
    forbidden = {s for s in hidden - public if "." in s and len(s) >= 4}
    assert len(forbidden) > 40              # the private and whole-set figures differ here
    return forbidden


def _shown(text: str) -> set[str]:
    """Every number written in ``text``, whole (so 0.65 is not found inside 30.6512)."""
    return set(re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", text))


def _leaks(text: str, forbidden: set[str]) -> list[str]:
    return sorted(forbidden & _shown(text))


def test_no_page_a_student_can_reach_holds_a_private_or_whole_set_number(graded):
    db, reports = graded
    forbidden = _forbidden(reports)
    for details in ("points", "messages"):
        page = leaderboard(db=db, fmt="html", page=PageOptions(details)).text
        assert 'data-student="alice"' in page and "(public part)" in page
        assert _leaks(page, forbidden) == [], details
        for task in ("spam", "sorter"):
            page = leaderboard(db=db, fmt="html", task=task, page=PageOptions(details)).text
            assert _leaks(page, forbidden) == [], (details, task)
    assert _leaks(json.dumps(board_cells(db, "public")), forbidden) == []
    alice = leaderboard(db=db, fmt="html").text.split('data-student="alice"')[1]
    alice = alice.split("</details>")[0]
    assert len(_numbers(reports["alice"], "public") & _shown(alice)) >= 3   # what it does show


def test_the_whole_set_numbers_are_what_the_old_detail_showed(graded):
    """The attack: the details used each task's stored points, the whole hidden set's."""
    db, reports = graded
    alice = reports["alice"]["tasks"]["spam"]
    page = leaderboard(db=db, fmt="html").text.split('data-student="alice"')[1]
    shown = _shown(page.split("</details>")[0])
    assert not _texts(alice["points"]) & shown
    q = alice["quality"]
    assert _texts(alice["points"] - q["points"] + q["part_points"]["public"]) & shown


def test_public_details_choose_what_each_student_shows(graded):
    db, _ = graded
    message = "encode returned a str; expected a list of ids"
    points = leaderboard(db=db, fmt="html").text                   # the default: points
    bob = points.split('data-student="bob"')[1].split("</details>")[0]
    assert "tokenizer.encode" in bob and message not in points
    messages = leaderboard(db=db, fmt="html", page=PageOptions("messages")).text
    assert message in messages.split('data-student="bob"')[1].split("</details>")[0]
    none = leaderboard(db=db, fmt="html", page=PageOptions("none")).text
    assert "Each student" not in none and "data-student" not in none
    assert 'id="ranking"' in none


def test_anonymise_names_no_student(graded):
    db, _ = graded
    page = leaderboard(db=db, fmt="html", page=PageOptions("messages", anonymise=True)).text
    for name in ("alice", "bob", "carol"):
        assert name not in page
    assert all(f"Student {i}" in page for i in (1, 2, 3))
    assert page.count('data-student="Student ') == 3 and ".zip" not in page


def test_page_options_are_refused_where_they_mean_nothing(graded):
    db, _ = graded
    with pytest.raises(ChallengeError, match="use one of none, points, messages"):
        PageOptions("all")
    with pytest.raises(ChallengeError, match="use them with --format html"):
        leaderboard(db=db, fmt="csv", page=PageOptions(anonymise=True))
    runner = CliRunner()
    ok = runner.invoke(main, ["leaderboard", "--db", str(db), "--format", "html",
                              "--public-details", "none", "--anonymise"])
    assert ok.exit_code == 0, ok.output
    assert "alice" not in ok.output and "Each student" not in ok.output
    bad = runner.invoke(main, ["leaderboard", "--db", str(db), "--anonymise"])
    assert bad.exit_code == 1 and bad.output.startswith("Error: --public-details and --anonymise")
