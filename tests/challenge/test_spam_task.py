"""The spam task end to end on a tiny synthetic corpus (seconds, no network): training, the
checkpoint round trip, prediction for the grader, clear errors, and the CLI; plus one
network-marked run on the real corpus."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from challenge.checkpoint import load_checkpoint
from challenge.cli import main
from challenge.data.corpus import Message, load_split, write_corpus
from challenge.data.split import make_split
from challenge.errors import ChallengeError
from challenge.metrics import binary_metrics
from challenge.tasks.config import SpamTraining, override
from challenge.tasks.spam import load_texts, train_spam
from challenge.tasks.spam_predict import (
    SpamDataConfig,
    SpamPredictor,
    bfloat16_supported,
    load_spam_predictor,
    predict_messages,
)

SPAM_WORDS = "free offer click winner cash prize viagra unsubscribe".split()
HAM_WORDS = "meeting patch build kernel review lunch thanks agenda".split()
FILLER = "the a to of and in for on with this that is are was".split()
TINY = {"embed_dim": 8, "hidden_size": 8}
SMALL = SpamDataConfig(vocab_size=200, min_frequency=1, max_length=40, batch_size=8)


def spam_config(**changes) -> SpamTraining:
    """The default SpamTraining with ``changes``, each by its field name."""
    return override(SpamTraining(), **changes)


def _toy_messages(n: int = 160, seed: int = 0) -> list[Message]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        spam = int(i % 3 == 0)
        words = rng.sample(SPAM_WORDS if spam else HAM_WORDS, 3) + rng.sample(FILLER, 6)
        rng.shuffle(words)
        era = 1 if i < n // 2 else 2
        group = f"spam-{era}" if spam else f"easy-ham-{era}"
        out.append(Message(id=f"{group}/{i:05d}", group=group, label=spam,
                           subject=" ".join(words[:2]), body=" ".join(words[2:]) + f" n{i}"))
    return out


def make_toy_dir(root: Path) -> Path:
    """A data folder holding the toy corpus and a random split of it."""
    write_corpus("spam", _toy_messages(), {"source": "synthetic"}, root)
    make_split("spam", seed=0, scheme="random", data_dir=root)
    return root


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    return make_toy_dir(tmp_path_factory.mktemp("toy-data"))


@pytest.fixture(scope="module")
def toy_run(toy_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "toy.pt"
    run = train_spam(spam_config(epochs=20, data=SMALL, lr=1e-2, warmup_steps=0, patience=None,
                                 **TINY), data_dir=toy_dir, out=out, progress=False)
    return run


def test_training_learns_the_toy_corpus_and_saves_a_checkpoint(toy_run):
    assert toy_run.metrics["f1"] == 1.0 and toy_run.metrics["roc_auc"] == 1.0
    assert 0.0 < toy_run.threshold < 1.0 and toy_run.scheme == "random"
    ckpt = load_checkpoint(toy_run.path)
    assert {"state_dict", "config", "tokenizer", "metrics", "threshold"} <= set(ckpt)
    assert ckpt["config"]["task"] == "spam" and ckpt["config"]["model"]["hidden_size"] == 8
    assert ckpt["threshold"] == toy_run.threshold
    assert "dev F1 1.0000" in toy_run.summary()


def test_checkpoint_round_trip_reproduces_the_dev_metrics(toy_run, toy_dir):
    """The dev metrics were measured on the in-memory model; the reloaded one must agree."""
    texts, labels = load_texts("spam", "dev", data_dir=toy_dir)
    predictor = load_spam_predictor(toy_run.path)
    scores = predictor.predict_proba(texts)
    m = binary_metrics(labels, scores, predictor.threshold)
    assert m.f1 == toy_run.metrics["f1"] and m.roc_auc == toy_run.metrics["roc_auc"]
    y = np.asarray(labels)
    p = np.clip(scores, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert loss == pytest.approx(toy_run.metrics["loss"], abs=1e-9)
    # order does not matter: batching sorts by length, results come back in input order
    again = predictor.predict_proba(texts[::-1])
    assert np.allclose(again[::-1], scores, atol=1e-6)


def test_predict_messages_for_the_grader(toy_run, toy_dir):
    test = load_split("spam", "test", toy_dir)
    dicts = [{"id": str(i), "subject": m.subject, "body": m.body, "headers": ""}
             for i, m in enumerate(test)]
    scores, threshold = predict_messages(toy_run.path, dicts, impl="solutions")
    assert isinstance(scores, torch.Tensor) and scores.shape == (len(test),)
    assert scores.dtype == torch.float32 and isinstance(threshold, float)
    predicted = (scores.numpy() >= threshold).astype(int).tolist()
    assert predicted == [m.label for m in test]
    assert predict_messages(toy_run.path, [])[0].shape == (0,)


def _word_predictor(data: SpamDataConfig):
    from challenge.impl import load_module
    from solutions.spam_model import SpamClassifier, SpamModelConfig
    from solutions.tokenizer import Tokenizer
    tok = Tokenizer.train_from_iterator([" ".join(f"w{i}" for i in range(40))], min_frequency=1)
    model = SpamClassifier(SpamModelConfig(vocab_size=len(tok), embed_dim=4, hidden_size=4))
    return tok, SpamPredictor(tok, model, load_module("solutions", "batching"), data)


def test_head_and_tail_truncation_keeps_the_end_of_long_messages():
    text = " ".join(f"w{i}" for i in range(30))
    tok, head_only = _word_predictor(SpamDataConfig(max_length=10))
    ids_of = lambda words: [tok.token_to_id(w) for w in words]   # noqa: E731
    assert head_only.encode([text]) == [ids_of(f"w{i}" for i in range(10))]
    _, both = _word_predictor(SpamDataConfig(max_length=10, tail_length=3))
    expected = ids_of([f"w{i}" for i in range(7)] + ["w27", "w28", "w29"])
    short = " ".join(f"w{i}" for i in range(10))
    assert both.encode([text, short]) == [expected, ids_of(short.split())]
    # a text beyond max_chars (10 tokens * 4 chars): the tail comes from its real end
    _, cut = _word_predictor(SpamDataConfig(max_length=10, tail_length=3, chars_per_token=4))
    assert cut.encode([text]) == [expected]


def test_tail_length_must_leave_room_for_the_head(toy_dir, tmp_path):
    with pytest.raises(ChallengeError, match=r"data.tail_length must be an integer >= 0 and "
                                             r"below data.max_length \(10\), got 10"):
        train_spam(spam_config(data=SpamDataConfig(max_length=10, tail_length=10)),
                   data_dir=toy_dir, out=tmp_path / "x.pt", progress=False)
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.skipif(not bfloat16_supported(), reason="this CPU cannot run an LSTM in bfloat16 "
                    "(test_without_bfloat16_instructions_... covers such CPUs)")
def test_bfloat16_scoring_is_stored_and_close_to_float32(toy_dir, tmp_path):
    kw = dict(data_dir=toy_dir, progress=False)
    config = spam_config(epochs=3, data=SMALL, **TINY)
    run = train_spam(override(config, precision="bfloat16"), out=tmp_path / "bf.pt", **kw)
    assert load_checkpoint(run.path)["config"]["precision"] == "bfloat16"
    predictor = load_spam_predictor(run.path)
    assert predictor.precision == "bfloat16"
    texts, _ = load_texts("spam", "dev", data_dir=toy_dir)
    low = predictor.predict_proba(texts)
    predictor.precision = "float32"
    full = predictor.predict_proba(texts)
    assert not np.array_equal(low, full)             # autocast really ran in bfloat16 ...
    assert np.allclose(low, full, atol=0.05)          # ... and stays close to float32
    with pytest.raises(ChallengeError, match="precision must be one of float32, bfloat16, got "
                                             "'float16'"):
        train_spam(override(config, precision="float16"), out=tmp_path / "x.pt", **kw)
    assert not (tmp_path / "x.pt").exists()


def test_without_bfloat16_instructions_training_is_refused_and_checkpoints_score_in_float32(
        toy_dir, tmp_path, monkeypatch):
    import challenge.tasks.spam as spam_task
    import challenge.tasks.spam_predict as spam_predict

    kw = dict(data_dir=toy_dir, progress=False)
    config = spam_config(epochs=1, data=SMALL, **TINY)
    run = train_spam(config, out=tmp_path / "f32.pt", **kw)
    monkeypatch.setattr(spam_task, "bfloat16_supported", lambda: False)
    monkeypatch.setattr(spam_predict, "bfloat16_supported", lambda: False)
    with pytest.raises(ChallengeError, match="cannot run the LSTM in bfloat16.*--precision "
                                             "float32"):
        train_spam(override(config, precision="bfloat16"), out=tmp_path / "bf.pt", **kw)
    assert not (tmp_path / "bf.pt").exists()
    # A bfloat16 checkpoint made elsewhere is still scored here, in float32.
    texts, _ = load_texts("spam", "dev", data_dir=toy_dir)
    predictor = load_spam_predictor(run.path)
    full = predictor.predict_proba(texts)
    predictor.precision = "bfloat16"
    assert np.array_equal(predictor.predict_proba(texts), full)


def test_same_seed_same_checkpoint(toy_dir, tmp_path):
    kw = dict(data_dir=toy_dir, progress=False)
    config = spam_config(epochs=1, data=SMALL, **TINY)
    a = load_checkpoint(train_spam(config, out=tmp_path / "a.pt", **kw).path)["state_dict"]
    b = load_checkpoint(train_spam(config, out=tmp_path / "b.pt", **kw).path)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_split_says_how_to_make_one(tmp_path):
    with pytest.raises(ChallengeError) as e:
        train_spam(data_dir=tmp_path, progress=False)
    assert "challenge data fetch spam" in str(e.value)
    assert "challenge data split spam --seed 0" in str(e.value)


def test_scheme_must_match_the_split_on_disk(toy_dir, tmp_path):
    with pytest.raises(ChallengeError, match="on disk is 'random', not 'temporal'"):
        train_spam(spam_config(scheme="temporal"), data_dir=toy_dir, out=tmp_path / "x.pt",
                   progress=False)
    assert not (tmp_path / "x.pt").exists()


def test_not_a_spam_checkpoint_is_refused(tmp_path):
    from challenge.checkpoint import save_checkpoint
    path = save_checkpoint(tmp_path / "s.pt", state_dict={}, config={"task": "sorter"})
    with pytest.raises(ChallengeError, match="not a spam checkpoint"):
        load_spam_predictor(path)


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_train_prints_dev_metrics_as_json(toy_dir, tmp_path):
    out = tmp_path / "cli.pt"
    result = CliRunner().invoke(main, ["train", "spam", "--epochs", "1", "--data-dir", str(toy_dir),
                                       "--out", str(out), "--embedding-init", "random", "--json"])
    assert result.exit_code == 0, result.output
    run = json.loads(result.output)
    assert run["path"] == str(out) and out.is_file()
    assert set(run["metrics"]) >= {"f1", "precision", "recall", "accuracy", "roc_auc"}
    assert load_checkpoint(out)["config"]["train"]["embedding_init"] == "random"


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "loop.epochs (--epochs) must be an integer >= 1, got 0"),
    (["--scheme", "temporal"], "challenge data split spam --scheme temporal"),
    (["--minutes", "-1"], "loop.minutes (--minutes) must be a number > 0 or None, got -1.0"),
    (["--seed", "1.5"], "Invalid value for '--seed'"),
    (["--embedding-init", "glove"], "Invalid value for '--embedding-init'"),
    (["--adversarial", "-1"], "Invalid value for '--adversarial'"),
    (["--adversarial", "nan"], "adversarial (--adversarial) must be a number >= 0 (0: off), got "
                               "nan"),
])
def test_cli_bad_input_is_one_line_without_traceback(toy_dir, tmp_path, args, message):
    out = tmp_path / "bad.pt"
    result = CliRunner().invoke(main, ["train", "spam", "--data-dir", str(toy_dir),
                                       "--out", str(out), *args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    if not message.startswith("Invalid value"):      # ours: one line, exit 1 (click's: usage too)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert not out.exists()


def test_cli_unfinished_stub_names_it(toy_dir, tmp_path):
    stub = tmp_path / "impl"
    stub.mkdir()
    root = Path(__file__).resolve().parents[2]
    for name in ("tokenizer", "batching"):
        (stub / f"{name}.py").write_text((root / "solutions" / f"{name}.py").read_text())
    (stub / "spam_model.py").write_text((root / "challenge" / "spam_model.py").read_text())
    result = CliRunner().invoke(main, ["train", "spam", "--impl", str(stub), "--epochs", "1",
                                       "--data-dir", str(toy_dir), "--out", str(tmp_path / "s.pt")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: spam_model.py in ")
    assert "SpamClassifier.__init__" in lines[0] and "--impl solutions" in lines[0]


def _train_edited(toy_dir, tmp_path, module: str, edit) -> str:
    """`challenge train spam` on the reference modules with ``edit`` applied to ``module``'s
    source: it must fail with exit code 1, one line, no traceback and no checkpoint written;
    returns that line."""
    stub = tmp_path / "impl"
    stub.mkdir()
    root = Path(__file__).resolve().parents[2]
    for name in ("tokenizer", "batching", "spam_model"):
        text = (root / "solutions" / f"{name}.py").read_text()
        if name == module:
            edited = edit(text)
            assert edited != text, "the edit must change the module"
            text = edited
        (stub / f"{name}.py").write_text(text)
    out = tmp_path / "s.pt"
    result = CliRunner().invoke(main, ["train", "spam", "--impl", str(stub), "--epochs", "1",
                                       "--data-dir", str(toy_dir), "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and not out.exists(), result.output
    return lines[0]


def test_cli_a_config_the_student_model_refuses_is_one_line(toy_dir, tmp_path):
    line = _train_edited(toy_dir, tmp_path, "spam_model",
                         lambda t: t.replace('    pooling: str = "max"', "", 1))
    assert "spam_model in " in line and "'pooling'" in line
    assert "keep SpamModelConfig's fields" in line


@pytest.mark.parametrize("module, old, new, missing", [
    ("tokenizer", "class Tokenizer:", "class Tok:", "has no Tokenizer;"),
    ("tokenizer", "    def encode_batch(", "    def encode_many(",
     "has no Tokenizer.encode_batch;"),
    ("batching", "def collate(", "def collate_batch(", "has no collate;"),
], ids=["class", "method", "function"])
def test_cli_a_renamed_stub_name_is_one_line(toy_dir, tmp_path, module, old, new, missing):
    line = _train_edited(toy_dir, tmp_path, module, lambda t: t.replace(old, new))
    assert f"{module} in " in line and missing in line


@pytest.mark.parametrize("tail, reason", [
    ("def broken(:\n", "SyntaxError: invalid syntax at batching.py:"),
    ("RATIO = 1 / 0\n", "ZeroDivisionError: division by zero at batching.py:"),
], ids=["syntax", "runtime"])
def test_cli_a_module_that_fails_to_import_is_one_line(toy_dir, tmp_path, tail, reason):
    line = _train_edited(toy_dir, tmp_path, "batching", lambda t: t + tail)
    assert "batching in " in line and "failed to import" in line
    assert reason in line and "challenge check batching" in line


@pytest.mark.parametrize("returned, said", [
    ("self.head(self.dropout(summary))", r"shape \((\d+), 1\) for a batch of \1 messages; it "
                                         r"must return float logits of shape \(\1,\) \(squeeze"),
    ("(self.head(self.dropout(summary)).squeeze(-1) + bag, summary)",
     r"returned a tuple for a batch"),
], ids=["not_squeezed", "tuple"])
def test_cli_logits_of_the_wrong_shape_are_one_line(toy_dir, tmp_path, returned, said):
    # the reference's return line, its wide part (``bag``) included, made wrong
    line = _train_edited(toy_dir, tmp_path, "spam_model", lambda t: t.replace(
        "return self.head(self.dropout(summary)).squeeze(-1) + bag", f"return {returned}"))
    assert "SpamClassifier.forward returned" in line and re.search(said, line), line


def test_cli_baseline_reports_both_models(toy_dir):
    result = CliRunner().invoke(main, ["baseline", "spam", "--data-dir", str(toy_dir), "--test",
                                       "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["scheme"] == "random"
    assert [m["name"] for m in report["models"]] == ["tfidf_logreg", "tfidf_cnb"]
    assert all(m["test"]["f1"] == 1.0 for m in report["models"])


@pytest.fixture(scope="module")
def imported_dir(tmp_path_factory) -> Path:
    """A data folder holding only an imported corpus "mine" (the toy messages as a TSV), split."""
    from challenge.data.importers import import_corpus

    root = tmp_path_factory.mktemp("imported")
    lines = [f"{'spam' if m.label else 'ham'}\t{m.subject} {m.body}" for m in _toy_messages()]
    (root / "mine.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_corpus("mine", "tsv", root / "mine.tsv", data_dir=root / "data")
    make_split("mine", seed=0, data_dir=root / "data")
    return root / "data"


def test_cli_trains_and_baselines_an_imported_corpus(imported_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))
    args = ["--data-dir", str(imported_dir)]
    missing = CliRunner().invoke(main, ["train", "spam", *args])      # the default is 'spam'
    assert missing.exit_code == 1 and "no split of corpus 'spam'" in missing.output
    result = CliRunner().invoke(main, ["train", "spam", "--corpus", "mine", "--epochs", "1",
                                       "--embedding-init", "random", "--json", *args])
    assert result.exit_code == 0, result.output
    path = tmp_path / "runs" / "spam" / "solutions-random-mine.pt"
    assert json.loads(result.output)["path"] == str(path)
    assert json.loads(result.output)["corpus"] == "mine"
    assert load_checkpoint(path)["config"]["corpus"] == "mine"
    base = CliRunner().invoke(main, ["baseline", "spam", "--corpus", "mine", "--json", *args])
    assert base.exit_code == 0, base.output
    assert json.loads(base.output)["corpus"] == "mine"


def test_the_rubric_names_the_course_corpus_for_train_and_submit(imported_dir, tmp_path,
                                                                 monkeypatch):
    import challenge.rubric
    from challenge.submit import checkpoint_candidates

    rubric = tmp_path / "rubric.toml"
    rubric.write_text(challenge.rubric.DEFAULT_RUBRIC.read_text(encoding="utf-8").replace(
        'spam_corpus = "spam"', 'spam_corpus = "mine"'), encoding="utf-8")
    monkeypatch.setattr(challenge.rubric, "DEFAULT_RUBRIC", rubric)
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(imported_dir))
    result = CliRunner().invoke(main, ["train", "spam", "--epochs", "1", "--embedding-init",
                                       "random", "--json"])
    assert result.exit_code == 0, result.output
    path = Path(json.loads(result.output)["path"])
    assert path.name == "solutions-random-mine.pt"
    assert checkpoint_candidates("spam", "solutions")[0] == path


def test_cli_end_to_end_as_a_subprocess(toy_dir, tmp_path):
    out = tmp_path / "sub.pt"
    exe = Path(sys.executable).parent / "challenge"     # the installed entry point
    proc = subprocess.run([str(exe), "train", "spam", "--epochs", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CHALLENGE_DATA_DIR": str(toy_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "dev F1" in proc.stdout and out.is_file()


# --- the real corpus -----------------------------------------------------------------------------

@pytest.mark.network
@pytest.mark.slow
def test_brief_training_on_the_real_corpus_beats_a_floor(spam_data_dir, tmp_path):
    """Two short epochs on 2 CPU cores (about a minute) already separate real spam well."""
    data = SpamDataConfig(max_length=200)
    run = train_spam(spam_config(epochs=2, data=data), data_dir=spam_data_dir,
                     out=tmp_path / "real.pt", progress=False)
    texts, labels = load_texts("spam", "test", data_dir=spam_data_dir)
    predictor = load_spam_predictor(run.path)
    m = binary_metrics(labels, predictor.predict_proba(texts), predictor.threshold)
    assert m.f1 > 0.9, m.summary()


def _forward_with_a_shape_error(text: str) -> str:
    return text.replace("return self.head(self.dropout(summary)).squeeze(-1)",
                        "return self.head(torch.cat([summary, summary], -1)).squeeze(-1)")


@pytest.mark.parametrize("flag", [[], ["--traceback"]], ids=["short", "traceback"])
def test_an_error_in_the_students_forward_shows_their_line_and_shapes_first(toy_dir, tmp_path,
                                                                             flag):
    impl = tmp_path / "impl"
    impl.mkdir()
    root = Path(__file__).resolve().parents[2]
    for name in ("tokenizer", "batching", "spam_model"):
        text = (root / "solutions" / f"{name}.py").read_text()
        (impl / f"{name}.py").write_text(_forward_with_a_shape_error(text)
                                         if name == "spam_model" else text)
    out = tmp_path / "s.pt"
    result = CliRunner().invoke(main, ["train", "spam", "--impl", str(impl), "--epochs", "1",
                                       "--data-dir", str(toy_dir), "--out", str(out), *flag])
    assert result.exit_code == 1 and not out.exists()
    tail = ("\n" + result.output)[("\n" + result.output).index("\nError: ") + 1:].splitlines()
    assert tail[0].startswith("Error: your code raised RuntimeError while training the spam "
                              "model: mat1 and mat2 shapes cannot be multiplied")
    assert re.fullmatch(r"  spam_model\.py:\d+ in forward: return self\.head\(torch\.cat\(.*",
                        tail[1]), tail
    assert re.match(r"  tensors there: ids \(\d+, \d+\), lengths \(\d+,\), .*summary \(\d+, \d+\)",
                    tail[2]), tail
    assert tail[-1] == "  (the full traceback: run the same command with --traceback)"
    assert len(tail) <= 6
    shown = "Traceback" in result.output and "linear.py" in result.output
    assert shown == bool(flag)
