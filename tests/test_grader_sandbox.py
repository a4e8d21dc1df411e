"""The sandbox runner: replies come back as plain data, the walls are reported, and the wall-clock
limit of a whole submission is kept even when each unit stays within its own."""

from __future__ import annotations

import os
import sys

import pytest

from grader.checks import all_checks
from grader.rubric import Limits
from grader.sandbox import Unit, run_units
from test_grader_support import reference_modules


def _units(part: str) -> list[Unit]:
    return [Unit(f"check:{c.key}", "check", {"check": c.key, "data": c.make_inputs(0)}, c.part)
            for c in all_checks([part])]


def test_units_run_in_one_child_and_reply_plain_data():
    units = _units("bptt")
    run = run_units(units, impl="solutions", limits=Limits(wall_seconds=120, memory_mb=4096))
    assert [r.key for r in run.results] == [u.key for u in units]
    assert all(r.status == "ok" and r.reply["status"] == "ok" for r in run.results)
    assert run.processes == 1
    assert run.isolation["audit_hook"] == "on" and "memory 4096 MiB" in run.isolation["limits"]
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        assert run.isolation["network"].startswith("network namespace")
        assert run.isolation["filesystem"].startswith("mount namespace")
        assert run.isolation["processes"] == "pids cgroup"
        assert run.isolation["pid_namespace"] == "on"
        assert run.isolation["privileges"].startswith("capabilities dropped")


def test_the_submission_wall_clock_limit_is_kept(tmp_path):
    modules = reference_modules()
    (tmp_path / "lstm_cell.py").write_text(modules["lstm_cell"] + "\nwhile True:\n    pass\n")
    units = _units("lstm_cell")
    limits = Limits(wall_seconds=6, check_seconds=60, memory_mb=4096)
    run = run_units(units, impl=str(tmp_path), limits=limits)
    assert run.seconds < 30
    first, rest = run.results[0], run.results[1:]
    assert first.status == "timeout" and "time limit (6 s) ran out" in first.reason
    assert all(r.status in ("timeout", "not_run") for r in rest)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux only")
def test_protected_folders_are_hidden_from_the_child(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "labels.txt").write_text("1,0,1")
    modules = reference_modules()
    probe = f"\nimport os\nraise RuntimeError(str(os.path.exists({str(secret / 'labels.txt')!r})))\n"
    (tmp_path / "bptt.py").write_text(modules["bptt"] + probe)
    run = run_units(_units("bptt")[:1], impl=str(tmp_path), protect=[secret],
                    limits=Limits(wall_seconds=60, memory_mb=4096))
    message = run.results[0].reply["message"]
    if run.isolation.get("filesystem", "").startswith("mount namespace"):
        assert "RuntimeError" in message and message.endswith("False")   # not even there
    else:
        assert "RuntimeError" in message
