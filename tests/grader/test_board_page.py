"""The leaderboard an instructor hands on: the gradebook csv with a roster, notes only when
true, check messages kept, and the HTML page rendered in headless Chromium at 1200 px."""

from __future__ import annotations

import io
import os
import re
import shutil
import sqlite3
import subprocess

import pandas as pd
import pytest
from click.testing import CliRunner
from support.board import make_report

from challenge.cli import main
from challenge.errors import ChallengeError
from grader.board.export import leaderboard
from grader.board.leaderboard import Leaderboard
from grader.board.ranking import load_board
from grader.board.rows import to_half

LONG = "a-very-long-submission-file-name-that-would-push-the-table-wide_" * 3 + ".zip"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lb.sqlite"
    with Leaderboard(path) as store:
        store.record(make_report("alice", pub_errors=4, priv_errors=5, seed=1, submission=LONG))
        store.record(make_report("bob", pub_errors=30, priv_errors=28, seed=3,
                                 failing=("tokenizer.encode",)))
        store.record(make_report("dave", status="failed"))
        store.record(make_report("tfidf", pub_errors=12, priv_errors=12, seed=5),
                     kind="baseline", student="__baseline__ ComplementNB")
        store.record(make_report("ref", pub_errors=1, priv_errors=1, seed=6), kind="reference")
    return path


def test_gradebook_lists_every_roster_student(db, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,sis_id,email\nalice,1001,a@x\nbob,1002,b@x\ncarol,1003,c@x\n"
                      "dave,1004,d@x\n")
    text = leaderboard(db=db, fmt="csv", roster=roster).text
    book = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(book["id"]) == ["1001", "1002", "1003", "1004"]
    assert list(book["student"]) == ["alice", "bob", "carol", "dave"]
    board = {r.student: r for r in load_board(db).rows}
    assert book.loc[0, "points (public part)"] == f"{board['alice'].points:.2f}"
    points = "points (public part)"                                      # the header says which
    assert book.loc[2, points] == "" and book.loc[3, points] == ""       # absent, failed
    assert set(book["max_points"]) == {"100.00"}                         # fixed, all rows
    assert set(book["spam_max_points"]) == {"50.00"}
    assert all(re.fullmatch(r"\d+\.\d\d", v) for v in book["spam_points (public part)"] if v)
    assert "Baseline" not in text and "__" not in text
    per_task = leaderboard(db=db, fmt="csv", task="spam", roster=roster).text
    assert list(pd.read_csv(io.StringIO(per_task))["student"]) == ["alice", "bob", "carol", "dave"]
    plain = tmp_path / "names.csv"
    plain.write_text("student,name\nbob,Bob Lee\nalice,\n")       # no sis_id: the id is the LMS id
    book = pd.read_csv(io.StringIO(leaderboard(db=db, fmt="csv", roster=plain).text), dtype=str,
                       keep_default_na=False)
    assert list(book["student"]) == ["bob", "alice", "dave"]     # graded, not on the roster
    assert list(book["id"]) == ["bob", "alice", ""]
    assert list(book["name"]) == ["Bob Lee", "alice", "dave"]
    with pytest.raises(ChallengeError, match="use it with --format csv"):
        leaderboard(db=db, fmt="html", roster=plain)


def test_notes_only_when_true(db, tmp_path):
    board = load_board(db)
    assert not any("ties" in n for n in board.notes)
    assert any("shaded rows" in n for n in board.notes)
    alone = tmp_path / "alone.sqlite"
    with Leaderboard(alone) as store:
        store.record(make_report("alice", seed=1))
        store.record(make_report("bob", seed=1, submission="bob.zip", sha256="b"))
    board = load_board(alone)
    assert board.rows[0].tie and any(n.startswith("ties (=N): equal points") for n in board.notes)
    assert not any("shaded" in n for n in board.notes)
    page = leaderboard(db=alone, fmt="html").text
    assert "shaded" not in page and "Baseline" not in page


def test_schema_1_boards_are_upgraded_and_keep_working(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE submissions (id INTEGER PRIMARY KEY, student TEXT NOT NULL, kind TEXT NOT NULL,
          submission TEXT NOT NULL, sha256 TEXT NOT NULL, mode TEXT NOT NULL, graded_at TEXT NOT NULL,
          status TEXT NOT NULL, reason TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
          rubric_hash TEXT NOT NULL, grader_version TEXT NOT NULL, torch_version TEXT NOT NULL,
          UNIQUE (student, sha256, rubric_hash));
        CREATE TABLE task_results (submission_id INTEGER NOT NULL REFERENCES submissions(id),
          task TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL,
          quality_status TEXT NOT NULL, quality_reason TEXT NOT NULL, metrics TEXT NOT NULL,
          examples BLOB, PRIMARY KEY (submission_id, task));
        CREATE TABLE checks (submission_id INTEGER NOT NULL REFERENCES submissions(id),
          task TEXT NOT NULL, part TEXT NOT NULL, name TEXT NOT NULL, passed INTEGER NOT NULL,
          status TEXT NOT NULL, points REAL NOT NULL, max_points REAL NOT NULL);
        PRAGMA user_version=1;""")
    con.close()
    with Leaderboard(path, readonly=True) as store:      # read-only: no message column, no error
        assert store.entries(checks=True) == []
    with Leaderboard(path) as store:
        store.record(make_report("bob", failing=("tokenizer.encode",)))
        [entry] = store.entries(checks=True)
    failed = [c for c in entry.checks if not c["passed"]]
    assert failed and failed[0]["message"] == "ok"     # the report's message, kept


def test_to_half_keeps_the_threshold_and_the_order():
    scores = [0.0, 0.1, 0.29, 0.3, 0.31, 0.9, 1.0]
    mapped = to_half(scores, 0.3)
    assert [m >= 0.5 for m in mapped] == [s >= 0.3 for s in scores]
    assert mapped == sorted(mapped) and mapped[0] == 0.0 and mapped[-1] == 1.0


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(*args, cwd):
    assert CHROMIUM, "chromium is not installed: apt-get install chromium"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--window-size=1200,900", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                    reason="headless Chromium (Debian's chromium) not installed; .ci/run "
                           "installs it (and under CI this test runs, so a missing one fails)")
def test_html_page_in_headless_chromium(db, tmp_path):
    page_path = tmp_path / "board.html"
    runner = CliRunner()
    done = runner.invoke(main, ["leaderboard", "--db", str(db), "--format", "html",
                                "--out", str(page_path)])
    assert done.exit_code == 0, done.output
    page = page_path.read_text()
    shot = tmp_path / "board.png"
    assert _chromium(f"--screenshot={shot}", page_path.as_uri(), cwd=tmp_path).returncode == 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    # measure the laid-out page: a copy with a probe that writes the sizes into the DOM
    probe = page.replace("</body>", "<script>const d=document.documentElement;"
                         "document.body.dataset.scrollWidth=d.scrollWidth;"
                         "document.body.dataset.clientWidth=d.clientWidth;"
                         "document.body.dataset.tableWidth="
                         "document.getElementById('ranking').getBoundingClientRect().right;"
                         "</script></body>")
    (tmp_path / "probe.html").write_text(probe)
    dom = _chromium("--dump-dom", (tmp_path / "probe.html").as_uri(), cwd=tmp_path).stdout
    sizes = {k: float(v) for k, v in re.findall(r'data-(\w+)-width="([\d.]+)"', dom)}
    assert sizes["client"] == 1200 and sizes["scroll"] <= sizes["client"]   # no horizontal scroll
    assert sizes["table"] <= 1200
    headers = re.findall(r'<th data-key="[^"]*">([^<]*)</th>', dom)
    assert headers[:4] == ["Rank", "Student", "Points", "Max"]
    assert "Spam points" in headers and "Sorter exact match" in headers
    assert not any("." in h or "_" in h for h in headers)
    rows = re.findall(r'<tr class="(\w+)[^"]*">(.*?)</tr>', dom.split('id="ranking"')[1]
                      .split("</table>")[0])
    kinds = [k for k, _ in rows]
    assert kinds.count("student") == 2 and {"baseline", "reference"} <= set(kinds)
    assert "Baseline: ComplementNB" in dom and "Reference solution" in dom
    bins = [int(c) for c in re.findall(r'class="bin" data-count="(\d+)"', dom)]
    assert len(bins) == 10 and sum(bins) == 2              # alice and bob, not the marked rows
    assert "ties" not in dom                                # no tie on this board
    assert "shaded rows" in dom
    details = re.findall(r'<details class="student" data-student="([^"]+)">', dom)
    assert set(details) >= {"alice", "bob"}
    bob = dom.split('data-student="bob"')[1].split("</details>")[0]
    assert "tokenizer.encode" in bob and "tokenizer 0/5" in bob
