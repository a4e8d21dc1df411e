"""`challenge hidden make`: hidden sets from a secret, deterministic, partitioned, atomic."""

from __future__ import annotations

import csv
import json
import stat
from dataclasses import replace

import pytest
from click.testing import CliRunner
from support.grading import make_corpus, tiny_rubric

from challenge.cli import main
from challenge.errors import ChallengeError
from grader.hidden import (
    checks_seed,
    hidden_sorter,
    hidden_spam,
    make_hidden,
    read_secret,
    unlabelled_path,
)


@pytest.fixture()
def data_dir(tmp_path):
    d = tmp_path / "data"
    make_corpus(d)
    return d


def test_make_hidden_writes_every_set_from_the_secret(tmp_path, data_dir):
    rub = tiny_rubric()
    secret = tmp_path / "secret.txt"
    summary = make_hidden(secret_file=secret, data_dir=data_dir, rubric=rub, new=True)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(read_secret(secret)) == 64
    spam = hidden_spam(data_dir)
    n = summary["spam"]["messages"]
    assert len(spam.ids) == n == len(spam.messages) > 0
    assert all(i.startswith("m") and "/" not in i for i in spam.ids)   # opaque: no group name
    assert sum(spam.private) == round(n / 2)
    sorter = hidden_sorter(data_dir, rub)
    assert len(sorter.inputs) == 2 * rub.sorter.hidden_size
    lengths_in = {len(v) for v, long in zip(sorter.inputs, sorter.long) if not long}
    lengths_long = {len(v) for v, long in zip(sorter.inputs, sorter.long) if long}
    assert lengths_in <= set(range(1, 5)) and lengths_long <= {5, 6}
    assert all(0 <= x <= 9 for v in sorter.inputs for x in v)
    with open(unlabelled_path(data_dir), newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["id", "text"]
    assert [r[0] for r in rows[1:]] == list(spam.ids)
    assert rows[1][1] == spam.messages[0].text()
    assert stat.S_IMODE((data_dir / "hidden" / "hidden.json").stat().st_mode) == 0o600


def _snapshot(data_dir):
    meta = json.loads((data_dir / "hidden" / "hidden.json").read_text())
    meta.pop("created")
    return meta, (data_dir / "hidden" / "sorter" / "test.jsonl").read_bytes()


def test_same_secret_same_sets_other_secret_other_sets(tmp_path, data_dir):
    rub = tiny_rubric()
    (tmp_path / "a").write_text("alpha\n")
    (tmp_path / "b").write_text("beta\n")
    make_hidden(secret_file=tmp_path / "a", data_dir=data_dir, rubric=rub)
    first = _snapshot(data_dir)
    seed_a = checks_seed(data_dir)
    make_hidden(secret_file=tmp_path / "a", data_dir=data_dir, rubric=rub)
    assert _snapshot(data_dir) == first
    make_hidden(secret_file=tmp_path / "b", data_dir=data_dir, rubric=rub)
    other = _snapshot(data_dir)
    assert other[1] != first[1]
    assert other[0]["spam"]["examples"] != first[0]["spam"]["examples"]
    assert checks_seed(data_dir) != seed_a


def test_secret_file_errors(tmp_path, data_dir):
    rub = tiny_rubric()
    with pytest.raises(ChallengeError, match="does not exist; create one with"):
        make_hidden(secret_file=tmp_path / "missing", data_dir=data_dir, rubric=rub)
    (tmp_path / "empty").write_text("  \n")
    with pytest.raises(ChallengeError, match="is empty"):
        make_hidden(secret_file=tmp_path / "empty", data_dir=data_dir, rubric=rub)
    (tmp_path / "old").write_text("keep me")
    with pytest.raises(ChallengeError, match="already exists"):
        make_hidden(secret_file=tmp_path / "old", data_dir=data_dir, rubric=rub, new=True)
    assert (tmp_path / "old").read_text() == "keep me"
    assert not (data_dir / "hidden" / "hidden.json").exists()


def test_missing_corpus_writes_nothing(tmp_path):
    empty = tmp_path / "data"
    with pytest.raises(ChallengeError, match="challenge data fetch spam"):
        make_hidden(secret_file=tmp_path / "s", data_dir=empty, rubric=tiny_rubric(), new=True)
    assert not (tmp_path / "s").exists()
    assert not empty.exists() or not any(empty.rglob("*.json*"))


def test_grading_notices_a_changed_rubric_or_tampered_sets(tmp_path, data_dir):
    rub = tiny_rubric()
    (tmp_path / "s").write_text("x")
    make_hidden(secret_file=tmp_path / "s", data_dir=data_dir, rubric=rub)
    with pytest.raises(ChallengeError, match="run `challenge hidden make` again with this rubric"):
        hidden_sorter(data_dir, replace(rub, sorter=replace(rub.sorter, max_len=5, long_min_len=6)))
    path = data_dir / "hidden" / "sorter" / "test.jsonl"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ChallengeError, match="was changed"):
        hidden_sorter(data_dir, rub)


def test_cli_hidden_make(tmp_path, data_dir):
    from challenge.rubric import DEFAULT_RUBRIC

    runner = CliRunner()
    secret = tmp_path / "secret"
    # a measured band (no fixed thresholds) refuses the tiny corpus's hidden set (8 spam, it
    # needs 100), writing nothing
    measured = tmp_path / "measured.toml"
    measured.write_text(DEFAULT_RUBRIC.read_text().replace("floor = 0.90", "")
                        .replace("full = 0.95 ", ""))
    result = runner.invoke(main, ["hidden", "make", "--secret-file", str(secret), "--new",
                                  "--data-dir", str(data_dir), "--rubric", str(measured)])
    assert result.exit_code == 1 and "needs at least 100" in result.output, result.output
    assert not secret.exists() and not (data_dir / "hidden").exists()
    rubric = tmp_path / "rubric.toml"
    rubric.write_text(DEFAULT_RUBRIC.read_text())     # thresholds fixed for this corpus: kept
    result = runner.invoke(main, ["hidden", "make", "--secret-file", str(secret), "--new",
                                  "--data-dir", str(data_dir), "--rubric", str(rubric), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sorter"]["lengths"] == "1..20" and summary["spam"]["messages"] > 0
    result = runner.invoke(main, ["hidden", "make", "--secret-file", str(tmp_path / "nope"),
                                  "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: secret file") and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_split_would_not_silently_replace_the_hidden_test_part(tmp_path, data_dir):
    runner = CliRunner()
    secret = tmp_path / "secret"
    make_hidden(secret_file=secret, data_dir=data_dir, rubric=tiny_rubric(), new=True)
    test_part = data_dir / "hidden" / "spam" / "test.jsonl"
    public = data_dir / "splits" / "spam" / "split.json"
    before = test_part.read_bytes(), public.read_bytes()
    args = ["data", "split", "spam", "--seed", "0", "--data-dir", str(data_dir)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "hidden sets" in result.output and "--force" in result.output
    assert (test_part.read_bytes(), public.read_bytes()) == before      # nothing written
    hidden_spam(data_dir)                                                 # still gradable
    result = runner.invoke(main, args + ["--force"])
    assert result.exit_code == 0, result.output
    assert test_part.read_bytes() != before[0]
    with pytest.raises(ChallengeError, match="run hidden make again"):
        hidden_spam(data_dir)
    make_hidden(secret_file=secret, data_dir=data_dir, rubric=tiny_rubric())  # same secret
    assert test_part.read_bytes() == before[0]
    hidden_spam(data_dir)
