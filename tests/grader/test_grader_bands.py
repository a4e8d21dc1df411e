"""Fair spam bands: measured by `challenge hidden make` on the course corpus, used where the
rubric fixes no thresholds for it, and shown in the report."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace

import pytest
from support.grading import HAM_WORDS, SPAM_WORDS, tiny_rubric

from challenge.data.corpus import Message, write_corpus
from challenge.errors import ChallengeError
from challenge.rubric import DEFAULT_RUBRIC, Band, parse_rubric
from grader.bands import band_note, derive_band, effective_task
from grader.hidden import make_hidden


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    """No reference checkpoint of the checkout's runs/ folder is ever looked at."""
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))


def _figs(**f1):
    return {name: {"f1": value} for name, value in f1.items()}


def test_band_from_baselines_and_reference():
    band = Band("f1", None, None, 30.0, margin=0.01)
    measured = derive_band(band, _figs(majority=0.0, tfidf_cnb=0.80, tfidf_logreg=0.85,
                                       reference=0.90))
    assert (measured["floor"], measured["full"]) == (0.80, 0.89)
    assert (measured["floor_from"], measured["full_from"]) == ("tfidf_cnb", "reference")
    assert measured["notes"] == []
    scored = replace(band, floor=measured["floor"], full=measured["full"])
    assert scored.score(0.90) == 30.0 and scored.score(0.80) == 0.0 and scored.score(0.845) == 15.0
    # a majority class above ComplementNB (a corpus with little spam scored on accuracy)
    acc = derive_band(replace(band, metric="f1"), _figs(majority=0.86, tfidf_cnb=0.80,
                                                        tfidf_logreg=0.9, reference=0.95))
    assert acc["floor"] == 0.86 and acc["floor_from"] == "majority"


def test_band_where_complementnb_reaches_the_reference():
    band = Band("f1", None, None, 30.0, margin=0.01)
    measured = derive_band(band, _figs(majority=0.0, tfidf_cnb=0.9882, tfidf_logreg=0.9869,
                                       reference=0.9855))
    assert measured["full"] == 0.9755 and measured["floor"] == 0.9555
    assert "comes within 0.02 of the full line" in measured["notes"][0]
    # the reference still earns every point
    assert replace(band, floor=measured["floor"], full=measured["full"]).score(0.9855) == 30.0


def test_band_without_the_reference_says_so():
    measured = derive_band(Band("f1", None, None, 30.0, margin=0.02),
                           _figs(majority=0.0, tfidf_cnb=0.7, tfidf_logreg=0.8))
    assert measured["full"] == 0.78 and measured["full_from"] == "tfidf_logreg"
    assert "reference was not measured" in measured["notes"][0]
    assert "0 points at 0.7000, full at 0.7800" in band_note(measured)


def _raw():
    return tomllib.loads(DEFAULT_RUBRIC.read_text())


def test_rubric_bands_fixed_measured_or_for_one_corpus():
    default = parse_rubric(_raw()).task("spam").quality
    assert (default.floor, default.full, default.corpus, default.margin) == (0.9, 0.95, "spam", 0.01)
    raw = _raw()
    del raw["tasks"]["spam"]["quality"]["floor"], raw["tasks"]["spam"]["quality"]["full"]
    measured = parse_rubric(raw).task("spam").quality
    assert not measured.fixed and measured.score(0.99) == 0.0
    raw = _raw()
    del raw["tasks"]["spam"]["quality"]["full"]
    with pytest.raises(ChallengeError, match="needs both 'floor' and 'full'"):
        parse_rubric(raw)
    raw = _raw()
    del raw["tasks"]["sorter"]["quality"]["floor"], raw["tasks"]["sorter"]["quality"]["full"]
    with pytest.raises(ChallengeError, match="only the spam task has measured bands"):
        parse_rubric(raw)
    raw = _raw()
    raw["tasks"]["spam"]["quality"]["margin"] = 0.7
    with pytest.raises(ChallengeError, match="margin = 0.7 is invalid"):
        parse_rubric(raw)


def _course(corpus: str, band: dict | None = None):
    rub = tiny_rubric()
    rub = replace(rub, hidden=replace(rub.hidden, spam_corpus=corpus))
    if band is not None:
        spam = rub.task("spam")
        tasks = tuple(replace(t, quality=replace(t.quality, **band)) if t is spam else t
                      for t in rub.tasks)
        rub = replace(rub, tasks=tasks)
    return rub


def _sms_corpus(data_dir, n=150):
    import random

    rng = random.Random(1)
    msgs = []
    for i in range(n):
        label = int(i % 4 == 0)
        words = [rng.choice(SPAM_WORDS if label and rng.random() < 0.7 else HAM_WORDS)
                 for _ in range(8)]
        msgs.append(Message(id=f"line-{i:06d}", group="imported", label=label, subject="",
                            body=" ".join(words) + f" n{i}"))
    write_corpus("sms", msgs, {"source": "test"}, data_dir)


def test_hidden_make_measures_the_band_on_another_corpus(tmp_path):
    data = tmp_path / "data"
    _sms_corpus(data)
    rub = _course("sms")
    summary = make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True)
    bands = json.loads((data / "hidden/hidden.json").read_text())["spam"]["bands"]
    assert summary["bands"] == bands
    assert set(bands["figures"]) == {"majority", "tfidf_cnb", "tfidf_logreg"}
    assert bands["figures"]["majority"]["f1"] == 0.0
    floor = max(bands["figures"]["tfidf_cnb"]["f1"], 0.0)
    assert bands["floor"] == pytest.approx(min(floor, bands["full"] - 0.02))
    best = max(bands["figures"][n]["f1"] for n in ("tfidf_cnb", "tfidf_logreg"))
    assert bands["full"] == pytest.approx(best - 0.01)
    task, notes = effective_task(rub.task("spam"), rub, hidden=True, data_dir=data)
    assert (task.quality.floor, task.quality.full) == (bands["floor"], bands["full"])
    assert notes and "measured by `challenge hidden make`" in notes[0]
    # on the dev sets there is no measured band: the rubric's, with a note that it is not fair
    dev_task, dev_notes = effective_task(rub.task("spam"), rub, hidden=False, data_dir=data)
    assert dev_task.quality.floor == 0.9 and "course corpus is 'sms'" in dev_notes[0]


def test_explicit_thresholds_win(tmp_path):
    data = tmp_path / "data"
    _sms_corpus(data)
    rub = _course("sms", {"corpus": ""})          # the instructor's thresholds, any corpus
    summary = make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True)
    assert summary["bands"] is None
    task, notes = effective_task(rub.task("spam"), rub, hidden=True, data_dir=data)
    assert (task.quality.floor, task.quality.full, notes) == (0.9, 0.95, [])
    mine = _course("sms", {"corpus": "sms", "floor": 0.5, "full": 0.6})
    task, notes = effective_task(mine.task("spam"), mine, hidden=True, data_dir=data)
    assert (task.quality.floor, task.quality.full, notes) == (0.5, 0.6, [])


def test_add_baselines_grades_them_like_students(tmp_path):
    from grader.board.leaderboard import Leaderboard
    from grader.board.rows import add_baselines

    data = tmp_path / "data"
    _sms_corpus(data)
    rub = _course("sms")
    bands = make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True)["bands"]
    rows = add_baselines(db=tmp_path / "lb.sqlite", rubric=rub, data_dir=data)
    assert [r.name for r in rows] == ["__baseline__ ComplementNB", "__baseline__ TF-IDF+LR"]
    assert all(r.new and r.status == "ok" for r in rows)
    with Leaderboard(tmp_path / "lb.sqlite", readonly=True) as store:
        entries = {e.student: e for e in store.entries()}
    for name, key in (("__baseline__ ComplementNB", "tfidf_cnb"),
                      ("__baseline__ TF-IDF+LR", "tfidf_logreg")):
        entry = entries[name]
        assert entry.kind == "baseline"
        # the same figures hidden make measured: predictions at the model's own threshold
        assert entry.tasks["spam"].metrics["all"]["f1"] == pytest.approx(
            bands["figures"][key]["f1"], abs=1e-6)
    again = add_baselines(db=tmp_path / "lb.sqlite", rubric=rub, data_dir=data)
    assert not any(r.new for r in again)


def test_cli_hidden_make_prints_the_measured_band(tmp_path):
    from click.testing import CliRunner
    from support.grading import write_rubric

    from challenge.cli import main

    data = tmp_path / "data"
    _sms_corpus(data)
    rubric = write_rubric(tmp_path / "rubric.toml", _course("sms"))
    out = CliRunner().invoke(main, ["hidden", "make", "--secret-file", str(tmp_path / "s"),
                                    "--new", "--rubric", str(rubric), "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    assert "spam quality: f1 band measured by `challenge hidden make`" in out.output
    assert "reference was not measured" in out.output
