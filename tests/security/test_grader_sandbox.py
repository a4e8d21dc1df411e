"""The sandbox runner: replies come back as plain data, the walls are reported, the world the child
sees is an allow list, and the wall-clock limit of a whole submission is kept."""

from __future__ import annotations

import ast
import os
import sys
import tempfile
from pathlib import Path

import pytest
from support.grading import reference_modules

from challenge.checks import all_checks
from challenge.rubric import Limits
from grader import jail
from grader.sandbox import (
    KIT_ROOT,
    GraderError,
    Unit,
    isolation_problem,
    run_units,
    scratch_parent,
)

WHY = isolation_problem()
sandboxed = pytest.mark.skipif(bool(WHY), reason=f"no sandbox here: {WHY}")


def _units(part: str) -> list[Unit]:
    return [Unit(f"check:{c.key}", "check", {"check": c.key, "data": c.make_inputs(0)}, c.part)
            for c in all_checks([part])]


@sandboxed
def test_units_run_in_one_child_and_reply_plain_data():
    units = _units("bptt")
    run = run_units(units, impl="solutions", limits=Limits(wall_seconds=120, memory_mb=4096))
    assert [r.key for r in run.results] == [u.key for u in units]
    assert all(r.status == "ok" and r.reply["status"] == "ok" for r in run.results)
    assert run.processes == 1 and run.start_seconds > 0
    assert run.isolation["sandbox"] == "bubblewrap"
    assert "memory 4096 MiB and 64 processes for the whole sandbox" in run.isolation["limits"]
    assert run.isolation["network"].startswith("none")
    assert "pid, ipc, uts, network" in run.isolation["namespaces"]
    assert "all capabilities dropped" in run.isolation["privileges"]


def test_without_isolation_the_same_units_run_and_the_report_says_so():
    units = _units("bptt")[:2]
    run = run_units(units, impl="solutions", limits=Limits(wall_seconds=120, memory_mb=4096),
                    isolate=False)
    assert all(r.status == "ok" and r.reply["status"] == "ok" for r in run.results)
    assert run.isolation["sandbox"] == "none"
    assert run.isolation["filesystem"].startswith("not isolated")


@sandboxed
def test_the_submission_wall_clock_limit_is_kept(tmp_path):
    modules = reference_modules()
    (tmp_path / "lstm_cell.py").write_text(modules["lstm_cell"] + "\nwhile True:\n    pass\n")
    units = _units("lstm_cell")
    limits = Limits(wall_seconds=8, check_seconds=60, memory_mb=4096)
    run = run_units(units, impl=str(tmp_path), limits=limits)
    assert run.seconds < 40
    first, rest = run.results[0], run.results[1:]
    assert first.status == "timeout" and "time limit (8 s) ran out" in first.reason, first.reason
    assert all(r.status in ("timeout", "not_run") for r in rest)


def test_a_sandbox_that_cannot_start_in_time_is_a_grader_error_not_a_zero():
    # Far too short for the child to start (Python, torch): no student code ran, so this is the
    # grader's failure, never the student's zero.
    with pytest.raises(GraderError, match="not of the submission"):
        run_units(_units("bptt"), impl="solutions", limits=Limits(wall_seconds=0.3),
                  isolate=False)


def _probe(folder: Path, expression: str, impl_extra: str = "", **kwargs):
    """One bptt check whose module raises ``RuntimeError(repr(expression))`` at import; the
    message, which carries the repr."""
    folder.mkdir(exist_ok=True)
    modules = reference_modules()
    probe = f"\nimport os, sys\n{impl_extra}\nraise RuntimeError(repr({expression}))\n"
    (folder / "bptt.py").write_text(modules["bptt"] + probe)
    run = run_units(_units("bptt")[:1], impl=str(folder),
                    limits=Limits(wall_seconds=60, memory_mb=4096), **kwargs)
    message = run.results[0].reply["message"]
    assert "RuntimeError" in message, message
    return ast.literal_eval(message[message.index("<module>: ") + 10:])


@sandboxed
def test_the_child_sees_an_allow_list_and_nothing_else(tmp_path):
    kit = KIT_ROOT
    secret = kit / f".test-secret-{os.getpid()}.txt"       # a file dropped in the kit
    secret.write_text("s3cret")
    notes = tmp_path / "old-leaderboard.sqlite"              # anywhere else: a backup
    notes.write_text("y_true 1,0,1")
    stray = Path(tempfile.gettempdir()) / f"stray-{os.getpid()}.txt"   # /tmp itself
    stray.write_text("another user's file")
    try:
        paths = [str(kit / ".git"), str(kit / "solutions"), str(kit / "data"),
                 str(kit / "tests"), str(kit / "bench"), str(kit / "grader" / "grade.py"),
                 str(kit / "grader" / "rubric.toml"), str(secret), str(notes),
                 str(scratch_parent()), str(stray), "/home/x", "/sys", "/var/lib",
                 str(kit / "challenge" / "impl.py"), sys.prefix, os.path.realpath(sys.executable),
                 # the kit's runtime modules at /kit, Python under /py: neutral paths
                 f"{jail.KIT}/challenge/impl.py", f"{jail.KIT}/grader/child/runner.py",
                 jail.python_inside(), "/usr/lib"]
        seen = _probe(tmp_path / "m", f"[os.path.exists(p) for p in {paths!r}]")
    finally:
        secret.unlink()
        stray.unlink()
    visible = dict(zip(paths, seen))
    assert [p for p, v in visible.items() if v] == paths[-4:], visible


@sandboxed
def test_nothing_outside_the_work_folder_can_be_written(tmp_path):
    targets = [str(KIT_ROOT / "grader" / "report.py"), str(KIT_ROOT / "challenge" / "impl.py"),
               os.path.realpath(sys.executable), sys.prefix + "/pwned", "/usr/lib/pwned",
               f"{jail.KIT}/challenge/impl.py", f"{jail.KIT}/pwned", jail.python_inside(),
               f"{jail.PY}/lib/pwned",
               "/proc/sys/kernel/core_pattern", "/pwned", "/dev/pwned"]
    code = (f"out = []\nfor p in {targets!r}:\n"
            f"    try:\n        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)\n"
            f"        out.append('WROTE ' + p)\n"
            f"    except OSError as e:\n        out.append(e.errno)\n")
    # without the audit hook (code can get around it): the kernel refuses, with read-only
    # mounts (EROFS), missing folders (ENOENT), permissions (EACCES) or a running program
    # (ETXTBSY)
    seen = _probe(tmp_path / "w", "out", impl_extra=code, audit_hook=False)
    assert not [s for s in seen if isinstance(s, str)], seen
    assert set(seen) <= {30, 2, 13, 26}, seen


@sandboxed
def test_processes_and_memory_are_limited_for_the_sandbox_as_a_whole(tmp_path):
    run = run_units(_units("bptt")[:1], impl="solutions",
                    limits=Limits(wall_seconds=60, memory_mb=1024, max_processes=16))
    assert "memory 1024 MiB and 16 processes for the whole sandbox" in run.isolation["limits"]


def test_the_scripts_folder_on_sys_path_is_not_bound(monkeypatch):
    # the `pytest` (or any console script) of a venv puts the venv's bin/ first on sys.path;
    # bound read-only, it would leave no place for the interpreter's own binding
    from grader import jail

    bin_dir = os.path.dirname(sys.executable)
    monkeypatch.setattr(sys, "path", [bin_dir, *sys.path])
    assert bin_dir not in jail.python_paths()
    assert jail._try() == "" or not jail.bwrap_path()
