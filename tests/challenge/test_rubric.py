"""The rubric: the default loads, validation names the bad key, the hash ignores layout."""

from __future__ import annotations

import math
import tomllib

import pytest

from challenge.errors import ChallengeError
from challenge.rubric import DEFAULT_RUBRIC, Band, load_rubric, parse_rubric


def _raw() -> dict:
    return tomllib.loads(DEFAULT_RUBRIC.read_text())


def test_default_rubric_loads_with_the_documented_settings():
    rub = load_rubric()
    assert rub.max_points == 100
    spam, sorter = rub.task("spam"), rub.task("sorter")
    assert (spam.quality.metric, spam.quality.floor, spam.quality.full) == ("f1", 0.90, 0.95)
    assert (sorter.quality.metric, sorter.quality.floor, sorter.quality.full) == ("exact_match", 0.5, 0.99)
    assert sorter.bonus.metric == "exact_match_long"
    s = rub.sorter
    assert (s.low, s.high, s.min_len, s.max_len, s.long_min_len, s.long_max_len) == (0, 99, 1, 20, 21, 30)
    parts = [p for t in rub.tasks for p in t.parts]
    assert sorted(parts) == sorted(["tokenizer", "batching", "spam_model", "sorter_model",
                                    "lstm_cell", "bptt"])


def test_band_is_linear_between_floor_and_full():
    band = Band("f1", 0.90, 0.98, 30.0)
    assert band.score(0.80) == 0.0
    assert band.score(0.90) == 0.0
    assert band.score(0.94) == pytest.approx(15.0)
    assert band.score(0.98) == 30.0
    assert band.score(1.0) == 30.0
    assert band.score(None) == 0.0
    assert band.score(math.nan) == 0.0


def test_hash_ignores_comments_and_layout_but_not_values(tmp_path):
    text = DEFAULT_RUBRIC.read_text()
    stripped = "\n".join(line.split("#")[0].rstrip() for line in text.splitlines()) + "\n\n"
    (tmp_path / "a.toml").write_text(stripped)
    assert load_rubric(tmp_path / "a.toml").hash == load_rubric().hash
    (tmp_path / "b.toml").write_text(text.replace("full = 0.95", "full = 0.96"))
    assert load_rubric(tmp_path / "b.toml").hash != load_rubric().hash


@pytest.mark.parametrize("edit, words", [
    (lambda r: r["tasks"]["spam"]["quality"].update(full=0.5), ["tasks.spam.quality.full", "floor"]),
    (lambda r: r["tasks"]["spam"]["quality"].update(metric="f2"), ["tasks.spam.quality.metric", "f1"]),
    (lambda r: r["tasks"]["spam"].update(checks=-1), ["tasks.spam.checks", ">= 0"]),
    (lambda r: r["tasks"]["spam"].update(colour="red"), ["tasks.spam.colour", "unknown key"]),
    (lambda r: r["tasks"]["foundations"].update(parts=["lstm_cell", "tokenizer"]),
     ["tasks.foundations.parts", "already in spam"]),
    (lambda r: r["tasks"]["foundations"].update(parts=["lstm"]), ["tasks.foundations.parts", "bptt"]),
    (lambda r: r["tasks"]["foundations"].update(quality={"metric": "f1", "floor": 0, "full": 1,
                                                         "points": 1}), ["no trained model"]),
    (lambda r: r["limits"].update(memory_mb=0), ["limits.memory_mb", "above 0"]),
    (lambda r: r["limits"].update(cpu_seconds=1.5), ["limits.cpu_seconds", "integer"]),
    (lambda r: r["limits"].update(wall_seconds="ten"), ["limits.wall_seconds", "number"]),
    (lambda r: r["sorter"].update(long_min_len=20), ["sorter.long_min_len", "above max_len"]),
    (lambda r: r["hidden"].update(public_fraction=1.0), ["hidden.public_fraction"]),
    (lambda r: r.update(extra={}), ["unknown key 'extra'"]),
    (lambda r: r.update(live={"final_submissions": -1}), ["live.final_submissions", "0 or more"]),
    (lambda r: r.update(live={"finals": 2}), ["live.finals", "unknown key"]),
    (lambda r: r["tasks"]["sorter"]["quality"].pop("floor"), ["tasks.sorter.quality", "'floor'"]),
])
def test_bad_rubric_names_the_key(edit, words):
    raw = _raw()
    edit(raw)
    with pytest.raises(ChallengeError) as e:
        parse_rubric(raw, source="r.toml")
    for word in words:
        assert word in str(e.value)


def test_the_live_table_sets_final_submissions_and_leaves_the_hash_alone():
    assert load_rubric().live.final_submissions == 0
    raw = _raw()
    raw["live"] = {"final_submissions": 3}
    rub = parse_rubric(raw)
    assert rub.live.final_submissions == 3
    assert rub.hash == load_rubric().hash       # it scores nothing: no grade goes out of date


def test_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(ChallengeError, match="does not exist"):
        load_rubric(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[limits\nwall = ")
    with pytest.raises(ChallengeError, match="not valid TOML"):
        load_rubric(tmp_path / "bad.toml")
