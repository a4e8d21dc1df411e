"""One course configuration: the rubric given to `challenge hidden make` becomes the course's
(data/course.toml); every later command reads it without an option, `challenge release` ships
it, and a code-only course (`predictions = false`) publishes and ships no unlabelled texts."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.grading import HAM_WORDS, SPAM_WORDS, tiny_rubric, write_rubric

from challenge.cli import main
from challenge.data.corpus import Message, write_corpus
from challenge.errors import ChallengeError
from challenge.rubric import COURSE_FILE, load_rubric
from challenge.tasks.spam import course_corpus
from grader.release import build_release

UNLABELLED = Path("public") / "spam_test_unlabelled.csv"


def own_mail(data: Path, name: str = "mine", n: int = 90) -> None:
    rng = random.Random(1)
    messages = [Message(id=f"{name}/{i:05d}", group=name, label=int(i % 3 == 0),
                        subject=rng.choice(SPAM_WORDS if i % 3 == 0 else HAM_WORDS),
                        body=" ".join(rng.choice(SPAM_WORDS if i % 3 == 0 else HAM_WORDS)
                                      for _ in range(10)) + f" n{i}")
                for i in range(n)]
    write_corpus(name, messages, {"source": "test"}, data)


def course_rubric(path: Path, *, predictions: bool, corpus: str = "mine") -> Path:
    rubric = tiny_rubric()
    rubric = replace(rubric, hidden=replace(rubric.hidden, spam_corpus=corpus,
                                            predictions=predictions))
    return write_rubric(path, rubric)


def hidden_make(tmp_path: Path, data: Path, rubric: Path) -> None:
    secret = tmp_path / "secret.txt"
    result = CliRunner().invoke(main, ["hidden", "make", "--secret-file", str(secret),
                                       *([] if secret.exists() else ["--new"]), "--rubric",
                                       str(rubric), "--data-dir", str(data)])
    assert result.exit_code == 0, result.output


def test_hidden_make_makes_the_rubric_the_courses_and_release_ships_it(tmp_path):
    data = tmp_path / "data"
    own_mail(data)
    assert course_corpus(data) == "spam"                 # before: the kit's default
    rubric = course_rubric(tmp_path / "course-rubric.toml", predictions=True)
    hidden_make(tmp_path, data, rubric)
    assert (data / COURSE_FILE).read_text() == rubric.read_text()
    assert course_corpus(data) == "mine"                 # train, baseline, evaluate, submit
    assert load_rubric(data_dir=data).hash == load_rubric(rubric).hash
    assert (data / UNLABELLED).is_file()

    bundle = tmp_path / "bundle"
    files = build_release(out=bundle, data=data).files
    assert "data/course.toml" in files and "data/public/spam_test_unlabelled.csv" in files
    assert "data/splits/mine/train.jsonl" in files
    assert course_corpus(bundle / "data") == "mine"      # the students' commands, unedited
    # the course's rubric, with the band hidden make measured fixed for the course corpus
    from challenge.data.lineage import hidden_meta

    measured = hidden_meta(data)[1]["spam"]["bands"]
    course = load_rubric(rubric)
    spam = course.task("spam")
    band = replace(spam.quality, floor=measured["floor"], full=measured["full"], corpus="mine")
    expected = replace(course, tasks=tuple(replace(t, quality=band) if t is spam else t
                                           for t in course.tasks))
    assert load_rubric(data_dir=bundle / "data").canonical() == expected.canonical()


def test_a_code_only_course_publishes_and_ships_no_unlabelled_texts(tmp_path):
    data = tmp_path / "data"
    own_mail(data)
    hidden_make(tmp_path, data, course_rubric(tmp_path / "with.toml", predictions=True))
    assert (data / UNLABELLED).is_file()
    hidden_make(tmp_path, data, course_rubric(tmp_path / "code-only.toml", predictions=False))
    assert not (data / UNLABELLED).exists()              # the earlier file is gone too
    (data / "public").mkdir(exist_ok=True)
    (data / UNLABELLED).write_text("id,text\nm00001,left by hand\n")
    files = build_release(out=tmp_path / "bundle", data=data).files
    assert not [f for f in files if f.startswith("data/public/")]   # never shipped


def test_an_explicit_rubric_still_wins_for_one_command(tmp_path):
    data = tmp_path / "data"
    own_mail(data)
    hidden_make(tmp_path, data, course_rubric(tmp_path / "course.toml", predictions=True))
    other = course_rubric(tmp_path / "other.toml", predictions=True, corpus="spam")
    assert load_rubric(other, data_dir=data).hidden.spam_corpus == "spam"
    assert load_rubric(data_dir=data).hidden.spam_corpus == "mine"


def test_predictions_must_be_true_or_false(tmp_path):
    path = tmp_path / "bad.toml"
    text = course_rubric(tmp_path / "ok.toml", predictions=True).read_text()
    path.write_text(text.replace("predictions = true", 'predictions = "no"'))
    result = CliRunner().invoke(main, ["grade", "--rubric", str(path)])
    assert result.exit_code == 1
    assert "hidden.predictions" in result.output and "true or false" in result.output


def test_the_students_grade_shows_the_hidden_band_shipped_in_the_bundle(tmp_path):
    """`release` ships the measured band's values in data/course.toml; the student's own grade
    on dev reads it and prints it on the quality line with the dev set's noise."""
    from challenge.grading import _band_lines
    from challenge.report import GradeReport, TaskResult
    from challenge.scoring import bootstrap_sd, dev_spam, spam_quality
    from grader.release import with_band

    data = tmp_path / "data"
    own_mail(data)
    hidden_make(tmp_path, data, course_rubric(tmp_path / "r.toml", predictions=False))
    bundle = tmp_path / "bundle"
    build_release(out=bundle, data=data)
    rub = load_rubric(data_dir=bundle / "data")
    task = rub.task("spam")
    dev = dev_spam(rub, data)
    scores = [0.9 if m.label else 0.1 for m in dev.messages]
    scores[0] = 1.0 - scores[0]                                  # one mistake
    quality = spam_quality(task, dev, scores, 0.5)[0]
    for c in quality.components:
        c["noise"] = bootstrap_sd(dev.labels, scores, 0.5, c["metric"], seed=0)
    quality = _band_lines(quality, task, rub)
    report = GradeReport(student="me", submission="", sha256="", mode="impl", status="ok",
                         reason="", points=quality.points, max_points=task.max_points,
                         rubric_hash=rub.hash, grader_version="", torch_version="",
                         tasks={"spam": TaskResult("spam", quality.points, task.max_points,
                                                   quality=quality)})
    band = task.quality
    line = next(ln for ln in report.summary().splitlines() if "quality" in ln)
    assert f"(band {band.floor:.3f} -> {band.full:.3f} on the hidden set; dev noise +-" in line
    # the writer keeps every other line, and refuses a course file without the table
    assert with_band("[a]\nx = 1 # c\n[tasks.spam.quality]\nfloor = 0.1\nfull = 0.2\n"
                     "metric = \"f1\"\n", 0.5, 0.6, "m").splitlines() == [
        "[a]", "x = 1 # c", "[tasks.spam.quality]",
        "# the band `challenge hidden make` measured on the hidden set",
        "floor = 0.5", "full = 0.6", 'corpus = "m"', 'metric = "f1"']
    with pytest.raises(ChallengeError, match=r"no \[tasks.spam.quality\] table"):
        with_band("[tasks.spam]\nchecks = 1\n", 0.5, 0.6, "m")
