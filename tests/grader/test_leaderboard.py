"""The leaderboard store: round trips, one transaction per row, WAL readers, schema, names."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from support.board import make_report

from challenge.errors import ChallengeError
from grader.board.leaderboard import (
    SCHEMA_VERSION,
    Leaderboard,
    decode_examples,
    encode_examples,
)
from grader.board.names import check_student_name, lookalike_problem, student_id


def test_record_round_trips_every_part_of_the_report(tmp_path):
    report = make_report("alice", pub_errors=3, priv_errors=9, seed=4, failing=("tokenizer.encode",))
    with Leaderboard(tmp_path / "lb.sqlite") as store:
        sid = store.record(report)
        assert store.record(report) is None            # same student, hash and rubric: kept once
        [e] = store.entries(examples=True, checks=True)
    assert e.id == sid and e.student == "alice" and e.kind == "student"
    assert (e.sha256, e.rubric_hash, e.status, e.points) == (
        report["sha256"], report["rubric_hash"], "ok", report["points"])
    for task, t in report["tasks"].items():
        q = t["quality"]
        assert e.tasks[task].metrics == {"whole": q["metrics"], "public": q["public"], "private": q["private"]}
        for key in ("y_true", "y_pred", "private"):
            np.testing.assert_array_equal(e.tasks[task].examples[key], np.asarray(t["examples"][key]))
    failed = [c for c in e.checks if not c["passed"]]
    assert [(c["part"], c["name"]) for c in failed] == [("tokenizer", "encode")]
    assert len(e.checks) == sum(len(t["checks"]) for t in report["tasks"].values())


def test_examples_pack_to_bits_and_fall_back_to_json_for_other_values():
    binary = {"y_true": [0, 1] * 500, "y_pred": [1, 1] * 500, "private": [True, False] * 500}
    blob = encode_examples(binary)
    assert len(blob) < 200                         # 3,000 flags, packed and compressed
    back = decode_examples(blob)
    np.testing.assert_array_equal(back["y_true"], binary["y_true"])
    np.testing.assert_array_equal(back["private"], binary["private"])
    scores = {"y_true": [0, 1, 1], "y_pred": [0.2, 0.9, 0.55], "private": [False, True, False]}
    np.testing.assert_allclose(decode_examples(encode_examples(scores))["y_pred"], scores["y_pred"])
    assert encode_examples(None) is None and decode_examples(None) is None
    with pytest.raises(ChallengeError, match="same length"):
        encode_examples({"y_true": [0, 1], "y_pred": [0], "private": [False, True]})


def test_a_failing_record_leaves_no_half_row(tmp_path):
    db = tmp_path / "lb.sqlite"
    report = make_report("bob")
    report["tasks"]["sorter"]["checks"][0]["points"] = "not a number"   # fails after the first inserts
    with Leaderboard(db) as store:
        store.record(make_report("alice"))
        with pytest.raises(ValueError):
            store.record(report)
    con = sqlite3.connect(db)
    assert con.execute("SELECT student FROM submissions").fetchall() == [("alice",)]
    assert con.execute("SELECT count(DISTINCT submission_id) FROM task_results").fetchone() == (1,)
    assert con.execute("SELECT count(DISTINCT submission_id) FROM checks").fetchone() == (1,)


def test_readers_and_the_writer_do_not_block_each_other(tmp_path):
    db = tmp_path / "lb.sqlite"
    with Leaderboard(db) as store:
        store.record(make_report("alice"))
        assert store._con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        reader = Leaderboard(db, readonly=True)
        reader._con.execute("BEGIN")                                   # a long read snapshot
        assert reader._con.execute("SELECT count(*) FROM submissions").fetchone() == (1,)
        assert store.record(make_report("bob")) is not None            # not blocked by it
        assert reader._con.execute("SELECT count(*) FROM submissions").fetchone() == (1,)
        reader._con.rollback()
        store._con.execute("BEGIN IMMEDIATE")                          # a write in progress
        store._con.execute("INSERT INTO submissions (student, kind, submission, sha256, mode, "
                           "graded_at, status, reason, points, max_points, rubric_hash, "
                           "grader_version, torch_version) VALUES "
                           "('carol','student','c','x','code','t','ok','',1,1,'r','v','t')")
        assert [e.student for e in reader.entries()] == ["alice", "bob"]   # committed rows only
        store._con.rollback()
        reader.close()


def test_schema_version_and_foreign_files(tmp_path):
    db = tmp_path / "lb.sqlite"
    Leaderboard(db).close()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(ChallengeError, match="newer"):
        Leaderboard(db, readonly=True)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ChallengeError, match="not a leaderboard database"):
        Leaderboard(other)
    with pytest.raises(ChallengeError, match="no leaderboard database at .*missing"):
        Leaderboard(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_baseline_and_reference_rows_get_reserved_names(tmp_path):
    with Leaderboard(tmp_path / "lb.sqlite") as store:
        store.record(make_report("tfidf"), kind="baseline")
        store.record(make_report("solutions"), kind="reference")
        with pytest.raises(ChallengeError, match="unknown row kind"):
            store.record(make_report("x"), kind="teacher")
        rows = {(e.student, e.kind) for e in store.entries()}
        assert store.students() == []
    assert rows == {("__baseline__", "baseline"), ("__reference__", "reference")}


def test_record_stores_baselines_and_partial_reports_and_refuses_dev_set_reports(tmp_path):
    db = tmp_path / "lb.sqlite"
    report = make_report("carol")
    report["tasks"]["foundations"] = {"points": 12.0, "max_points": 15.0, "quality": None,
                                      "examples": None, "checks": []}
    with Leaderboard(db) as store:
        assert store.record(make_report("tfidf"), kind="baseline") is not None
        with pytest.raises(ChallengeError, match="dev sets; grade it with --hidden"):
            store.record(dict(make_report("alice"), sets="dev"))
        store.record(report)
    with Leaderboard(db, readonly=True) as store:
        assert [e.student for e in store.entries()] == ["__baseline__", "carol"]
        assert store.entries(student="carol")[0].tasks["foundations"].quality_status == "missing"


@pytest.mark.parametrize("name", ["alice", "Bob_Smith-2", "josé.müller", "Anna Lee", "a" * 64,
                                  "Łukasz", "Иван", "Ελένη", "李明", "Ana-María_2"])
def test_safe_names_pass(name):
    assert check_student_name(name) == name


@pytest.mark.parametrize("name, why", [
    ("", "empty"), ("a" * 65, "longer"), ("../etc", "separator"), ("a\\b", "separator"),
    ("c:x", "separator"), ("tab\there", "control"), ("new\nline", "control"), ("nul\0", "control"),
    ("bidi\u202eevil", "control"), (" alice", "space"), (".hidden", "starts with"),
    ("=1+1", "starts with"), ("@SUM(A1)", "starts with"), ("+1", "starts with"), ("__baseline__", "reserved"),
    ("\u0430lice", "mixes Cyrillic and Latin"), ("b\u03bfb", "mixes Greek and Latin"),
    ("\uff41lice", "compatibility"), ("\ufb01ona", "compatibility"), ("x\u00b2", "compatibility"),
])
def test_unsafe_names_are_rejected_with_the_reason(name, why):
    with pytest.raises(ChallengeError, match=why):
        check_student_name(name)


def test_a_decomposed_accent_is_the_same_student():
    assert check_student_name("jose\u0301") == check_student_name("jos\u00e9") == "jos\u00e9"


@pytest.mark.parametrize("lookalike", ["Alice", "ALICE", "\u0430\u04cf\u0456\u0441\u0435",  # all Cyrillic
                                       "a1ice", "aIice", "AL1CE"])      # digit one, capital i
def test_a_name_that_looks_like_another_student_is_refused_and_stores_nothing(tmp_path, lookalike):
    db = tmp_path / "lb.sqlite"
    with Leaderboard(db) as store:
        store.record(make_report("alice"))
        with pytest.raises(ChallengeError, match="looks like 'alice'"):
            store.record(make_report(lookalike))
        store.record(make_report("alicia"))                 # near is not the same
        assert store.students() == ["alice", "alicia"]


@pytest.mark.parametrize("name, other", [("b0b", "bob"), ("B0B", "bob"), ("aIice", "a1ice"),
                                         ("Ian", "ian"), ("Ian", "lan"), ("rnallory", "mallory"),
                                         ("vvendy", "wendy")])
def test_digits_and_capital_i_read_as_the_letters_they_pass_for(name, other):
    assert "looks like" in lookalike_problem(name, [other])
    assert "looks like" in lookalike_problem(other, [name])


@pytest.mark.parametrize("name, other", [("jose", "jos\u00e9"), ("bob2", "bob"), ("bo8", "bob"),
                                         ("ian", "lan"), ("alice", "alicia")])
def test_names_that_differ_in_what_one_sees_are_two_students(name, other):
    assert lookalike_problem(name, [other]) == ""


def test_look_alikes_stored_before_the_rule_keep_their_rows(tmp_path):
    db = tmp_path / "lb.sqlite"
    with Leaderboard(db) as store:
        store.record(make_report("alice"))
        store.record(make_report("Bob"))
    con = sqlite3.connect(db)
    with con:   # an old board: "Alice" stored beside "alice" before names were compared
        con.execute("UPDATE submissions SET student='Alice' WHERE student='Bob'")
    con.close()
    with Leaderboard(db) as store:
        assert store.record(make_report("alice", seed=7)) is not None
        assert store.record(make_report("Alice", seed=7)) is not None
        with pytest.raises(ChallengeError, match="looks like"):
            store.record(make_report("ALICE"))


@pytest.mark.parametrize("name, folded", [("alice", "alice"), ("Bob_Smith-2", "bob_smith-2"),
                                          ("a" * 64, "a" * 64), ("ALICE", "alice"),
                                          ("s.mith", "s.mith"), ("\uff41lice", "alice")])
def test_student_ids_are_case_folded(name, folded):
    assert student_id(name) == folded


@pytest.mark.parametrize("name, why", [
    ("", "empty"), ("a" * 65, "longer"), ("../etc", "separator"), ("a\\b", "separator"),
    ("c:x", "separator"), ("tab\there", "control"), ("new\nline", "control"), ("nul\0", "control"),
    ("bidi\u202eevil", "control"), (" alice", "space"), (".hidden", "starts with"),
    ("=1+1", "outside ASCII"), ("@SUM(A1)", "outside ASCII"), ("+1", "outside ASCII"),
    ("-rf", "starts with"), ("__baseline__", "reserved"),
    ("\u0430lice", "outside ASCII"), ("b\u03bfb", "outside ASCII"), ("jos\u00e9", "outside ASCII"),
    ("alice\u034f", "COMBINING GRAPHEME JOINER"), ("alice\ufe0f", "VARIATION SELECTOR"),
    ("alice\u3164", "HANGUL"), ("alice\u2800", "BRAILLE PATTERN BLANK"),
    ("al\u0131ce", "DOTLESS I"), ("a\u01c0ice", "outside ASCII"), ("\u0251lice", "outside ASCII"),
    ("\ua4d0ob", "outside ASCII"), ("Anna Lee", "space"),
])
def test_ids_outside_the_conservative_alphabet_are_refused_with_the_fix(name, why):
    with pytest.raises(ChallengeError, match=why) as e:
        student_id(name)
    assert "rename the submission" in str(e.value)
