"""The real SpamAssassin corpus, end to end (fetched once per session by ``spam_data_dir``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from challenge.data.corpus import load_corpus, load_split, normalise_body
from challenge.data.split import make_split
from challenge.data.stats import corpus_stats

pytestmark = pytest.mark.network

GROUPS = {"easy-ham-1": 2500, "easy-ham-2": 1400, "hard-ham-1": 250, "spam-1": 500, "spam-2": 1396}


def test_real_corpus_counts_and_verification(spam_data_dir):
    s = corpus_stats("spam", spam_data_dir)
    assert (s.messages, s.ham, s.spam) == (6046, 4150, 1896)
    assert s.groups == GROUPS and s.verified and s.parse_failures == 0
    assert 0 < s.empty_body < 30
    assert s.tokens["p50"] < s.tokens["p90"] < s.tokens["p99"]
    meta = json.loads((spam_data_dir / "corpora/spam/meta.json").read_text())
    assert meta["licence"].startswith("Apache-2.0")


def test_real_messages_are_decoded_text(spam_data_dir):
    messages = load_corpus("spam", spam_data_dir)
    assert len({m.id for m in messages}) == 6046
    first = next(m for m in messages if m.id.startswith("easy-ham-1/00001."))
    assert first.subject == "Re: New Sequences Window" and "Date:" in first.headers
    html_left = [m.id for m in messages if m.label and "<html" in m.body.lower()]
    assert html_left == []  # spam HTML was turned into text
    empty = [m for m in messages if not m.body]
    assert all(m.subject for m in empty)


def test_real_split_seed_0(spam_data_dir):
    parts = {p: load_split("spam", p, spam_data_dir) for p in ("train", "dev", "test")}
    assert sum(len(v) for v in parts.values()) == 6046
    assert abs(len(parts["test"]) - 0.2 * 6046) < 15
    test_bodies = {normalise_body(m.body) for m in parts["test"] if m.body}
    assert not any(normalise_body(m.body) in test_bodies for m in parts["train"] + parts["dev"])


def test_real_temporal_split(spam_data_dir, tmp_path):
    (tmp_path / "corpora").symlink_to(spam_data_dir / "corpora")
    result = make_split("spam", seed=0, scheme="temporal", data_dir=tmp_path)
    spam_share = {p: c["spam"] / c["messages"] for p, c in result.counts.items()}
    assert spam_share["train"] < 0.25 < 0.4 < spam_share["test"]  # the shift is real


def test_cli_end_to_end_as_a_subprocess(spam_data_dir):
    env = {**os.environ, "CHALLENGE_DATA_DIR": str(spam_data_dir)}
    cli = [sys.executable, "-c", "from challenge.cli import main; main()"]
    fetch = subprocess.run(cli + ["data", "fetch", "spam"], capture_output=True, text=True, env=env)
    assert fetch.returncode == 0 and "nothing to do" in fetch.stdout
    stats = subprocess.run(cli + ["data", "stats", "spam", "--json"], capture_output=True,
                           text=True, env=env)
    assert stats.returncode == 0 and json.loads(stats.stdout)["messages"] == 6046


def test_reference_encode_gives_the_mapped_tokens_on_every_real_message(spam_data_dir):
    """encode reads ids off the matches by group number; on all 6,046 real messages it must
    give what mapping tokenize's tokens and cutting gives (with and without the limit and the
    special tokens)."""
    from solutions.tokenizer import Tokenizer

    texts = [m.text() for m in load_corpus("spam", spam_data_dir)]
    tok = Tokenizer.train_from_iterator(texts[::2], vocab_size=30000)
    for text in texts:
        mapped = [tok.token_to_id(t) if tok.token_to_id(t) is not None else 1
                  for t in tok.tokenize(text)]
        assert tok.encode(text) == mapped
        assert tok.encode(text, max_length=1000) == mapped[:1000]
        assert tok.encode(text, max_length=9, add_special_tokens=True) == [2, *mapped[:7], 3]
