"""A rubric change mid-term without losing the class, end to end through the CLI: a course on a
corpus whose spam band `hidden make` measures, a class graded into the board, then the
instructor widens the band's margin, runs `challenge hidden make` again (same secret) and
`challenge regrade --all`: every row the board ranks is graded under the new rubric, every
student is still on it, and the old grades stay in each student's history."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

from click.testing import CliRunner
from support.grading import missed_spam, sms_like_corpus, tiny_rubric, write_rubric

from challenge.cli import main
from grader.board.leaderboard import Leaderboard, newest
from grader.grade import grade
from grader.hidden import hidden_spam


def _course(margin: float):
    """The tiny rubric on corpus "sms", whose spam band is measured, with ``margin``."""
    rub = tiny_rubric()
    rub = replace(rub, hidden=replace(rub.hidden, spam_corpus="sms"))
    tasks = tuple(replace(t, quality=replace(t.quality, margin=margin)) if t.name == "spam"
                  else t for t in rub.tasks)
    return replace(rub, tasks=tasks)


def _ok(done) -> str:
    assert done.exit_code == 0, done.output
    return done.output


def test_a_margin_change_then_regrade_all_gives_a_board_under_the_new_rubric(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))   # no reference runs
    data, db, subs = tmp_path / "data", tmp_path / "board.sqlite", tmp_path / "subs"
    sms_like_corpus(data)
    before, after = _course(0.01), _course(0.05)
    assert before.hash != after.hash
    runner = CliRunner()
    where = ["--data-dir", str(data)]
    secret = tmp_path / "secret.txt"      # fixed: the same public/private split every run
    secret.write_text("a fixed secret for the regrade test")
    make = ["hidden", "make", "--secret-file", str(secret), *where]
    _ok(runner.invoke(main, [*make, "--rubric",
                             str(write_rubric(tmp_path / "before.toml", before))]))
    spam = hidden_spam(data)
    subs.mkdir()
    for name, public, private in (("alice", 0, 0), ("bob", 1, 0), ("carol", 0, 2)):
        missed_spam(subs / f"{name}.csv", spam, public=public, private=private)
    _ok(runner.invoke(main, ["grade", "--hidden", str(subs), "--workers", "1", "--db", str(db),
                             *where]))

    # the instructor edits the course's margin: hidden make again, then regrade everyone
    _ok(runner.invoke(main, [*make, "--rubric", str(write_rubric(tmp_path / "after.toml",
                                                                 after))]))
    done = runner.invoke(main, ["regrade", "--all", "--db", str(db), "--json", *where])
    regraded = json.loads(_ok(done).strip().splitlines()[-1])
    assert not regraded.get("rejected") and not regraded.get("crashed"), regraded

    with Leaderboard(db, readonly=True) as store:
        rows = store.entries()
    ranked = newest(rows)
    current = [e for e in ranked if e.rubric_hash == after.hash]
    assert sorted(e.student for e in current) == ["alice", "bob", "carol"]
    assert len(rows) == 6 and {e.rubric_hash for e in rows} == {before.hash, after.hash}

    board = runner.invoke(main, ["leaderboard", "--db", str(db), "--format", "csv"])
    assert "left out" not in _ok(board)
    book = {r["student"]: r for r in csv.DictReader(io.StringIO(board.stdout))}
    assert sorted(book) == ["alice", "bob", "carol"]
    for name, row in book.items():     # exactly what a fresh grade under the new rubric gives
        fresh = grade(submission=subs / f"{name}.csv", hidden=True, rubric=after, data_dir=data)
        assert float(row["points (public part)"]) == round(fresh.scores["public"], 2), name
    history = _ok(runner.invoke(main, ["leaderboard", "--db", str(db), "--student", "bob"]))
    assert before.hash[:12] in history and after.hash[:12] in history
