"""Grading end to end on tiny hidden sets: the reference earns full marks, the stubs earn zero
with a message each, a regrade is identical, predictions mode, and the CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner
from support.grading import (
    REPO,
    build_zip,
    make_hidden_sets,
    reference_modules,
    sorter_checkpoint,
    spam_checkpoint,
    tiny_rubric,
    write_rubric,
)

from challenge.cli import main
from challenge.impl import STUDENT_MODULES
from challenge.rubric import load_rubric
from grader.grade import grade
from grader.hidden import hidden_spam, make_hidden
from grader.predictions import write_predictions
from grader.reference import reference_checkpoints

RUBRIC = tiny_rubric()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("grade")
    data, runs = root / "data", root / "runs"
    make_hidden_sets(data, RUBRIC)
    sorter = sorter_checkpoint(runs / "grade" / "sorter.pt", RUBRIC, steps=200)
    spam = spam_checkpoint(runs / "grade" / "spam.pt", data)
    return {"root": root, "data": data, "runs": runs, "sorter": sorter, "spam": spam,
            "checkpoints": {"sorter": sorter, "spam": spam}}


@pytest.fixture()
def runs(env, monkeypatch):
    monkeypatch.setenv("CHALLENGE_RUNS_DIR", str(env["runs"]))
    return env["runs"]


def _assert_full_marks(report):
    assert report.status == "ok", report.reason
    for name, task in report.tasks.items():
        failed = [c.message for c in task.checks if not c.passed]
        assert failed == [], (name, failed)
        if task.quality:
            assert task.quality.status == "ok" and task.quality.points >= task.quality.max_points, \
                (name, task.quality)


def test_reference_in_code_mode_earns_full_marks(env, tmp_path):
    z = build_zip(tmp_path / "ref.zip", reference_modules(), env["checkpoints"])
    report = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    _assert_full_marks(report)
    assert report.mode == "code" and report.sets == "hidden" and report.student == "alice"
    assert report.points >= report.max_points == RUBRIC.max_points
    spam = report.tasks["spam"]
    assert spam.quality.metrics["f1"] == 1.0 and set(spam.quality.private) >= {"f1", "roc_auc"}
    assert len(spam.examples["y_true"]) == len(hidden_spam(env["data"]).ids)
    sorter = report.tasks["sorter"]
    assert sorter.quality.metrics["n"] == RUBRIC.sorter.hidden_size
    assert sorter.quality.private and sorter.quality.public
    ex = sorter.examples
    assert len(ex["y_true"]) == len(ex["y_pred"]) == len(ex["private"]) == RUBRIC.sorter.hidden_size
    assert sum(ex["private"]) == RUBRIC.sorter.hidden_size // 2


def test_reference_impl_mode_on_dev_sets(env, runs):
    report = grade(impl="solutions", rubric=RUBRIC, data_dir=env["data"], train=False)
    _assert_full_marks(report)
    assert report.mode == "impl" and report.sets == "dev"
    assert report.tasks["sorter"].quality.private == {}


def test_stubs_earn_zero_with_a_message_per_stub(env, tmp_path, runs):
    report = grade(impl="challenge", hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.points == 0 and report.status == "ok"
    checks = [c for t in report.tasks.values() for c in t.checks]
    assert checks and all(c.message.startswith("not implemented yet: ") for c in checks)
    assert {c.part for c in checks} == set(STUDENT_MODULES)
    stubs = {m: (REPO / "challenge" / f"{m}.py").read_text() for m in STUDENT_MODULES}
    z = build_zip(tmp_path / "stub.zip", stubs, env["checkpoints"])
    report = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.points == 0
    for task in ("spam", "sorter"):
        q = report.tasks[task].quality
        assert q.points == 0 and q.status in ("error", "not_implemented") and "not finished" in q.reason


def test_the_same_submission_graded_twice_is_identical(env, tmp_path):
    modules = reference_modules()
    modules["bptt"] = modules["bptt"].replace("np.tanh(", "np.sin(")   # a wrong student
    z = build_zip(tmp_path / "dave.zip", modules, env["checkpoints"])
    first = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"]).to_dict()
    second = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"]).to_dict()
    assert 0 < first["points"] < first["max_points"]
    assert first == second


def test_predictions_mode(env, tmp_path):
    data = hidden_spam(env["data"])
    perfect = write_predictions(tmp_path / "erin.csv", data.ids, data.labels)
    report = grade(submission=perfect, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.mode == "predictions" and report.status == "ok"
    assert list(report.tasks) == ["spam"]
    assert report.points == report.max_points == RUBRIC.task("spam").quality.points
    assert report.tasks["spam"].quality.metrics["f1"] == 1.0
    assert report.tasks["spam"].examples["y_true"] == data.labels
    flipped = write_predictions(tmp_path / "frank.csv", data.ids, [1 - y for y in data.labels])
    assert grade(submission=flipped, hidden=True, rubric=RUBRIC, data_dir=env["data"]).points == 0
    bad = tmp_path / "gina.csv"
    bad.write_text("id,prediction\n" + f"{data.ids[0]},1\n" * 2)
    report = grade(submission=bad, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.status == "failed" and report.points == 0
    assert "line 3: duplicate id" in report.reason and "missing" in report.reason


def test_cli_json_is_exactly_one_object_and_the_table_names_failures(env, tmp_path):
    rubric_file = write_rubric(tmp_path / "rubric.toml", RUBRIC)
    assert load_rubric(rubric_file).hash == RUBRIC.hash
    modules = reference_modules()
    modules["bptt"] = modules["bptt"].replace("np.tanh(", "np.sin(")
    z = build_zip(tmp_path / "hank.zip", modules, {"sorter": env["sorter"]}, student="hank")
    common = ["--rubric", str(rubric_file), "--data-dir", str(env["data"])]
    runner = CliRunner()
    result = runner.invoke(main, ["grade", "--hidden", str(z), "--json", *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["student"] == "hank" and report["rubric_hash"] == RUBRIC.hash
    assert set(report["tasks"]) == {"spam", "sorter", "foundations"}
    table = runner.invoke(main, ["grade", "--hidden", str(z), *common]).stdout
    assert "foundations" in table and "Failed checks:" in table and "bptt." in table
    missing = runner.invoke(main, ["grade", "--hidden", str(tmp_path / "nope.zip"), *common])
    assert missing.exit_code == 1 and missing.output.startswith("Error: submission")
    assert len(missing.output.strip().splitlines()) == 1


@pytest.mark.parametrize("impl", ["nope-folder", "README.md"])
def test_cli_grading_an_implementation_that_is_not_a_folder_is_one_line(tmp_path, impl):
    (tmp_path / "README.md").write_text("not modules")
    result = CliRunner().invoke(main, ["grade", "--impl", str(tmp_path / impl)])
    assert result.exit_code == 1
    assert result.output == (f"Error: implementation '{tmp_path / impl}': expected 'challenge', "
                             f"'solutions' or a folder of student modules; {tmp_path / impl} is "
                             f"not a folder\n")


def test_cli_exits_1_on_a_submission_it_cannot_grade_and_still_prints_the_report(env, tmp_path):
    rubric_file = write_rubric(tmp_path / "rubric.toml", RUBRIC)
    common = ["--rubric", str(rubric_file), "--data-dir", str(env["data"])]
    broken = tmp_path / "ivy.zip"
    broken.write_bytes(b"PK\x03\x04 cut short")
    runner = CliRunner()
    table = runner.invoke(main, ["grade", "--hidden", str(broken), *common])
    assert table.exit_code == 1, table.output
    assert "FAILED: ivy.zip is not a readable zip file" in table.output
    assert "make the zip again with `challenge submit`" in table.output
    as_json = runner.invoke(main, ["grade", "--submission", str(broken), "--json", *common])
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["status"] == "failed" and report["points"] == 0 and report["student"] == "ivy"


def test_reference_checkpoints_are_reused_only_when_they_fit(env, runs, tmp_path):
    found = reference_checkpoints(RUBRIC, data_dir=env["data"], train=False)
    assert found == {"sorter": env["sorter"], "spam": env["spam"]}
    longer = replace(RUBRIC, sorter=replace(RUBRIC.sorter, max_len=5, long_min_len=6))
    assert set(reference_checkpoints(longer, data_dir=env["data"], train=False)) == {"spam"}
    data = tmp_path / "data"
    shutil.copytree(env["data"], data)
    (tmp_path / "other").write_text("another secret")
    make_hidden(secret_file=tmp_path / "other", data_dir=data, rubric=RUBRIC)   # a new split
    assert set(reference_checkpoints(RUBRIC, data_dir=data, train=False)) == {"sorter"}


def test_the_summary_gives_one_line_per_part_and_message_of_the_failed_checks():
    from challenge.checks.base import CheckResult
    from challenge.report import GradeReport, TaskResult

    def failed(part, name, message):
        return CheckResult(part=part, name=name, passed=False, points=0, max_points=1,
                           message=message, status="error")

    checks = [failed("bptt", "forward_loss", "module bptt failed to import"),
              failed("bptt", "gradient_dV", "module bptt failed to import"),
              failed("bptt", "clip_gradients", "norm is wrong"),
              failed("lstm_cell", "from_scratch", "module bptt failed to import"),
              CheckResult(part="bptt", name="gradient_dc", passed=True, points=1, max_points=1,
                          message="")]
    report = GradeReport(student="alice", submission="", sha256="", mode="impl", status="ok",
                         reason="", points=1.0, max_points=5.0, rubric_hash="", grader_version="",
                         torch_version="",
                         tasks={"foundations": TaskResult("foundations", 1.0, 5.0, checks)})
    failures = report.summary().split("Failed checks:\n")[1].splitlines()
    assert failures == ["  bptt.forward_loss, gradient_dV: module bptt failed to import",
                        "  bptt.clip_gradients: norm is wrong",
                        "  lstm_cell.from_scratch: module bptt failed to import"]


def test_a_grade_without_the_sandbox_says_so():
    from challenge.report import GradeReport

    def summary(sets: str, sandbox: str) -> str:
        return GradeReport(student="alice", submission="alice.zip", sha256="", mode="code",
                           rubric_hash="", grader_version="", torch_version="", sets=sets,
                           status="ok", reason="", points=1.0, max_points=1.0, tasks={},
                           isolation={"sandbox": sandbox, "filesystem": "not isolated: ..."}
                           ).summary()

    assert "NOT ISOLATED: not isolated" in summary("hidden", "none")
    assert "NOT ISOLATED" not in summary("hidden", "bubblewrap")
    own = summary("dev", "none")                     # a student grading their own code
    assert "NOT ISOLATED" in own and "fine for your own code" in own
