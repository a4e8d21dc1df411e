"""``challenge data stats``: counts, duplicates and nearest-rank word-length percentiles."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from challenge.cli import main
from challenge.data.corpus import Message, write_corpus
from challenge.data.stats import corpus_stats, percentile, word_count


def _corpus(tmp_path):
    bodies = ["one two three", "One  two\nthree ", "", "a b c d e f g h i j", "x", "x"]
    messages = [Message(id=f"m{i}", group="g1" if i < 3 else "g2", label=int(i >= 4),
                        subject="Hi there" if i else "", body=b) for i, b in enumerate(bodies)]
    write_corpus("mini", messages, {"source": "test", "licence": "CC0", "verified": True,
                                    "parse_failures": 0}, tmp_path)


def test_word_count_and_percentile():
    assert word_count("Buy now!!! $100, e-mail me_now") == 6
    values = list(range(1, 101))
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [50, 90, 99, 100]
    assert percentile([7], 99) == 7 and percentile([], 50) == 0


def test_stats_of_a_small_corpus(tmp_path):
    _corpus(tmp_path)
    s = corpus_stats("mini", tmp_path)
    assert (s.messages, s.ham, s.spam, s.empty_body) == (6, 4, 2, 1)
    assert s.groups == {"g1": 3, "g2": 3} and s.verified
    # "one two three" twice (case and spacing differ) and "x" twice; the empty body is not a group
    assert s.duplicate_bodies == {"messages": 4, "groups": 2}
    # words per message (subject + body): 3, 5, 2, 12, 3, 3
    assert (s.tokens["p50"], s.tokens["p90"], s.tokens["max"]) == (3, 12, 12)
    assert s.tokens["over_256"] == 0


def test_cli_stats_json_is_one_object_and_table_is_readable(tmp_path):
    _corpus(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["data", "stats", "mini", "--json", "--data-dir", str(tmp_path)])
    assert out.exit_code == 0
    d = json.loads(out.output)
    for key in ("messages", "ham", "spam", "verified", "groups", "empty_body", "parse_failures",
                "duplicate_bodies", "tokens"):
        assert key in d
    table = runner.invoke(main, ["data", "stats", "mini", "--data-dir", str(tmp_path)])
    assert table.exit_code == 0 and "duplicate bodies   4 messages in 2 groups" in table.output


@pytest.mark.parametrize("name, expected", [("spam", "challenge data fetch spam"),
                                            ("sms", "challenge data import sms")])
def test_stats_before_fetch_or_import(tmp_path, name, expected):
    out = CliRunner().invoke(main, ["data", "stats", name, "--data-dir", str(tmp_path)])
    assert out.exit_code == 1 and expected in out.output and out.output.count("\n") == 1
