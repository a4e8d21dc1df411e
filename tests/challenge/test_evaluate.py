"""`challenge evaluate`: a spam checkpoint on any corpus part, and the corpus it records."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from test_spam_task import SMALL, TINY, _toy_messages, make_toy_dir

from challenge.checkpoint import load_checkpoint
from challenge.cli import main
from challenge.data.corpus import Message, load_split, write_corpus
from challenge.data.lineage import corpus_sha256
from challenge.errors import ChallengeError
from challenge.evaluate import evaluate_spam
from challenge.metrics import binary_metrics
from challenge.tasks.config import SpamTraining, override
from challenge.tasks.spam import train_spam
from challenge.tasks.spam_predict import load_spam_predictor


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = make_toy_dir(tmp_path_factory.mktemp("eval-data"))
    other = [Message(id=f"o{i}", group="imported", label=m.label, subject=m.subject,
                     body=m.body) for i, m in enumerate(_toy_messages(60, seed=5))]
    write_corpus("other", other, {"source": "synthetic"}, root)
    # "kaggle": the same collection re-packaged, as Kaggle's spam.csv is the UCI SMS set: five
    # training texts with their case and spacing changed, beside fresh ones
    train = load_split("spam", "train", root)[:5]
    copies = [Message(id=f"k{i}", group="imported", label=m.label, subject="",
                      body="  " + m.body.upper().replace(" ", "   ") + "\n")
              for i, m in enumerate(train)]
    write_corpus("kaggle", copies + other[:25], {"source": "synthetic"}, root)
    config = override(SpamTraining(), epochs=2, data=SMALL, corpus="spam", **TINY)
    run = train_spam(config, data_dir=root, out=root / "spam.pt", progress=False)
    return root, run.path


def test_checkpoint_records_its_corpus_and_dev_figures_match(trained):
    root, path = trained
    config = load_checkpoint(path)["config"]
    assert config["corpus"] == "spam" and config["corpus_sha256"] == corpus_sha256("spam", root)
    result = evaluate_spam(path, corpus="spam", part="dev", data_dir=root)
    from challenge.tasks.spam import load_texts

    texts, labels = load_texts("spam", "dev", data_dir=root)
    predictor = load_spam_predictor(path)
    expected = binary_metrics(labels, predictor.predict_proba(texts), predictor.threshold)
    assert (result.f1, result.roc_auc, result.threshold) == (expected.f1, expected.roc_auc,
                                                             predictor.threshold)
    assert result.messages == len(labels) and result.notes == []


def test_other_corpus_all_part_notes_transfer(trained):
    root, path = trained
    result = evaluate_spam(path, corpus="other", part="all", data_dir=root)
    assert result.messages == 60 and result.spam == 20
    assert result.notes == ["the checkpoint was trained on corpus 'spam', not on 'other'"]
    with pytest.raises(ChallengeError, match=r"split part 'dev' of corpus 'other' not found"):
        evaluate_spam(path, corpus="other", part="dev", data_dir=root)
    with pytest.raises(ChallengeError, match="no hidden test part here"):
        evaluate_spam(path, corpus="other", part="test", data_dir=root)


def test_cli_evaluate_json_and_errors(trained):
    root, path = trained
    runner = CliRunner()
    ok = runner.invoke(main, ["evaluate", str(path), "--corpus", "spam", "--part", "test",
                              "--json", "--data-dir", str(root)])
    assert ok.exit_code == 0, ok.output
    figures = json.loads(ok.output)
    assert figures["part"] == "test" and set(figures) >= {"f1", "precision", "recall",
                                                          "roc_auc", "threshold"}
    text = runner.invoke(main, ["evaluate", str(path), "--corpus", "spam", "--data-dir",
                                str(root)])
    assert text.exit_code == 0 and "F1 " in text.output and "threshold" in text.output
    bad = runner.invoke(main, ["evaluate", str(path), "--part", "train", "--data-dir", str(root)])
    assert bad.exit_code == 1 and "unknown part 'train'" in bad.output
    missing = runner.invoke(main, ["evaluate", str(root / "nope.pt"), "--data-dir", str(root)])
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_grade_note_for_a_checkpoint_of_another_corpus(trained):
    from grader.bands import checkpoint_note

    root, path = trained
    assert checkpoint_note(path, "spam", root) == ""
    assert checkpoint_note(path, "other", root) == ("the checkpoint was trained on corpus "
                                                    "'spam', not on 'other'")
    corpus = root / "corpora" / "spam" / "messages.jsonl"
    before = corpus.read_bytes()
    try:
        corpus.write_bytes(before + b"\n")                   # the same name, another version
        assert "another version of corpus 'spam'" in checkpoint_note(path, "spam", root)
    finally:
        corpus.write_bytes(before)
    assert checkpoint_note(root / "missing.pt", "spam", root) == ""


def test_shared_training_texts_are_counted_and_named(trained):
    root, path = trained
    result = evaluate_spam(path, corpus="kaggle", part="all", data_dir=root)
    assert result.messages == 30 and result.shared == 5 and result.other_corpus
    shared = [n for n in result.notes if "share a normalised body" in n]
    assert len(shared) == 1 and shared[0].startswith("5 of 30 messages (16.7%)")
    assert "overstate transfer" in shared[0] and "'spam'" in shared[0]
    clean = evaluate_spam(path, corpus="other", part="all", data_dir=root)
    assert clean.shared == 0 and not any("share" in n for n in clean.notes)
    same = evaluate_spam(path, corpus="spam", part="dev", data_dir=root)
    assert same.shared == 0 and not same.other_corpus      # the split is duplicate-aware


def test_overlap_unknown_when_the_training_split_is_missing(trained, tmp_path):
    root, path = trained
    alone = tmp_path / "data"
    write_corpus("other", load_split("spam", "dev", root), {"source": "synthetic"}, alone)
    result = evaluate_spam(path, corpus="other", part="all", data_dir=alone)
    assert result.shared is None
    assert any(n.startswith("could not check for texts shared with the training data")
               for n in result.notes)


def test_roc_auc_first_on_another_corpus_only(trained):
    root, path = trained
    other = evaluate_spam(path, corpus="kaggle", part="all", data_dir=root).summary()
    figures = other.splitlines()[0]
    assert "5 shared with its training data" in figures
    assert figures.index("ROC-AUC") < figures.index("F1 ")
    same = evaluate_spam(path, corpus="spam", part="dev", data_dir=root).summary()
    assert same.splitlines()[0].index("F1 ") < same.splitlines()[0].index("ROC-AUC")


def test_threshold_stored_best_and_value(trained):
    root, path = trained
    stored = evaluate_spam(path, corpus="other", part="all", data_dir=root)
    best = evaluate_spam(path, corpus="other", part="all", data_dir=root, threshold="best")
    fixed = evaluate_spam(path, corpus="other", part="all", data_dir=root, threshold="0.9")
    predictor = load_spam_predictor(path)
    assert stored.threshold == predictor.threshold and stored.threshold_mode == "stored"
    assert stored.f1 == stored.stored_f1 and best.f1 == best.best_f1 == stored.best_f1
    assert best.threshold == best.best_threshold and best.threshold_mode == "best"
    assert best.best_f1 >= stored.stored_f1            # the best on these labels bounds it
    assert fixed.threshold == 0.9 and fixed.threshold_mode == "value"
    assert fixed.stored_f1 == stored.f1 and fixed.roc_auc == stored.roc_auc
    line = stored.summary().splitlines()[1]
    assert (f"F1 at the stored threshold {stored.stored_threshold:.4f}: {stored.stored_f1:.4f}"
            in line and f"best threshold for this part {stored.best_threshold:.4f}" in line)
    for bad in ("1.5", "nan", "median", "-0.1"):
        with pytest.raises(ChallengeError, match="use stored, best or a number"):
            evaluate_spam(path, corpus="other", part="all", data_dir=root, threshold=bad)


def test_cli_threshold_option(trained):
    root, path = trained
    runner = CliRunner()
    ok = runner.invoke(main, ["evaluate", str(path), "--corpus", "kaggle", "--part", "all",
                              "--threshold", "best", "--json", "--data-dir", str(root)])
    assert ok.exit_code == 0, ok.output
    figures = json.loads(ok.output)
    assert figures["threshold_mode"] == "best" and figures["shared"] == 5
    assert {"best_f1", "stored_f1", "best_threshold", "stored_threshold"} <= set(figures)
    bad = runner.invoke(main, ["evaluate", str(path), "--threshold", "high", "--data-dir",
                               str(root)])
    assert bad.exit_code == 1 and bad.output.startswith("Error: unknown threshold 'high'")
    assert "Traceback" not in bad.output
