"""Splits: stratified, seeded, byte-for-byte reproducible, duplicate-aware; both schemes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from challenge.cli import main
from challenge.data.corpus import Message, load_split, normalise_body, write_corpus
from challenge.data.split import make_split
from challenge.errors import ChallengeError

SIZES = {"easy-ham-1": 120, "easy-ham-2": 70, "hard-ham-1": 20, "spam-1": 40, "spam-2": 50}


def synthetic(data: Path, name: str = "spam", dup_every: int = 9) -> list[Message]:
    """A corpus with SpamAssassin's groups; every ``dup_every``-th message repeats a body
    from another group (whitespace and case changed), so duplicates cross groups."""
    messages, n = [], 0
    for group, size in SIZES.items():
        for k in range(size):
            body = f"message {n} of {group}"
            if n % dup_every == 0 and n:
                body = f"  MESSAGE {n - dup_every}\nof {messages[n - dup_every].group} "
            messages.append(Message(id=f"{group}/{k:05d}", group=group, label=int("spam" in group),
                                    subject=f"s{n}", body=body))
            n += 1
    write_corpus(name, messages, {"source": "test", "verified": True}, data)
    return messages


def parts(data: Path, name: str = "spam") -> dict[str, list[Message]]:
    return {p: load_split(name, p, data) for p in ("train", "dev", "test")}


def test_random_split_is_stratified_70_10_20_and_complete(tmp_path):
    messages = synthetic(tmp_path)
    result = make_split("spam", seed=3, data_dir=tmp_path)
    got = parts(tmp_path)
    assert sorted(m.id for p in got.values() for m in p) == sorted(m.id for m in messages)
    n, spam = len(messages), sum(m.label for m in messages)
    for part, share in (("train", 0.7), ("dev", 0.1), ("test", 0.2)):
        assert abs(len(got[part]) - share * n) <= 3
        assert abs(sum(m.label for m in got[part]) - share * spam) <= 2
        assert result.counts[part]["messages"] == len(got[part])


@pytest.mark.parametrize("scheme", ["random", "temporal"])
def test_duplicates_never_straddle_train_dev_and_test(tmp_path, scheme):
    synthetic(tmp_path, dup_every=4)
    result = make_split("spam", seed=1, scheme=scheme, data_dir=tmp_path)
    got = parts(tmp_path)
    test_bodies = {normalise_body(m.body) for m in got["test"]}
    assert not [m.id for m in got["train"] + got["dev"] if normalise_body(m.body) in test_bodies]
    assert result.duplicate_groups > 0


def test_same_seed_same_bytes_other_seed_other_split(tmp_path):
    synthetic(tmp_path)
    files = [tmp_path / "splits/spam/train.jsonl", tmp_path / "splits/spam/dev.jsonl",
             tmp_path / "hidden/spam/test.jsonl", tmp_path / "splits/spam/split.json"]
    make_split("spam", seed=7, data_dir=tmp_path)
    first = [f.read_bytes() for f in files]
    make_split("spam", seed=8, data_dir=tmp_path)
    assert [f.read_bytes() for f in files][:3] != first[:3]
    make_split("spam", seed=7, data_dir=tmp_path)
    assert [f.read_bytes() for f in files] == first


def test_split_json_records_seed_scheme_counts_and_hashes(tmp_path):
    synthetic(tmp_path)
    make_split("spam", seed=5, data_dir=tmp_path)
    record = json.loads((tmp_path / "splits/spam/split.json").read_text())
    assert (record["seed"], record["scheme"]) == (5, "random")
    for part, path in (("train", "splits/spam/train.jsonl"), ("dev", "splits/spam/dev.jsonl"),
                       ("test", "hidden/spam/test.jsonl")):
        assert record["sha256"][part] == hashlib.sha256((tmp_path / path).read_bytes()).hexdigest()
        assert record["counts"][part]["messages"] == len(load_split("spam", part, tmp_path))
    assert not (tmp_path / "splits/spam/test.jsonl").exists()  # test only under hidden/


def test_temporal_split_uses_old_mail_for_train_and_new_for_test(tmp_path):
    synthetic(tmp_path, dup_every=10**6)  # no duplicates: the group rule alone decides
    result = make_split("spam", seed=2, scheme="temporal", data_dir=tmp_path)
    got = parts(tmp_path)
    train_dev = got["train"] + got["dev"]
    assert {m.group for m in train_dev} == {"easy-ham-1", "spam-1", "hard-ham-1"}
    assert {m.group for m in got["test"]} == {"easy-ham-2", "spam-2", "hard-ham-1"}
    hard = [sum(m.group == "hard-ham-1" for m in side) for side in (train_dev, got["test"])]
    assert hard == [10, 10] and result.moved_for_duplicates == 0
    assert len(got["dev"]) == pytest.approx(len(train_dev) / 8, abs=2)
    other = make_split("spam", seed=3, scheme="temporal", data_dir=tmp_path)
    assert other.sha256["test"] != result.sha256["test"]  # the hard-ham half depends on the seed


def test_temporal_moves_old_copies_of_new_mail_to_test(tmp_path):
    messages = synthetic(tmp_path, dup_every=10**6)
    messages[0] = Message(id=messages[0].id, group="easy-ham-1", label=0, subject="",
                          body=messages[150].body)  # easy-ham-2 message 150's body
    write_corpus("spam", messages, {"source": "test"}, tmp_path)
    result = make_split("spam", seed=0, scheme="temporal", data_dir=tmp_path)
    assert result.moved_for_duplicates == 1
    assert messages[0].id in {m.id for m in load_split("spam", "test", tmp_path)}


def test_temporal_is_refused_for_corpora_without_the_groups(tmp_path):
    write_corpus("sms", [Message(id=f"l{i}", group="imported", label=i % 2, subject="", body=f"t{i}")
                         for i in range(30)], {"source": "x"}, tmp_path)
    with pytest.raises(ChallengeError, match="use --scheme random"):
        make_split("sms", seed=0, scheme="temporal", data_dir=tmp_path)
    assert not (tmp_path / "splits").exists()
    assert make_split("sms", seed=0, data_dir=tmp_path).counts["test"]["messages"] == 6


def test_bad_inputs(tmp_path):
    with pytest.raises(ChallengeError, match="run `challenge data fetch spam` first"):
        make_split("spam", seed=0, data_dir=tmp_path)
    synthetic(tmp_path)
    with pytest.raises(ChallengeError, match="'abc' is not an integer"):
        make_split("spam", seed="abc", data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="unknown split scheme 'weekly'"):
        make_split("spam", seed=0, scheme="weekly", data_dir=tmp_path)
    with pytest.raises(ChallengeError, match="not a safe identifier"):
        make_split("../etc", seed=0, data_dir=tmp_path)
    assert not (tmp_path / "splits").exists() and not (tmp_path / "hidden").exists()


def test_too_small_corpus_is_refused_before_writing(tmp_path):
    write_corpus("tiny", [Message(id="a", group="imported", label=0, subject="", body="x"),
                          Message(id="b", group="imported", label=1, subject="", body="y")],
                 {"source": "x"}, tmp_path)
    with pytest.raises(ChallengeError, match="too small to split"):
        make_split("tiny", seed=0, data_dir=tmp_path)
    assert not (tmp_path / "hidden").exists()


@pytest.mark.parametrize("label, holds", [(0, "only ham"), (1, "only spam")])
def test_a_corpus_of_one_class_is_refused_before_writing(tmp_path, label, holds):
    write_corpus("one", [Message(id=f"m{i}", group="imported", label=label, subject="",
                                 body=f"message {i}") for i in range(60)], {"source": "x"}, tmp_path)
    with pytest.raises(ChallengeError, match=f"{holds} \\(60 messages\\); a spam classifier "
                                             "needs both classes"):
        make_split("one", seed=0, data_dir=tmp_path)
    assert not (tmp_path / "hidden").exists() and not (tmp_path / "splits").exists()


def test_cli_split_and_its_errors(tmp_path):
    runner = CliRunner()
    args = ["data", "split", "spam", "--data-dir", str(tmp_path)]
    before = runner.invoke(main, args + ["--seed", "0"])
    assert before.exit_code == 1 and before.output.startswith("Error: corpus 'spam' not found")
    synthetic(tmp_path)
    bad_seed = runner.invoke(main, args + ["--seed", "1.5"])
    assert bad_seed.exit_code == 1 and bad_seed.output.count("\n") == 1
    assert "'1.5' is not an integer" in bad_seed.output and "--seed 0" in bad_seed.output
    ok = runner.invoke(main, args + ["--seed", "4", "--scheme", "temporal", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["scheme"] == "temporal"
