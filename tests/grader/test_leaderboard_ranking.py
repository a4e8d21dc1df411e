"""Ranking: best per student, public vs private, ties by bootstrap intervals, marked rows."""

from __future__ import annotations

import random

import numpy as np
import pytest
from support.board import make_report, spam_metrics

from challenge.errors import ChallengeError
from grader.board.leaderboard import Leaderboard
from grader.board.ranking import bootstrap_intervals, build_board, load_board


def store_entries(tmp_path, reports, kinds=None):
    db = tmp_path / "lb.sqlite"
    with Leaderboard(db) as store:
        for i, r in enumerate(reports):
            store.record(r, kind=(kinds or {}).get(i, "student"))
        return db, store.entries(examples=True, checks=True)


def by_student(board):
    return {r.student: r for r in board.rows}


def test_best_submission_per_student_and_failed_rows_never_rank(tmp_path):
    reports = [make_report("alice", pub_errors=30, seed=1), make_report("alice", pub_errors=2, seed=2),
               make_report("alice", pub_errors=15, seed=3), make_report("bob", pub_errors=8, seed=4),
               make_report("carol", status="failed")]
    _, entries = store_entries(tmp_path, reports)
    board = build_board(entries, task="spam")
    rows = by_student(board)
    assert set(rows) == {"alice", "bob"}
    assert rows["alice"].score == reports[1]["tasks"]["spam"]["quality"]["public"]["f1"]
    assert rows["alice"].attempts == 3
    assert [r.student for r in board.rows] == ["alice", "bob"]
    assert any("1 failed" in n for n in board.notes)
    overall = build_board(entries)
    assert by_student(overall)["alice"].points == max(r["points"] for r in reports[:3])


def test_private_and_public_rankings_differ_where_they_should(tmp_path):
    # alice overfits the public part; bob is steady; carol is weak everywhere
    reports = [make_report("alice", pub_errors=2, priv_errors=30, n=400, seed=1),
               make_report("bob", pub_errors=25, priv_errors=3, n=400, seed=2),
               make_report("carol", pub_errors=60, priv_errors=60, n=400, seed=3)]
    _, entries = store_entries(tmp_path, reports)
    public = build_board(entries, task="spam", part="public")
    private = build_board(entries, task="spam", part="private")
    assert [r.student for r in public.rows] == ["alice", "bob", "carol"]
    assert [r.student for r in private.rows] == ["bob", "alice", "carol"]
    assert [r.rank_label for r in private.rows] == ["1", "2", "3"]
    assert by_student(private)["bob"].score == reports[1]["tasks"]["spam"]["quality"]["private"]["f1"]


def test_private_board_picks_each_submission_on_the_public_part_unless_told(tmp_path):
    lucky = make_report("alice", pub_errors=20, priv_errors=1, n=300, seed=1, submission="alice__2.zip")
    chosen = make_report("alice", pub_errors=5, priv_errors=25, n=300, seed=2)
    _, entries = store_entries(tmp_path, [lucky, chosen])
    fair = by_student(build_board(entries, task="spam", part="private"))["alice"]
    assert fair.submission == "alice.zip"
    best_of_private = by_student(build_board(entries, task="spam", part="private", select="part"))
    assert best_of_private["alice"].submission == "alice__2.zip"


def with_spam_points(report: dict, points: float) -> dict:
    """``report`` whose spam quality earned ``points`` on every part (a clamped band)."""
    task = report["tasks"]["spam"]
    q = task["quality"]
    task["points"] = round(task["points"] - q["points"] + points, 6)
    q["points"], q["part_points"] = points, {"whole": points, "public": points, "private": points}
    return report


def test_ties_when_intervals_overlap_and_ranks_skip_after_a_tie(tmp_path):
    reports = [with_spam_points(make_report("alice", pub_errors=10, n=150, seed=1), 40.0),
               with_spam_points(make_report("bob", pub_errors=12, n=150, seed=2), 40.0),
               with_spam_points(make_report("carol", pub_errors=70, n=150, seed=3), 0.0),
               with_spam_points(make_report("dave", pub_errors=71, n=150, seed=4), 0.0)]
    _, entries = store_entries(tmp_path, reports)
    board = build_board(entries, task="spam")
    assert [r.rank_label for r in board.rows] == ["=1", "=1", "=3", "=3"]
    assert {r.student for r in board.rows[:2]} == {"alice", "bob"}
    assert [r.score for r in board.rows] == sorted((r.score for r in board.rows), reverse=True)
    a, b, c = board.rows[0], board.rows[1], board.rows[2]
    assert a.ci_low <= b.ci_high and b.ci_low <= a.ci_high     # the reason for the tie
    assert b.ci_low > c.ci_high                                 # and for the break
    for r in board.rows:
        assert r.ci_low <= r.score <= r.ci_high
    # far more examples shrink the intervals: the same error rates no longer tie
    big = [make_report("alice", pub_errors=100, n=1500, seed=1), make_report("bob", pub_errors=200, n=1500, seed=2)]
    _, entries = store_entries(tmp_path / "big", big)
    assert [r.rank_label for r in build_board(entries, task="spam").rows] == ["1", "2"]


def test_a_tie_needs_the_same_points_as_well_as_overlapping_intervals(tmp_path):
    """Issue 31: F1 0.971 (full points) and F1 0.924 (0 points) overlapped on a small public
    part and were marked "=1"."""
    reports = [with_spam_points(make_report("alice", pub_errors=10, n=150, seed=1), 40.0),
               with_spam_points(make_report("bob", pub_errors=12, n=150, seed=2), 0.0)]
    _, entries = store_entries(tmp_path, reports)
    a, b = build_board(entries, task="spam").rows
    assert a.ci_low <= b.ci_high and b.ci_low <= a.ci_high       # the intervals overlap
    assert [a.rank_label, b.rank_label] == ["1", "2"]


def test_predictions_rows_and_code_rows_are_ranked_on_their_share(tmp_path):
    code = make_report("alice", pub_errors=10, n=150, seed=1)             # about 80 of 100
    pred = make_report("bob", pub_errors=10, n=150, seed=2)
    pred["mode"], pred["max_points"] = "predictions", 50.0
    pred["points"] = pred["tasks"]["spam"]["points"]                       # about 45 of 50
    del pred["tasks"]["sorter"]
    _, entries = store_entries(tmp_path, [code, pred])
    board = build_board(entries)
    assert [r.student for r in board.rows] == ["bob", "alice"]            # 0.9 beats 0.8
    assert any("share of their own maximum" in n for n in board.notes)
    assert by_student(board)["bob"].points == pred["points"]


def test_ties_do_not_chain_past_the_first_student_of_the_group(tmp_path):
    reports = [with_spam_points(make_report(name, pub_errors=e, n=200, seed=1), 40.0)
               for name, e in (("a", 2), ("b", 8), ("c", 15))]
    _, entries = store_entries(tmp_path, reports)
    a, b, c = build_board(entries, task="spam").rows
    assert c.ci_low <= b.ci_high and c.ci_high < a.ci_low      # c overlaps b but not a
    assert [r.rank_label for r in (a, b, c)] == ["=1", "=1", "3"]


def test_bootstrap_matches_a_plain_resampling_loop():
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 120).astype(float)
    y_pred = np.where(rng.random(120) < 0.85, y_true, 1 - y_true)
    [[lo, hi]] = bootstrap_intervals("f1", [(y_true, y_pred)], resamples=300, seed=7)
    draws = np.random.default_rng([7, 120]).integers(0, 120, size=(300, 120))
    values = [spam_metrics(y_true[i], y_pred[i])["f1"] for i in draws]
    assert (lo, hi) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])), abs=1e-12)
    acc = bootstrap_intervals("exact_match", [(np.ones(120), y_pred)], resamples=300, seed=7)
    loop = [np.mean(y_pred[i]) for i in draws]
    assert tuple(acc[0]) == pytest.approx(tuple(np.quantile(loop, [0.025, 0.975])), abs=1e-12)


def test_baseline_and_reference_are_marked_rows_without_a_rank(tmp_path):
    reports = [make_report("alice", pub_errors=5, n=400, seed=1), make_report("bob", pub_errors=60, n=400, seed=2),
               make_report("tfidf", pub_errors=30, n=400, seed=3), make_report("ref", pub_errors=0, n=400, seed=4)]
    _, entries = store_entries(tmp_path, reports, kinds={2: "baseline", 3: "reference"})
    board = build_board(entries, task="spam")
    assert [(r.student, r.rank_label) for r in board.rows] == [
        ("__reference__", "reference"), ("alice", "1"), ("__baseline__", "baseline"), ("bob", "2")]
    assert all(r.student != "__baseline__" for r in board.rows if r.rank is not None)


def test_board_does_not_depend_on_the_order_rows_were_graded(tmp_path):
    reports = [make_report(f"s{i}", pub_errors=i * 3, priv_errors=40 - i, seed=i) for i in range(8)]
    reports += [make_report("s1", pub_errors=1, seed=99)]
    _, first = store_entries(tmp_path / "a", reports)
    shuffled = reports[:]
    random.Random(3).shuffle(shuffled)
    _, second = store_entries(tmp_path / "b", shuffled)
    for task in (None, "spam", "sorter"):
        for part in ("public", "private"):
            a, b = build_board(first, task=task, part=part), build_board(second, task=task, part=part)
            strip = lambda board: [(r.rank_label, r.student, r.submission, r.score, r.ci_low, r.ci_high)
                                   for r in board.rows]
            assert strip(a) == strip(b)


def test_overall_board_ranks_on_points_and_ties_equal_points(tmp_path):
    same = make_report("alice", seed=1)
    twin = dict(same, student="bob", sha256="b" * 64)
    _, entries = store_entries(tmp_path, [same, twin, make_report("carol", pub_errors=50, seed=3)])
    board = build_board(entries)
    assert [(r.student, r.rank_label) for r in board.rows] == [("alice", "=1"), ("bob", "=1"), ("carol", "3")]
    assert board.columns[:2] == ["points", "max_points"] and "spam.f1" in board.columns


def test_a_task_without_a_quality_metric_shows_its_points_only(tmp_path):
    report = make_report("alice")
    report["tasks"]["foundations"] = {"points": 12.0, "max_points": 15.0, "quality": None,
                                      "examples": None, "checks": []}
    _, entries = store_entries(tmp_path, [report, make_report("bob", seed=2)])
    board = build_board(entries)
    assert [c for c in board.columns if c.startswith("foundations")] == ["foundations.points"]
    assert by_student(board)["alice"].metrics["foundations.points"] == 12.0
    assert "foundations.points" not in by_student(board)["bob"].metrics
    assert {r.student for r in build_board(entries, task="spam").rows} == {"alice", "bob"}


def test_check_pass_rates_count_each_students_ranked_submission(tmp_path):
    reports = [make_report("alice", failing=("tokenizer.encode",), seed=1),
               make_report("bob", failing=("tokenizer.encode", "lstm_cell.matches_torch"), seed=2),
               make_report("carol", seed=3), make_report("ref", failing=("tokenizer.encode",), seed=4)]
    _, entries = store_entries(tmp_path, reports, kinds={3: "reference"})
    rates = {(c.part, c.name): (c.passed, c.total) for c in build_board(entries).checks}
    assert rates == {("tokenizer", "encode"): (1, 3), ("lstm_cell", "matches_torch"): (2, 3),
                     ("spam_model", "padding_invariant"): (3, 3)}
    assert [c.name for c in build_board(entries).checks][0] == "encode"      # most failed first
    assert {c.task for c in build_board(entries, task="sorter").checks} == {"sorter"}


def test_rows_of_another_rubric_are_left_out_with_a_note(tmp_path):
    db, _ = store_entries(tmp_path, [make_report("alice", rubric="old"), make_report("bob", rubric="new")])
    board = load_board(db, task="spam")
    assert [r.student for r in board.rows] == ["bob"]
    assert any("another rubric" in n for n in board.notes)
    assert [r.student for r in load_board(db, rubric_hash="old").rows] == ["alice"]


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ChallengeError, match="unknown task 'chess'"):
        build_board([], task="chess")
    with pytest.raises(ChallengeError, match="unknown part 'secret'"):
        build_board([], part="secret")
    assert build_board([], task="spam").rows == []


def test_the_public_overall_board_scores_quality_on_the_public_part_only(tmp_path):
    # alice is better on the private part, bob on the public one: the public board must not
    # show (or rank on) points earned on the private part
    def with_parts(report, public, private):
        q = report["tasks"]["spam"]["quality"]
        q["part_points"] = {"whole": q["points"], "public": public, "private": private}
        return report

    alice = with_parts(make_report("alice", pub_errors=40, priv_errors=0, seed=1), 10.0, 40.0)
    bob = with_parts(make_report("bob", pub_errors=0, priv_errors=40, seed=2), 40.0, 10.0)
    _, entries = store_entries(tmp_path, [alice, bob])
    public = by_student(build_board(entries, part="public"))
    private = by_student(build_board(entries, part="private"))
    assert public["bob"].score > public["alice"].score
    assert private["alice"].score > private["bob"].score
    spam_all = alice["tasks"]["spam"]["quality"]["points"]
    assert public["alice"].metrics["spam.points"] == pytest.approx(
        alice["tasks"]["spam"]["points"] - spam_all + 10.0)
