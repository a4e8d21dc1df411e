"""What a student reads: a bonus shown as a bonus, the scale between `challenge check` and
`challenge grade`, `check --verbose` with snippets that reproduce a failure, and the notebook
API whose report renders as a table."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from test_check_cli import MODULE_WRONG, impl_dir  # noqa: F401  (the fixture)

from challenge.checks import all_checks
from challenge.checks.base import CheckFailure, CheckResult
from challenge.cli import main
from challenge.report import GradeReport, QualityResult, TaskResult


def _sorter_report() -> GradeReport:
    """The reference's sorter row: full checks, full quality and the whole bonus."""
    checks = [CheckResult(c.part, c.name, True, 1.0, 1.0, "ok") for c in all_checks(["sorter_model"])]
    for c in checks:
        c.points = c.max_points = 10 / len(checks)
    quality = QualityResult(30.0, 25.0, components=[
        {"metric": "exact_match", "value": 0.996, "points": 25.0, "max_points": 25.0,
         "bonus": False},
        {"metric": "exact_match_long", "value": 0.999, "points": 5.0, "max_points": 5.0,
         "bonus": True}])
    return GradeReport(student="solutions", submission="", sha256="", mode="impl", status="ok",
                       reason="", points=40.0, max_points=35.0, rubric_hash="", grader_version="",
                       torch_version="", tasks={"sorter": TaskResult("sorter", 40.0, 35.0, checks,
                                                                     quality)})


def test_a_bonus_is_shown_beside_the_maximum_not_folded_over_it():
    report = _sorter_report()
    lines = report.summary().splitlines()
    assert lines[0] == "solutions: 35 / 35 points + 5 bonus (impl mode, dev sets, on cpu)"
    assert report.to_dict()["device"] == "cpu"
    assert lines[1].split() == ["sorter", "35.00", "/", "35", "+", "5.00", "bonus"]
    quality = next(ln for ln in lines if ln.strip().startswith("quality"))
    assert quality.split()[:6] == ["quality", "25.00", "/", "25", "+", "5.00"]
    assert not any("40.00" in ln or "30.00 /" in ln for ln in lines)


def test_grade_shows_how_check_points_map_to_its_points():
    raw = sum(c.points for c in all_checks(["sorter_model"]))
    line = next(ln for ln in _sorter_report().summary().splitlines() if "checks" in ln)
    assert f"{raw:g} / {raw:g} on `challenge check`'s scale, x {10 / raw:.3g}" in line


def test_check_shows_how_grade_scales_its_points():
    result = CliRunner().invoke(main, ["check", "--impl", "challenge"])
    line = next(ln for ln in result.output.splitlines() if ln.startswith("`challenge grade`"))
    raw = sum(c.points for c in all_checks(["sorter_model"]))
    assert f"sorter (sorter_model) {raw:g} -> 10" in line
    assert "foundations (lstm_cell, bptt)" in line and "-> 15" in line


def test_verbose_lists_passed_checks_and_a_snippet_that_reproduces_a_failure(impl_dir):  # noqa: F811
    (impl_dir / "tokenizer.py").write_text(MODULE_WRONG)
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir), "-v",
                                       "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert f">>> data, output = reproduce('tokenizer.doubles', seed=3, impl={str(impl_dir)!r})" \
        in result.output
    quiet = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir)])
    assert "reproduce(" not in quiet.output


def test_the_snippet_reproduces_the_failure_with_the_checks_message(impl_dir, capsys):  # noqa: F811
    from challenge import reproduce

    assert reproduce("tokenizer.doubles", impl=str(impl_dir)) == (5, 10)
    wrong = impl_dir.parent / "wrong"
    wrong.mkdir()
    (wrong / "tokenizer.py").write_text(MODULE_WRONG)
    with pytest.raises(CheckFailure, match=r"double\(5\): expected 10, got 7. Hint: multiply"):
        reproduce("tokenizer.doubles", seed=3, impl=str(wrong))
    assert "inputs of tokenizer.doubles (seed 3): 5" in capsys.readouterr().out


def test_the_notebook_api_renders_a_table_with_one_row_per_check(impl_dir):  # noqa: F811
    from challenge import check

    report = check("tokenizer", impl=str(impl_dir))
    table = report._repr_html_()
    assert table.startswith("<table>") and table.count("<tr>") == 1 + 2 + 1   # head, checks, total
    assert "multiply x by 3" in table and "1/2 passed" in table
    assert "tokenizer" in report.summary()


def test_importing_challenge_for_the_notebook_api_does_not_import_torch():
    code = "import sys, challenge; challenge.check; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_train_and_grade_each_say_which_sorter_dev_set_they_measured_on():
    from challenge.tasks.sorter import SorterRun

    run = SorterRun(path="runs/sorter.pt", impl="challenge", arch="pointer",
                    metrics={"exact_match": 0.998, "token_accuracy": 0.999}, steps=600,
                    seconds=240.0, stopped="steps", dev={"size": 500, "seed": 10007})
    assert ("dev exact match 0.9980, token accuracy 0.9990 (this run's own dev set: 500 "
            "sequences of seed 10007; `challenge grade` measures on the rubric's public dev "
            "sets") in run.summary()
    report = _sorter_report().summary()
    assert "sorter: measured on the rubric's public dev sequences" in report
    assert "`challenge train sorter` reports on its own dev set" in report


@pytest.mark.parametrize("line, cause", [
    ("import pandas as pd", "'pandas' is not available to the grader, which gives student "
                            "modules torch, numpy and the standard library only"),
    ("from challenge.batching import pad_batch", "the grader loads each student module on its "
                                                 "own, without the kit or your other modules; "
                                                 "copy the code you need from challenge.batching "
                                                 "into tokenizer.py itself")])
def test_check_applies_submits_import_rule_and_names_the_cause(impl_dir, line, cause):  # noqa: F811
    (impl_dir / "tokenizer.py").write_text(f"import numpy as np\n{line}\n\n\ndef double(x):\n"
                                           f"    return 2 * x\n")
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    row = next(ln for ln in result.output.splitlines() if ln.startswith("tokenizer"))
    assert row.split()[1:] == ["failed", "0/2", "0/5"]
    assert f"x doubles, triples: tokenizer.py line 2 imports {line.split()[1]!r}: {cause}" \
        in result.output
    assert "move that code into" not in result.output


@pytest.mark.parametrize("args, minutes, said", [
    ([], 10.0, "train spam: time budget 10 min (--minutes; 0 for none)"),
    (["--minutes", "2.5"], 2.5, "train spam: time budget 2.5 min"),
    (["--minutes", "0"], None, "train spam: no time budget (--minutes 0)")])
def test_train_spam_has_a_default_time_budget_and_says_it_first(monkeypatch, args, minutes, said):
    import challenge.tasks.spam

    monkeypatch.setenv("CHALLENGE_QUIET", "0")    # the line goes with the progress bar
    seen = {}

    def fake(config, **kwargs):
        seen["minutes"] = config.loop.minutes
        raise challenge.tasks.spam.ChallengeError("stopped by the test")

    monkeypatch.setattr(challenge.tasks.spam, "train_spam", fake)
    result = CliRunner().invoke(main, ["train", "spam", *args])
    assert result.output.splitlines()[0].startswith(said)
    assert seen["minutes"] == minutes


def test_the_student_readme_states_the_rubrics_points():
    """README.students.md gives full marks, and each task's checks, quality and bonus bands,
    as the default rubric has them."""
    from pathlib import Path

    from challenge.rubric import DEFAULT_RUBRIC, load_rubric

    readme = (Path(__file__).resolve().parents[2] / "README.students.md").read_text()
    rubric = load_rubric(DEFAULT_RUBRIC)
    bonus = sum(t.bonus.points for t in rubric.tasks if t.bonus)
    per_task = ", ".join(f"{t.name} {t.max_points:g}" for t in rubric.tasks)
    assert f"Full marks are {rubric.max_points:g} points ({per_task}), plus up to {bonus:g} " \
           f"bonus points." in " ".join(readme.split())
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in readme.splitlines() if line.startswith("| ") and "---" not in line}
    for task in rubric.tasks:
        parts, checks, quality, extra = rows[task.name]
        assert parts == ", ".join(task.parts) and checks == f"{task.checks:g}"
        for band, cell in ((task.quality, quality), (task.bonus, extra)):
            if band is None:
                assert cell == "none"
            else:
                assert cell.startswith(f"{band.points:g}: ")
                assert cell.endswith(f"{band.floor:g} -> {band.full:g}")
