"""bench/bands.py: the band it reports is the one `hidden make` stored, the baselines it grades
as a student would earn what `hidden make` measured for them, and issue 31's checks read those
figures (each one able to fail)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest
from support.grading import sms_like_corpus, tiny_rubric, write_rubric

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import bands as bench_bands  # noqa: E402  (bench/bands.py)


def _course_with_band(tmp_path: Path) -> tuple[Path, dict]:
    from challenge.data.lineage import hidden_meta
    from challenge.rubric import load_rubric
    from grader.hidden import make_hidden

    data = tmp_path / "data"
    sms_like_corpus(data, 150)
    rub = tiny_rubric()
    rub = replace(rub, hidden=replace(rub.hidden, spam_corpus="sms"))
    (tmp_path / "secret").write_text("a fixed secret: the same split and bootstrap every run")
    course = write_rubric(tmp_path / "course.toml", rub)   # hidden make keeps it as the course's
    make_hidden(secret_file=tmp_path / "secret", data_dir=data, rubric=load_rubric(course))
    return data, hidden_meta(data)[1]["spam"]["bands"]


def test_the_bench_reads_the_stored_band_and_grades_the_baselines_as_measured(tmp_path,
                                                                              monkeypatch):
    data, stored = _course_with_band(tmp_path)
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(data))
    band = bench_bands.band_figures(data)
    assert (band["floor"], band["full"]) == (stored["floor"], stored["full"])
    assert band["width"] == pytest.approx(stored["full"] - stored["floor"], abs=1e-6)
    assert band["width_in_sd"] == pytest.approx(band["width"] / stored["noise_sd"], abs=1e-3)
    assert band["baselines_f1"] == {k: stored["figures"][k]["f1"]
                                    for k in ("tfidf_logreg", "tfidf_cnb")}

    pred = bench_bands.predictions_points(data)
    for key in ("tfidf_logreg", "tfidf_cnb"):   # at its dev threshold: what hidden make measured
        assert pred[key]["f1_whole"] == pytest.approx(stored["figures"][key]["f1"], abs=1e-4)
        assert 0 <= pred[key]["points_whole"] <= pred[key]["max_points"]
    assert "tfidf_logreg_at_0.5" in pred
    assert set(bench_bands.checks(band, pred)) == {
        "band_at_least_3_sd", "tfidf_lr_strictly_between_0_and_full",
        "cnb_and_lr_within_3_points"}


def test_each_check_fails_on_figures_that_miss_it():
    band = {"width_in_sd": 3.0}
    pred = {"tfidf_logreg": {"points_whole": 20.0, "max_points": 30.0},
            "tfidf_cnb": {"points_whole": 22.5, "max_points": 30.0}}
    assert all(bench_bands.checks(band, pred).values())
    assert not bench_bands.checks({"width_in_sd": 2.9}, pred)["band_at_least_3_sd"]
    for points in (0.0, 30.0):                  # a baseline at zero or at full marks
        lr = {**pred, "tfidf_logreg": {"points_whole": points, "max_points": 30.0}}
        assert not bench_bands.checks(band, lr)["tfidf_lr_strictly_between_0_and_full"]
    far = {**pred, "tfidf_cnb": {"points_whole": 23.5, "max_points": 30.0}}
    assert not bench_bands.checks(band, far)["cnb_and_lr_within_3_points"]
    ref = bench_bands.checks(band, pred, {"points": 99.5, "max_points": 100})
    assert ref["reference_full_marks_on_spamassassin"] is False
    assert bench_bands.checks(band, pred, {"points": 100, "max_points": 100})[
        "reference_full_marks_on_spamassassin"] is True
