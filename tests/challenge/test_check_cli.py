"""``challenge check``: the summary table, --json, a part at a time, and exit codes.

The checks here are stand-ins registered under ``challenge.checks.<part>`` so that the report's
shape is tested independently of the real checks; one test runs the real checks on the stubs.
"""

from __future__ import annotations

import json
import types

import pytest
from click.testing import CliRunner

from challenge.checks import PARTS
from challenge.checks.base import Check, expect_equal
from challenge.cli import main

MODULE_OK = '''
def double(x):
    return 2 * x

def triple(x):
    raise NotImplementedError("multiply x by 3")
'''

MODULE_WRONG = '''
def double(x):
    return x + 2

def triple(x):
    return [][x]
'''


def _fake_checks() -> types.ModuleType:
    def verify_double(data, output):
        expect_equal(output, 2 * data, "double(5)", hint="multiply, do not add")

    def verify_triple(data, output):
        expect_equal(output, 3 * data, "triple(5)")

    mod = types.ModuleType("challenge.checks.tokenizer")
    mod.CHECKS = [
        Check("tokenizer", "doubles", 2.0, lambda seed: 5, lambda m, d: m.double(d), verify_double),
        Check("tokenizer", "triples", 3.0, lambda seed: 5, lambda m, d: m.triple(d), verify_triple),
    ]
    return mod


@pytest.fixture
def impl_dir(tmp_path, monkeypatch):
    """A folder implementation whose tokenizer is MODULE_OK, checked by the stand-in checks."""
    monkeypatch.setitem(__import__("sys").modules, "challenge.checks.tokenizer", _fake_checks())
    folder = tmp_path / "impl"
    folder.mkdir()
    (folder / "tokenizer.py").write_text(MODULE_OK)
    return folder


def test_summary_table_reports_points_and_messages(impl_dir):
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if line.startswith("tokenizer"))
    assert row.split() == ["tokenizer", "failed", "1/2", "2/5"]
    assert "x triples: not implemented yet: multiply x by 3" in result.output
    assert "doubles" not in result.output.replace("x doubles", "")  # passing checks stay quiet
    assert "to do: tokenizer" in lines[-1]


def test_failing_checks_are_feedback_not_a_crash(impl_dir):
    (impl_dir / "tokenizer.py").write_text(MODULE_WRONG)
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir)])
    assert result.exit_code == 0, result.output
    assert "x doubles: double(5): expected 10, got 7. Hint: multiply, do not add" in result.output
    assert "x triples: raised IndexError at tokenizer.py:6 in triple" in result.output
    assert "Traceback" not in result.output


def test_module_that_does_not_import_is_reported_per_check(impl_dir):
    (impl_dir / "tokenizer.py").write_text("def double(x)\n    return x\n")
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir), "--json"])
    assert result.exit_code == 0, result.output
    part = json.loads(result.stdout)["parts"][0]
    assert part["status"] == "failed" and part["points"] == 0
    assert all("failed to import: SyntaxError" in c["message"] for c in part["checks"])


def test_json_is_one_object_with_every_check(impl_dir):
    result = CliRunner().invoke(main, ["check", "tokenizer", "--impl", str(impl_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["impl"], report["points"], report["max_points"]) == (str(impl_dir), 2.0, 5.0)
    [part] = report["parts"]
    assert (part["part"], part["passed"], part["total"], part["status"]) == ("tokenizer", 1, 2,
                                                                             "failed")
    assert [(c["name"], c["status"]) for c in part["checks"]] == [("doubles", "passed"),
                                                                   ("triples", "not_implemented")]


def test_unknown_part_is_a_one_line_error_listing_the_parts():
    result = CliRunner().invoke(main, ["check", "lstm"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: unknown part 'lstm'; expected one of {', '.join(PARTS)}"]


def test_unknown_impl_is_an_error(tmp_path):
    result = CliRunner().invoke(main, ["check", "bptt", "--impl", str(tmp_path / "nowhere")])
    assert result.exit_code != 0
    assert "Error:" in result.output and "nowhere" in result.output
    assert "Traceback" not in result.output


def test_real_checks_on_the_stubs_say_not_implemented():
    """The shipped stubs: every check of every part with checks is 'not implemented yet'."""
    result = CliRunner().invoke(main, ["check", "--impl", "challenge", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [p["part"] for p in report["parts"]] == list(PARTS)
    parts = [p for p in report["parts"] if p["total"]]
    assert parts, "no part has public checks"
    for part in parts:
        assert part["status"] == "not_implemented", part
        assert all(c["message"].startswith("not implemented yet: ") and len(c["message"]) > 25
                   for c in part["checks"])


def test_an_endless_loop_fails_its_checks_instead_of_hanging_check(tmp_path, capsys):
    from pathlib import Path

    from challenge.checks import run_local
    root = Path(__file__).resolve().parents[2]
    text = (root / "solutions" / "batching.py").read_text()
    assert "def pad_batch(" in text
    (tmp_path / "batching.py").write_text(
        text.replace("def pad_batch(", "def _pad_batch_unused(", 1)
        + "\n\ndef pad_batch(*args, **kwargs):\n    while True:\n        pass\n")
    in_order = run_local(str(tmp_path), ["batching"], seconds=1.0, after_timeout=0.2)
    results = {r.name: r for r in in_order}
    stuck = [r for r in in_order if "took longer than" in r.message]
    assert len(stuck) >= 2 and all(not r.passed and r.status == "error" for r in stuck)
    assert stuck[0].message.startswith("took longer than 1 s and was stopped (an endless loop?")
    for later in stuck[1:]:     # once one check ran past the limit, the rest of the part get less
        assert later.message.startswith("took longer than 0.2 s and was stopped: an earlier "
                                        "batching check already ran past 1 s")
    assert results["sampler_deterministic"].passed      # the other checks still ran

    looping = tmp_path / "loops"
    looping.mkdir()
    (looping / "batching.py").write_text("while True:\n    pass\n")
    results = run_local(str(looping), ["batching"], seconds=0.5)
    assert all("module batching took longer than 0.5 s to import" in r.message for r in results)
