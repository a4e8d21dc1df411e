"""bench/token_view.py: a baseline fitted on the raw text and on the text as the reference model
reads it (token ids decoded back to words); checked on a corpus whose two classes differ only
in what the tokenizer throws away (the digits of a number)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import token_view as bench_token_view  # noqa: E402  (bench/token_view.py)


def _tokenizer(texts: list[str]):
    from challenge.impl import load_module

    return load_module("solutions", "tokenizer").Tokenizer.train_from_iterator(
        texts, vocab_size=100, min_frequency=2)


def test_the_token_view_is_what_the_model_reads():
    from challenge.tasks.config import SpamDataConfig

    tokenizer = _tokenizer(["call me at 10", "call me at 11:30", "see you"])
    seen = bench_token_view.token_view(tokenizer, ["Call 08712460324 ME, zebra"],
                                       SpamDataConfig())
    assert seen == ["call <num> me <unk> <unk>"]      # number class, lowercased, rare -> <unk>
    cut = bench_token_view.token_view(tokenizer, ["call me call me"],
                                      SpamDataConfig(max_length=3))
    assert cut == ["call me call"]                    # the reference's truncation


def test_a_lead_that_lives_in_the_digits_is_gone_on_the_token_view(tmp_path):
    """Ham says "call me at 10:30", spam "call me at 08712460324": the raw text tells them
    apart, the token view (both ``<num>``) cannot."""
    from challenge.data.importers import import_corpus

    rng = random.Random(0)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    lines = []
    for i in range(300):
        spam = i % 3 == 0
        number = f"0871{rng.randrange(10**7):07d}" if spam else f"{rng.randrange(1, 12)}:30"
        filler = " ".join(rng.choice(words) for _ in range(4))
        lines.append(f"{'spam' if spam else 'ham'}\tcall me at {number} {filler} {i % 50}")
    source = tmp_path / "tiny.tsv"
    source.write_text("\n".join(lines) + "\n")
    data_dir = tmp_path / "data"
    import_corpus("digits", "tsv", source, data_dir=data_dir)

    out = bench_token_view.one_split("digits", 0, str(data_dir), ["tfidf_logreg"])
    figures = out["tfidf_logreg"]
    assert figures["raw"]["f1"] > 0.95
    assert figures["tokens"]["roc_auc"] < 0.75
    assert figures["tokens"]["f1"] < figures["raw"]["f1"] - 0.2


def test_data_changes_one_field_of_the_token_view_and_refuses_a_bad_one():
    assert bench_token_view.data_config(["min_frequency=1", "lowercase=false"]).min_frequency == 1
    assert bench_token_view.data_config(["lowercase=false"]).lowercase is False
    with pytest.raises(SystemExit, match="KEY one of"):
        bench_token_view.data_config(["min_freq=1"])
    with pytest.raises(SystemExit, match="min_frequency"):
        bench_token_view.data_config(["min_frequency=0"])
