"""Training configuration as objects (challenge.tasks.config): the dataclass defaults, a bad
value named by its field, :func:`override`, the CLI changing only the options it is given, and
the sorter's default lengths following the rubric."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import challenge.tasks.sorter
import challenge.tasks.spam
from challenge.cli import main
from challenge.errors import ChallengeError
from challenge.tasks.config import (
    GRADED_LENGTHS,
    STUDENT_MINUTES,
    SorterData,
    SorterLoop,
    SorterModelSettings,
    SorterTraining,
    SpamDataConfig,
    SpamLoop,
    SpamModelSettings,
    SpamTraining,
    course_sorter_training,
    override,
)


class _Stop(ChallengeError):
    pass


def _capture(monkeypatch, module, name: str) -> dict:
    """Replace ``module.name`` (a train function) by one that records its arguments and stops."""
    seen: dict = {}

    def fake(config, **kwargs):
        seen.update(config=config, **kwargs)
        raise _Stop("stopped by the test")

    monkeypatch.setattr(module, name, fake)
    return seen


def test_the_configs_are_frozen_and_nest_their_parts():
    spam = SpamTraining()
    assert (spam.data, spam.model, spam.loop) == (SpamDataConfig(), SpamModelSettings(), SpamLoop())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spam.loop.epochs = 3                                     # type: ignore[misc]
    sorter = SorterTraining()
    assert (sorter.data.min_len, sorter.data.max_len) == GRADED_LENGTHS
    assert sorter.to_dict()["model"] == {"arch": "pointer", "embed_dim": 64, "hidden_size": 128}


def test_override_changes_each_field_where_it_lives_and_nothing_else():
    base = SpamTraining()
    changed = override(base, epochs=3, hidden_size=8, max_length=50, precision="bfloat16")
    assert changed.loop == dataclasses.replace(base.loop, epochs=3)
    assert changed.model == dataclasses.replace(base.model, hidden_size=8)
    assert changed.data == dataclasses.replace(base.data, max_length=50)
    assert changed.precision == "bfloat16" and changed.seed == base.seed
    assert override(base) == base
    with pytest.raises(ChallengeError, match="unknown setting 'epoch' of SpamTraining; use one of "
                                             ".*epochs"):
        override(base, epoch=3)


@pytest.mark.parametrize("build, field", [
    (lambda: override(SpamTraining(), lr=0.0), "loop.lr must be a number > 0, got 0.0"),
    (lambda: override(SpamTraining(), select="f2"), "loop.select must be one of f1, roc_auc, loss"),
    (lambda: override(SpamTraining(), view="headers"), "data.view must be one of subject_body"),
    (lambda: override(SpamTraining(), scheme="weekly"), "scheme must be one of random, temporal"),
    (lambda: override(SpamTraining(), ema_decay=1.5), "loop.ema_decay must be a number in (0, 1)"),
    (lambda: SorterTraining(seed="0"), "seed (--seed) must be an integer, got '0'"),
    (lambda: SorterData(min_len=5, max_len=3), "data.max_len (--max-len) must be an integer at "
                                               "least data.min_len (5)"),
    (lambda: SorterModelSettings(arch="rnn"), "model.arch (--arch) must be one of seq2seq"),
    (lambda: SorterLoop(minutes=None, steps=None), "give a training budget: minutes or steps"),
    (lambda: SorterLoop(batch_size=0), "loop.batch_size must be an integer >= 1, got 0"),
])
def test_a_bad_value_is_refused_naming_its_field(build, field):
    with pytest.raises(ChallengeError) as e:
        build()
    assert field in str(e.value) and "\n" not in str(e.value)


def test_a_bad_config_value_is_one_cli_line_naming_the_field(tmp_path):
    out = tmp_path / "model.pt"
    result = CliRunner().invoke(main, ["train", "sorter", "--vocab", "1", "--out", str(out)])
    assert result.exit_code == 1 and not out.exists()
    assert result.output == "Error: data.vocab (--vocab) must be an integer >= 2, got 1\n"


def test_spam_cli_options_left_out_keep_the_dataclass_defaults(monkeypatch):
    seen = _capture(monkeypatch, challenge.tasks.spam, "train_spam")
    result = CliRunner().invoke(main, ["train", "spam", "--epochs", "2", "--seed", "7"])
    assert result.output.strip().splitlines()[-1] == "Error: stopped by the test"
    expected = dataclasses.replace(
        SpamTraining(), seed=7, loop=dataclasses.replace(SpamLoop(), epochs=2,
                                                         minutes=STUDENT_MINUTES))
    assert seen["config"] == expected and seen["out"] is None and seen["data_dir"] is None
    CliRunner().invoke(main, ["train", "spam", "--minutes", "0", "--precision", "bfloat16"])
    assert seen["config"] == dataclasses.replace(SpamTraining(), precision="bfloat16")


def test_sorter_cli_options_left_out_keep_the_dataclass_defaults(monkeypatch):
    seen = _capture(monkeypatch, challenge.tasks.sorter, "train_sorter")
    result = CliRunner().invoke(main, ["train", "sorter", "--vocab", "7", "--arch", "seq2seq"])
    assert result.exit_code == 1 and "stopped by the test" in result.output
    config = seen["config"]
    assert config.data == dataclasses.replace(course_sorter_training().data, vocab=7)
    assert config.model == SorterModelSettings(arch="seq2seq")
    assert config.loop == SorterLoop() and config.seed == 0 and config.impl is None
    CliRunner().invoke(main, ["train", "sorter", "--max-len", "6", "--minutes", "2"])
    assert (seen["config"].data.max_len, seen["config"].loop.minutes) == (6, 2.0)
    assert seen["config"].data.vocab == SorterData().vocab


def _rubric_with_lengths(tmp_path, min_len: int, max_len: int):
    """A copy of the shipped rubric whose [sorter] grades lengths min_len..max_len."""
    import re

    from challenge.rubric import DEFAULT_RUBRIC, load_rubric

    text = DEFAULT_RUBRIC.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^min_len = \d+", f"min_len = {min_len}", text, count=1)
    text = re.sub(r"(?m)^max_len = \d+", f"max_len = {max_len}", text, count=1)
    path = tmp_path / "rubric.toml"
    path.write_text(text, encoding="utf-8")
    rubric = load_rubric(path)
    assert (rubric.sorter.min_len, rubric.sorter.max_len) == (min_len, max_len)
    return rubric


def test_the_sorter_trains_on_the_rubrics_graded_lengths_by_default(monkeypatch, tmp_path):
    import challenge.rubric

    shipped = challenge.rubric.load_rubric().sorter
    default = course_sorter_training().data
    assert (default.min_len, default.max_len) == (shipped.min_len, shipped.max_len)
    rubric = _rubric_with_lengths(tmp_path, 3, 12)
    # the course's configuration: data/course.toml, as `challenge hidden make` writes it
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "course.toml").write_text(Path(rubric.source).read_text())
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "data"))
    seen = _capture(monkeypatch, challenge.tasks.sorter, "train_sorter")
    CliRunner().invoke(main, ["train", "sorter"])
    assert (seen["config"].data.min_len, seen["config"].data.max_len) == (3, 12)
    CliRunner().invoke(main, ["train", "sorter", "--max-len", "5"])
    assert (seen["config"].data.min_len, seen["config"].data.max_len) == (3, 5)


def test_without_a_readable_rubric_the_sorter_trains_on_1_to_20(monkeypatch):
    import challenge.rubric

    def unreadable(path=None, **kwargs):
        raise ChallengeError("rubric challenge/rubric.toml does not exist")

    monkeypatch.setattr(challenge.rubric, "load_rubric", unreadable)
    data = course_sorter_training().data
    assert (data.min_len, data.max_len) == GRADED_LENGTHS == (1, 20)


def test_without_the_grader_the_sorter_trains_on_1_to_20():
    """As in the student bundle, where grader/ is absent: no rubric to read, the fallback."""
    code = ("import sys; sys.modules['grader'] = None; "
            "from challenge.tasks.config import course_sorter_training as c; "
            "d = c().data; print(d.min_len, d.max_len)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "20"]


def test_train_functions_refuse_anything_but_their_config(tmp_path):
    with pytest.raises(ChallengeError, match="train_sorter takes a SorterTraining, got dict"):
        challenge.tasks.sorter.train_sorter({"max_len": 4}, out=tmp_path / "x.pt")
    with pytest.raises(ChallengeError, match="train_spam takes a SpamTraining, got SorterTraining"):
        challenge.tasks.spam.train_spam(SorterTraining(), data_dir=tmp_path)


def test_the_configs_choices_are_the_tasks_own():
    from challenge.data.corpus import VIEWS
    from challenge.tasks.config import VIEWS as CONFIG_VIEWS

    assert CONFIG_VIEWS == VIEWS
    with pytest.raises(ChallengeError, match="data.view must be one of subject_body, body, full"):
        override(SpamTraining(), view="subject")
