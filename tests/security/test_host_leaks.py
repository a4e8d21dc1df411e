"""Nothing of the host: what the sandboxed child can read of the processes it sees (their
environment and command line) holds no host variable and no bubblewrap bind list; and each
sandbox gets the same CPU weight, so one submission cannot starve another."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.grading import reference_modules

from challenge.checks import all_checks
from challenge.rubric import Limits
from grader import cgroups
from grader.sandbox import Unit, isolation_problem, run_units

WHY = isolation_problem()
sandboxed = pytest.mark.skipif(bool(WHY), reason=f"no sandbox here: {WHY}")

READ_PROCS = '''
def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError as e:
        return f"<{e.errno}>"
def _env(pid):
    pairs = [kv.split("=", 1) for kv in _read(f"/proc/{pid}/environ").split("\\0") if "=" in kv]
    return {k: v for k, v in pairs if k in ("PATH", "HOME")} | {"keys": len(pairs)}
_SEEN = {pid: {"env": _env(pid), "argv": _read(f"/proc/{pid}/cmdline").split("\\0")[:3],
               "marker": "h0st-value" in _read(f"/proc/{pid}/environ"),
               "binds": "--ro-bind" in _read(f"/proc/{pid}/cmdline")}
         for pid in os.listdir("/proc") if pid.isdigit()}
'''


def _seen_from_inside(folder: Path, monkeypatch) -> dict:
    """Every process the child sees, with its environment and command line, as the message of
    a RuntimeError raised at import (the reply carries it)."""
    monkeypatch.setenv("HOST_ONLY_MARKER", "h0st-value")        # what the grader's env holds
    folder.mkdir()
    (folder / "bptt.py").write_text(reference_modules()["bptt"] + "\nimport os\n" + READ_PROCS
                                    + "raise RuntimeError(repr(_SEEN))\n")
    check = all_checks(["bptt"])[0]
    unit = Unit(f"check:{check.key}", "check", {"check": check.key, "data": check.make_inputs(0)},
                check.part)
    run = run_units([unit], impl=str(folder), limits=Limits(wall_seconds=60, memory_mb=4096))
    message = run.results[0].reply["message"]
    assert "RuntimeError" in message, message
    return ast.literal_eval(message[message.index("<module>: ") + 10:])


@sandboxed
def test_the_child_sees_no_host_environment_and_no_bubblewrap_command_line(tmp_path,
                                                                           monkeypatch):
    seen = _seen_from_inside(tmp_path / "m", monkeypatch)
    assert list(seen) == ["1"]                     # the child alone: no bubblewrap process
    child = seen["1"]
    assert not child["marker"] and not child["binds"]
    assert child["env"] == {"PATH": "/usr/bin:/bin", "HOME": "/sandbox/work", "keys": 14}
    assert "bwrap" not in child["argv"][0] and child["argv"][1] == "-I"


def _cgroup_ready() -> str:
    group, why = cgroups.make(f"{os.getpid()}-cpu-test", memory_mb=64, processes=8)
    if group is not None:
        group.remove()
    return why


@pytest.mark.skipif(sys.platform != "linux" or bool(_cgroup_ready()),
                    reason="needs cgroups the grader may write")
def test_each_sandbox_group_gets_the_same_cpu_weight_and_its_processes_are_in_it():
    groups = []
    try:
        for i in range(2):
            group, why = cgroups.make(f"{os.getpid()}-cpu-{i}", memory_mb=256, processes=8)
            assert group is not None, why
            groups.append(group)
        shares = [g.cpu_share() for g in groups]
        assert shares[0] == shares[1] and shares[0] in (f"cpu.shares {cgroups.CPU_SHARES}",
                                                        f"cpu.weight {cgroups.CPU_WEIGHT}")
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                                preexec_fn=lambda: groups[0].join(os.getpid()))
        try:
            lines = Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()
        finally:
            proc.kill()
            proc.wait()
        cpu_line = next(line for line in lines if line.split(":")[1] in ("cpu", "cpu,cpuacct", ""))
        assert cpu_line.endswith(f"{cgroups.PREFIX}/{os.getpid()}-cpu-0"), lines
    finally:
        for group in groups:
            group.remove()
