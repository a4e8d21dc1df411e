"""Fair spam bands: measured by `challenge hidden make` on the course corpus, used where the
rubric fixes no thresholds for it, and shown in the report."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace

import pytest
from support.grading import sms_like_corpus, tiny_rubric

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


def _noise(sd):
    return {"whole": sd, "public": sd * 1.4, "private": sd * 1.4, "model": "reference"}


def _flat(sd):
    return {"whole": sd, "public": sd, "private": sd, "model": "reference"}


def test_the_band_is_measured_against_the_noisiest_part_a_grade_is_read_on():
    """The final gradebook reads the private part: a band as wide as the whole set's noise
    would let luck on that half move points."""
    figs = _figs(majority=0.0, tfidf_cnb=0.80, tfidf_logreg=0.85, reference=0.90)
    noise = {"whole": 0.01, "public": 0.012, "private": 0.02, "model": "reference"}
    measured = derive_band(Band("f1", None, None, 30.0, width_sd=3.0), figs, noise)
    assert (measured["noise_part"], measured["noise_sd"]) == ("private", 0.02)
    assert measured["full"] == pytest.approx(0.88)
    assert measured["full"] - measured["floor"] >= 3 * 0.02 - 1e-9
    assert "against the noisiest, 0.0200" in band_note(measured)
    whole_only = derive_band(Band("f1", None, None, 30.0), figs, {"whole": 0.01})
    assert whole_only["noise_part"] == "whole" and whole_only["full"] == pytest.approx(0.89)


def test_band_from_the_noise_sms_figures():
    """The SMS figures of issue 31: noise sd 0.017, reference 0.9655/0.9619/0.9622, ComplementNB
    0.9481, TF-IDF+LR 0.9444 (and 0.924 at threshold 0.5)."""
    band = Band("f1", None, None, 30.0, margin=0.01)
    figs = _figs(majority=0.0, tfidf_cnb=0.9481, tfidf_logreg=0.9444, reference=0.9632)
    figs["reference_runs"] = [{"f1": v} for v in (0.9655, 0.9619, 0.9622)]
    measured = derive_band(band, figs, _noise(0.017))
    # measured against the noise of the noisiest part a grade is read on (a half of the set)
    sd = 0.017 * 1.4
    assert (measured["noise_part"], measured["noise_sd"]) == ("public", pytest.approx(sd))
    assert measured["full"] == pytest.approx(0.9632 - sd, abs=1e-4)
    assert measured["full"] - measured["floor"] >= 3 * sd - 1e-9       # at least k sd wide
    scored = replace(band, floor=measured["floor"], full=measured["full"])
    for run in (0.9655, 0.9619, 0.9622):                  # the reference, whatever its seed
        assert scored.score(run) == 30.0
    cnb, lr, lr_05 = scored.score(0.9481), scored.score(0.9444), scored.score(0.924)
    assert 0 < lr_05 < lr <= cnb <= 30.0
    assert abs(cnb - lr) <= 3.0                           # 0.004 of F1 is not 5.5 points
    assert set(measured["reasons"]) == {"full", "floor"}


def test_band_width_follows_k_and_baselines_earn_partial_credit():
    figs = _figs(majority=0.0, tfidf_cnb=0.80, tfidf_logreg=0.85, reference=0.90)
    narrow = derive_band(Band("f1", None, None, 30.0, width_sd=3.0), figs, _flat(0.01))
    wide = derive_band(Band("f1", None, None, 30.0, width_sd=5.0), figs, _flat(0.01))
    assert narrow["full"] == wide["full"] == pytest.approx(0.89)
    # the weaker baseline sits one sd above the zero line: baseline work earns points
    assert narrow["floor"] == pytest.approx(0.79) and "weaker baseline" in narrow["reasons"]["floor"]
    close = _figs(majority=0.0, tfidf_cnb=0.95, tfidf_logreg=0.96, reference=0.97)
    assert derive_band(Band("f1", None, None, 30.0, width_sd=3.0), close,
                       _flat(0.01))["floor"] == pytest.approx(0.93)
    assert derive_band(Band("f1", None, None, 30.0, width_sd=5.0), close,
                       _flat(0.01))["floor"] == pytest.approx(0.91)
    # a constant never earns points: the zero line is never below the majority class
    acc = derive_band(Band("accuracy", None, None, 30.0), {
        "majority": {"accuracy": 0.86}, "tfidf_cnb": {"accuracy": 0.85},
        "tfidf_logreg": {"accuracy": 0.9}, "reference": {"accuracy": 0.95}}, _flat(0.01))
    assert acc["floor"] == 0.86 and "majority" in acc["reasons"]["floor"]


def test_band_without_the_reference_says_so():
    measured = derive_band(Band("f1", None, None, 30.0, margin=0.02),
                           _figs(majority=0.0, tfidf_cnb=0.7, tfidf_logreg=0.8), _flat(0.01))
    assert measured["full"] == pytest.approx(0.78) and measured["full_from"] == "tfidf_logreg"
    assert "reference was not measured" in measured["notes"][0]
    assert "0 points at 0.6900, full at 0.7800" in band_note(measured)


def test_bootstrap_sd_shrinks_with_the_set_and_is_seeded():
    import random

    from challenge.scoring import bootstrap_sd

    rng = random.Random(0)

    def data(n):
        labels = [int(rng.random() < 0.3) for _ in range(n)]
        scores = [float(y) if rng.random() < 0.9 else 1.0 - y for y in labels]
        return labels, scores

    small, big = data(200), data(3200)
    sd_small = bootstrap_sd(*small, 0.5, "f1", seed=1)
    sd_big = bootstrap_sd(*big, 0.5, "f1", seed=1)
    assert 0 < sd_big < sd_small / 2                       # about 1/sqrt(n)
    assert bootstrap_sd(*small, 0.5, "f1", seed=1) == sd_small
    assert bootstrap_sd(*small, 0.5, "roc_auc", seed=1, rounds=50) > 0


def _raw():
    return tomllib.loads(DEFAULT_RUBRIC.read_text())


def test_rubric_bands_fixed_measured_or_for_one_corpus():
    default = parse_rubric(_raw()).task("spam").quality
    assert (default.floor, default.full, default.corpus, default.margin) == (0.9, 0.95, "spam", 0.01)
    assert (default.width_sd, default.min_positives) == (3.0, 100)
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
    for key, bad in (("width_sd", 0.5), ("width_sd", "3"), ("min_positives", 0),
                     ("min_positives", 2.5)):
        raw = _raw()
        raw["tasks"]["spam"]["quality"][key] = bad
        with pytest.raises(ChallengeError, match=f"{key} = .* is invalid"):
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
    sms_like_corpus(data_dir, n)


def test_hidden_make_measures_the_band_on_another_corpus(tmp_path):
    data = tmp_path / "data"
    _sms_corpus(data)
    rub = _course("sms")
    (tmp_path / "s").write_text("a fixed secret: the same split and bootstrap every run")
    summary = make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub)
    bands = json.loads((data / "hidden/hidden.json").read_text())["spam"]["bands"]
    assert summary["bands"] == bands
    assert set(bands["figures"]) == {"majority", "tfidf_cnb", "tfidf_logreg"}
    assert bands["figures"]["majority"]["f1"] == 0.0
    sd = bands["noise"]["whole"]
    # half the set, about sqrt(2) times the noise in expectation; one bootstrap of one split
    # can fall below that, never far below it
    assert 0 <= sd and bands["noise"]["public"] >= 0.7 * sd
    sd = bands["noise_sd"]                      # the noisiest part's, which the band is against
    assert sd == max(bands["noise"][p] for p in ("whole", "public", "private"))
    best = max(bands["figures"][n]["f1"] for n in ("tfidf_cnb", "tfidf_logreg"))
    assert bands["full"] == pytest.approx(best - max(sd, 0.01), abs=1e-6)
    assert bands["full"] - bands["floor"] >= min(3 * sd, bands["full"]) - 1e-6
    assert bands["inputs"]["width_sd"] == 3.0 and len(bands["inputs_sha256"]) == 16
    task, notes = effective_task(rub.task("spam"), rub, hidden=True, data_dir=data)
    assert (task.quality.floor, task.quality.full) == (bands["floor"], bands["full"])
    assert notes and "measured by `challenge hidden make`" in notes[0]
    # on the dev sets there is no measured band: the rubric's, with a note that it is not fair
    dev_task, dev_notes = effective_task(rub.task("spam"), rub, hidden=False, data_dir=data)
    assert dev_task.quality.floor == 0.9 and "course corpus is 'sms'" in dev_notes[0]


def test_a_rubric_change_the_band_depends_on_is_refused_with_the_fix(tmp_path):
    """The attack on fairness: the instructor edits the margin (or k) after `hidden make`; the
    old band must not silently apply."""
    data = tmp_path / "data"
    _sms_corpus(data)
    rub = _course("sms")
    make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True)
    for change in ({"margin": 0.02}, {"width_sd": 4.0}):
        edited = _course("sms", change)
        with pytest.raises(ChallengeError, match="run `challenge hidden make` again"):
            effective_task(edited.task("spam"), edited, hidden=True, data_dir=data)
    # points only scale the band: a change there takes effect without a new band
    more = _course("sms", {"points": 60.0})
    task, _ = effective_task(more.task("spam"), more, hidden=True, data_dir=data)
    assert task.quality.points == 60.0
    edited = _course("sms", {"margin": 0.02})
    make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=edited)
    task, _ = effective_task(edited.task("spam"), edited, hidden=True, data_dir=data)
    assert task.quality.fixed


def test_hidden_make_refuses_a_hidden_set_too_small_and_grows_it_on_request(tmp_path):
    """289 messages (Ling-Spam part 1's size), a sixth spam: a default test part holds ~10."""
    from click.testing import CliRunner
    from support.grading import write_rubric

    from challenge.cli import main

    data = tmp_path / "data"
    _sms_corpus(data, n=289)
    rub = _course("sms", {"min_positives": 20})
    with pytest.raises(ChallengeError, match=r"needs at least 20 .*--test-fraction 0\.2\d"):
        make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True)
    assert not (data / "hidden").exists() and not (tmp_path / "s").exists()   # nothing written
    made = make_hidden(secret_file=tmp_path / "s", data_dir=data, rubric=rub, new=True,
                       test_fraction=0.3)
    assert made["spam"]["splits"]["test"]["spam"] >= 20
    # the default rubric asks for 100: this corpus cannot give that, so it says to import more
    strict = write_rubric(tmp_path / "r.toml", _course("sms", {"min_positives": 100}))
    out = CliRunner().invoke(main, ["hidden", "make", "--secret-file", str(tmp_path / "s"),
                                    "--rubric", str(strict), "--data-dir", str(data)])
    assert out.exit_code == 1 and out.output.startswith("Error: the hidden spam set")
    assert "import more spam" in out.output and "Traceback" not in out.output


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
        assert entry.tasks["spam"].metrics["whole"]["f1"] == pytest.approx(
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
