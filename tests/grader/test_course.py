"""One course configuration: the rubric given to `challenge hidden make` becomes the course's
(data/course.toml); every later command reads it without an option, `challenge release` ships
it, and a code-only course (`predictions = false`) publishes and ships no unlabelled texts."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from support.grading import HAM_WORDS, SPAM_WORDS, tiny_rubric, write_rubric

from challenge.cli import main
from challenge.data.corpus import Message, write_corpus
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
    assert load_rubric(data_dir=bundle / "data").hash == load_rubric(rubric).hash


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
