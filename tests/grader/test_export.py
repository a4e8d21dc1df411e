"""Exports parse back with the board's numbers; the leaderboard CLI's messages and exit codes."""

from __future__ import annotations

import io
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from support.board import make_report

from challenge.cli import main
from grader.board.export import board_table, history_table, to_csv, to_html, to_markdown
from grader.board.leaderboard import Leaderboard
from grader.board.page import label, who
from grader.board.ranking import load_board


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "lb.sqlite"
    with Leaderboard(path) as store:
        store.record(make_report("alice", pub_errors=4, priv_errors=20, seed=1))
        store.record(make_report("alice", pub_errors=14, priv_errors=2, seed=2, submission="alice__2.zip"))
        store.record(make_report("bob", pub_errors=6, priv_errors=7, seed=3, failing=("tokenizer.encode",)))
        store.record(make_report("<b>eve&co|x", pub_errors=50, priv_errors=45, seed=4,
                                 failing=("tokenizer.encode", "lstm_cell.matches_torch")))
        store.record(make_report("dave", status="failed"))
        store.record(make_report("tfidf", pub_errors=12, priv_errors=12, seed=5), kind="baseline")
        store.record(make_report("ref", pub_errors=1, priv_errors=1, seed=6), kind="reference")
    return path


class Tables(HTMLParser):
    """Cells of every <table id=...>, with each row's class."""

    def __init__(self):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None
        self.tags = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.current = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self.current is not None:
            self.row = (attrs.get("class", ""), [])
            self.current.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row[1].append("".join(self.cell))
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_csv_parses_back_with_the_same_numbers_and_students_only(db):
    board = load_board(db, task="spam", part="private")
    frame = pd.read_csv(io.StringIO(to_csv(board_table(board))), keep_default_na=False)
    assert list(frame.columns[:3]) == ["student", "points", "max_points"]
    students = [r for r in board.rows if r.kind == "student"]
    assert list(frame["student"]) == [r.student for r in students]
    for (_, got), want in zip(frame.iterrows(), students):
        assert got["points"] == want.points and got["max_points"] == want.max_points
        assert got["f1"] == want.metrics["f1"] and got["ci_low"] == want.ci_low
        assert (int(got["rank"]), bool(got["tie"])) == (want.rank, want.tie)
        assert got["attempts"] == want.attempts


def test_html_is_self_contained_escaped_and_parses_back(db):
    board = load_board(db, task="spam")
    page = to_html(board_table(board), board)
    assert "<b>eve" not in page and "&lt;b&gt;eve&amp;co|x" in page
    for external in ("<script", "<link", "src=", "url(", "@import", "http"):
        assert external not in page
    parser = Tables()
    parser.feed(page)
    header, *rows = parser.tables["ranking"]
    keys = {label(c): c for c in board_table(board).columns}
    columns = [keys[h] for h in header[1]]
    assert "Spam F1" not in header[1] and "F1" in header[1] and "95% CI high" in header[1]
    assert len(rows) == len(board.rows)
    for (cls, cells), want in zip(rows, board.rows):
        got = dict(zip(columns, cells))
        assert got["student"] == who(want.student)
        assert got["rank"] == (want.rank_label if want.kind == "student" else "-")
        assert float(got["f1"]) == pytest.approx(want.metrics["f1"], abs=5e-5)
        assert float(got["ci_high"]) == pytest.approx(want.ci_high, abs=5e-5)
        assert float(got["points"]) == pytest.approx(want.points, abs=5e-3)
        assert cls.split()[0] == want.kind and ("tie" in cls.split()) == want.tie
    _, *checks = parser.tables["checks"]
    rates = {(c[1][1], c[1][2]): (int(c[1][3]), int(c[1][4]), c[1][5]) for c in checks}
    assert rates == {(c.part, c.name): (c.passed, c.total, f"{c.rate:.1%}") for c in board.checks}
    assert rates[("tokenizer", "encode")][:2] == (1, 3)      # bob and eve fail it; alice passes


def test_markdown_escapes_names_and_marks_rows(db):
    board = load_board(db, task="spam")
    lines = [ln for ln in to_markdown(board_table(board)).splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + len(board.rows)
    eve = next(ln for ln in lines if "eve" in ln)
    assert "&lt;b&gt;eve&amp;co\\|x" in eve and eve.count(" | ") == lines[0].count(" | ")
    assert any(ln.startswith("| *reference*") for ln in lines)


def test_student_history_lists_every_attempt_with_reasons(db):
    with Leaderboard(db, readonly=True) as store:
        table = history_table(store.entries(student="alice"), "alice")
    assert [row[1] for row in table.rows] == ["alice.zip", "alice__2.zip"]
    assert "spam.f1" in table.columns


def test_cli_table_csv_out_and_history(db, tmp_path):
    runner = CliRunner()
    shown = runner.invoke(main, ["leaderboard", "--db", str(db), "--task", "spam"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    for row in load_board(db, task="spam").rows:
        assert any(ln.split()[:2] == [row.rank_label, row.student] for ln in lines if ln.strip())
    assert "__baseline__" in shown.output and "dave" not in shown.output
    out = tmp_path / "exports" / "grades.csv"
    written = runner.invoke(main, ["leaderboard", "--db", str(db), "--format", "csv", "--out", str(out)])
    assert written.exit_code == 0 and f"wrote {out}" in written.output
    book = pd.read_csv(out, keep_default_na=False)
    assert list(book["student"]) == sorted(["alice", "bob", "<b>eve&co|x", "dave"])
    assert list(book["id"]) == list(book["student"])          # no roster: the name is the id
    assert book.loc[book["student"] == "dave", "points (public part)"].item() == ""    # failed: no score
    history = runner.invoke(main, ["leaderboard", "--db", str(db), "--student", "dave"])
    assert history.exit_code == 0 and "malformed zip" in history.output


def test_cli_missing_and_empty_databases(tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "data"))
    missing_default = runner.invoke(main, ["leaderboard"])
    assert missing_default.exit_code == 0 and "no leaderboard yet" in missing_default.output
    assert not (tmp_path / "data").exists()
    given = runner.invoke(main, ["leaderboard", "--db", str(tmp_path / "nope.sqlite")])
    assert given.exit_code == 1 and "Error: no leaderboard database" in given.output
    assert "Traceback" not in given.output
    Leaderboard(tmp_path / "empty.sqlite").close()
    empty = runner.invoke(main, ["leaderboard", "--db", str(tmp_path / "empty.sqlite"), "--format", "md"])
    assert empty.exit_code == 0 and "empty" in empty.output


def test_cli_a_file_that_is_not_sqlite_is_one_line_and_left_alone(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("grades, to do\n")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.zip").write_bytes(b"not a zip")
    for args in (["leaderboard"], ["grade", "--hidden", str(tmp_path / "subs")]):
        result = CliRunner().invoke(main, [*args, "--db", str(notes)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "is not a leaderboard database" in lines[0]
        assert "pass another --db" in lines[0]
    assert notes.read_text() == "grades, to do\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "subs"]
    assert [p.name for p in (tmp_path / "subs").iterdir()] == ["alice.zip"]


def test_cli_unknown_student_fails_and_writes_nothing(db, tmp_path):
    out = tmp_path / "history.md"
    result = CliRunner().invoke(main, ["leaderboard", "--db", str(db), "--student", "zoe",
                                       "--format", "md", "--out", str(out)])
    assert result.exit_code == 1 and "no submissions for student 'zoe'" in result.output
    assert "alice" in result.output and not out.exists()
    assert list(tmp_path.glob(".history.md*")) == []


def test_cli_end_to_end_as_a_subprocess(db, tmp_path):
    out = tmp_path / "board.html"
    exe = Path(sys.executable).parent / "challenge"     # the installed entry point, as users run it
    done = subprocess.run([str(exe), "leaderboard", "--db", str(db), "--task", "spam", "--private",
                           "--format", "html", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "private part" in out.read_text()
