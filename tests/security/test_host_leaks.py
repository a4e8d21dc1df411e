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
from grader import cgroups, jail
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
    library = 1 if "LD_LIBRARY_PATH" in jail.python_layout()[2] else 0    # /py/lib, if shared
    assert child["env"] == {"PATH": "/usr/bin:/bin", "HOME": "/sandbox/work",
                            "keys": 14 + library}
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


READ_PATHS = '''
import glob as _glob
import sys as _sys
import torch as _torch
import challenge as _challenge
import grader.child as _child


def _text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError as e:
        return f"<{e.errno}>"


_SEEN = {"mountpoints": [line.split()[4] for line in _text("/proc/self/mountinfo").splitlines()],
         "cmdline": _text("/proc/1/cmdline").split("\\0"), "argv": list(_sys.argv),
         "path": list(_sys.path), "executable": _sys.executable, "prefix": _sys.prefix,
         "files": [_torch.__file__, _challenge.__file__, _child.__file__, __file__],
         "site": {p: _text(p) for d in _sys.path if d.endswith("site-packages")
                  for p in _glob.glob(d + "/*.pth") + _glob.glob(d + "/*.dist-info/direct_url.json")
                  + _glob.glob(d + "/__editable__*")},
         "torch_ok": float(_torch.ones(3).sum())}
_TEXT = repr({k: v for k, v in _SEEN.items() if k != "torch_ok"})
_SHORT = {"leaked": sorted(p for p in _HOST if p in _TEXT), "torch_ok": _SEEN["torch_ok"],
          "executable": _SEEN["executable"], "path0": _SEEN["path"][0],
          "challenge": _SEEN["files"][1], "blanked": sorted(k for k, v in _SEEN["site"].items()
                                                            if v in ("", "<13>", "<21>"))}
'''


def _host_paths() -> set[str]:
    """The kit's, the venv's and the interpreter's folders on this machine."""
    found = {str(jail.KIT_ROOT)}
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)):
        found |= {p, os.path.realpath(p)}
    return {p for p in found if p not in ("/", "/usr", "/usr/local", "/usr/bin")}


@sandboxed
def test_no_host_path_of_the_kit_venv_or_interpreter_shows_inside(tmp_path, monkeypatch):
    """Read from inside a submission: the mount points, pid 1's command line, argv, sys.path,
    the interpreter, every module's file and the site folder's path hooks; none names a host
    folder of the kit, the venv or the interpreter, and torch still imports."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "bptt.py").write_text(reference_modules()["bptt"]
                                    + f"\n_HOST = {sorted(_host_paths())!r}\n" + READ_PATHS
                                    + "raise RuntimeError(repr(_SHORT))\n")
    check = all_checks(["bptt"])[0]
    unit = Unit(f"check:{check.key}", "check", {"check": check.key, "data": check.make_inputs(0)},
                check.part)
    run = run_units([unit], impl=str(folder), limits=Limits(wall_seconds=60, memory_mb=4096))
    message = run.results[0].reply["message"]
    assert "RuntimeError" in message, message
    seen = ast.literal_eval(message[message.index("<module>: ") + 10:])
    assert seen["torch_ok"] == 3.0 and seen["executable"].startswith("/py/")
    assert seen["path0"] == "/kit" and seen["challenge"] == "/kit/challenge/__init__.py"
    assert seen["leaked"] == [], seen
    editable = [p for d in jail.python_paths() for p in Path(d).glob("__editable__*")
                if str(jail.KIT_ROOT) in p.read_text(errors="replace")]
    assert len(seen["blanked"]) >= len(editable), seen     # an editable kit: its hooks blanked
