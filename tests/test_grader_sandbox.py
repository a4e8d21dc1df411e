"""The sandbox runner: replies come back as plain data, the walls are reported, and the wall-clock
limit of a whole submission is kept even when each unit stays within its own."""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from grader.checks import all_checks
from grader.rubric import Limits
from grader.sandbox import KIT_ROOT, Unit, run_units, scratch_parent
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
    assert first.status == "timeout" and "time limit (6 s) ran out" in first.reason, first.reason
    assert all(r.status in ("timeout", "not_run") for r in rest)


def test_a_time_limit_that_runs_out_before_the_child_started_is_a_timeout():
    # Far too short for the child to start (Python, torch, the walls): every unit times out,
    # none "crashed". On a slow machine a 6 s limit ran out this way in one run of CI.
    run = run_units(_units("bptt"), impl="solutions", limits=Limits(wall_seconds=0.5))
    assert all(r.status == "timeout" and "time limit (0.5 s) ran out" in r.reason
               for r in run.results), [(r.status, r.reason) for r in run.results]


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


def _probe(folder, expression: str, error: str = "RuntimeError", **kwargs):
    """Run one bptt check whose module raises ``RuntimeError(repr(expression))`` at import."""
    folder.mkdir(exist_ok=True)
    tmp_path = folder
    modules = reference_modules()
    probe = f"\nimport os\nraise RuntimeError(repr({expression}))\n"
    (tmp_path / "bptt.py").write_text(modules["bptt"] + probe)
    run = run_units(_units("bptt")[:1], impl=str(tmp_path),
                    limits=Limits(wall_seconds=60, memory_mb=4096), **kwargs)
    message = run.results[0].reply["message"]
    assert error in message, message
    return run, message


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux only")
def test_other_runs_scratch_folders_are_hidden(tmp_path):
    other = Path(tempfile.mkdtemp(prefix="run-", dir=scratch_parent()))   # another grading run
    try:
        (other / "reply.pt").write_text("bob's reply")
        run, message = _probe(tmp_path, f"(os.path.exists({str(other / 'reply.pt')!r}), "
                                        f"sorted(os.listdir({str(scratch_parent())!r})))")
        if run.isolation.get("filesystem", "").startswith("mount namespace"):
            seen, listed = ast.literal_eval(message[message.index("("):])
            assert seen is False and len(listed) == 1 and listed[0].startswith("run-")
            assert listed[0] != other.name
    finally:
        shutil.rmtree(other)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux only")
def test_protected_files_are_refused_and_empty(tmp_path):
    # inside the kit (which the child must see): `hidden make --secret-file secret.txt` puts it
    secret = KIT_ROOT / f".test-secret-{os.getpid()}.txt"
    secret.write_text("s3cret")
    try:
        _, message = _probe(tmp_path / "a", f"open({str(secret)!r}).read()", protect=[secret],
                            error="PermissionError")
        assert "refuses to open" in message             # the audit hook, everywhere
        run, message = _probe(tmp_path / "b", f"os.stat({str(secret)!r}).st_size",
                              protect=[secret])
        if run.isolation.get("filesystem", "").startswith("mount namespace"):
            assert message.endswith(": 0")               # and under it, an empty file
        assert secret.read_text() == "s3cret"            # the grader's own copy is untouched
    finally:
        secret.unlink()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="namespaces are Linux only")
def test_only_the_system_python_and_the_kit_are_visible(tmp_path):
    notes = tmp_path / "old-leaderboard.sqlite"             # anywhere else: a backup, a copy
    notes.write_text("y_true 1,0,1")
    seen = f"[os.path.exists(p) for p in ({str(notes)!r}, {str(KIT_ROOT / 'challenge')!r}, " \
           f"{sys.prefix!r}, '/usr/lib')]"
    run, message = _probe(tmp_path / "m", seen)
    if run.isolation.get("filesystem", "").startswith("mount namespace"):
        assert message.endswith("[False, True, True, True]"), message
