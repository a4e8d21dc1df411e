"""One memory and process limit and one CPU share for a whole sandbox: a control group per
grading run, in the grader's own group (cgroup v1 memory, pids and, where mounted, cpu
hierarchies, or v2), made by the grader before the sandbox starts and removed, with anything left
in it, when the run ends. Groups left by a grader that was killed are cleaned at the next start
(:func:`clean_stale`).

The CPU share: every sandbox's group has the same weight (v1 ``cpu.shares`` 1024, v2
``cpu.weight`` 100, the kernel's defaults), so when the CPUs are busy the kernel's fair scheduler
divides them between sandboxes, not between processes: a submission that runs 60 busy threads
gets the same CPU time as one that runs one, and cannot starve another student's grade.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PREFIX = "challenge-grade"
CPU_SHARES = 1024          # v1 cpu.shares of every sandbox (the kernel's default weight)
CPU_WEIGHT = 100           # v2 cpu.weight of every sandbox (the kernel's default weight)


@dataclass(frozen=True)
class Group:
    """A run's group: one folder per hierarchy (one on cgroup v2, memory and pids on v1)."""

    folders: tuple[str, ...]
    version: int

    def cpu_share(self) -> str:
        """The group's CPU weight as the kernel holds it (``cpu.shares 1024``), or "" when no
        cpu controller governs it."""
        for folder in self.folders:
            for name in ("cpu.shares", "cpu.weight"):
                try:
                    return f"{name} {Path(folder, name).read_text().strip()}"
                except OSError:
                    continue
        return ""

    def join(self, pid: int) -> None:
        """Move ``pid`` in (call from the new process before it runs anything: preexec)."""
        for folder in self.folders:
            fd = os.open(os.path.join(folder, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(fd, str(pid).encode())
            finally:
                os.close(fd)

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(p) for p in Path(folder, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return sorted(found)

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for memory."""
        for folder in self.folders:
            for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
                try:
                    for line in Path(folder, name).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return True
                except (OSError, ValueError):
                    continue
        return False

    def kill(self) -> None:
        """Kill every process in the group (a few rounds, for processes still forking)."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for folder in self.folders:
            for _ in range(50):
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


def _own(controller: str) -> Path | None:
    """This process's group folder for ``controller`` (v1) or its v2 group ("")."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            base = ROOT / controller if controller else ROOT
            if controller == "" and (ROOT / "unified").is_dir() and not (ROOT / "cgroup.procs").exists():
                base = ROOT / "unified"
            return base / path.lstrip("/")
    return None


def _parents() -> tuple[list[Path], int] | None:
    """Where this process may make groups holding memory and pids limits (and, on v1, the cpu
    hierarchy's folder too where it is mounted and writable)."""
    v1 = [_own("memory"), _own("pids")]
    if all(p is not None and (p / "cgroup.procs").exists() for p in v1):
        cpu = _own("cpu")
        if cpu is not None and (cpu / "cpu.shares").exists() and os.access(cpu, os.W_OK):
            v1.append(cpu)
        return [p for p in v1 if p is not None], 1
    v2 = _own("")
    if v2 is not None and (v2 / "cgroup.controllers").exists():
        have = set((v2 / "cgroup.controllers").read_text().split())
        if {"memory", "pids"} <= have:
            return [v2], 2
    return None


def make(run: str, *, memory_mb: int, processes: int) -> tuple[Group | None, str]:
    """A group for run ``run`` (unique, starting with this process's pid) limited to
    ``memory_mb`` MiB and ``processes`` processes and threads, or (None, why not)."""
    found = _parents()
    if found is None:
        return None, "no cgroup with the memory and pids controllers is available"
    parents, version = found
    folders = []
    try:
        for parent in parents:
            home = parent / PREFIX
            home.mkdir(exist_ok=True)
            if version == 2:
                _enable(parent, home)
            folder = home / run
            folder.mkdir()
            folders.append(str(folder))
            if version == 1 and (folder / "memory.limit_in_bytes").exists():
                (folder / "memory.limit_in_bytes").write_text(str(memory_mb << 20))
                try:
                    (folder / "memory.memsw.limit_in_bytes").write_text(str(memory_mb << 20))
                except OSError:
                    pass                                   # no swap accounting
            if (folder / "pids.max").exists():
                (folder / "pids.max").write_text(str(processes))
            _share_cpu(folder)
            if version == 2:
                (folder / "memory.max").write_text(str(memory_mb << 20))
                try:
                    (folder / "memory.swap.max").write_text("0")
                except OSError:
                    pass
    except OSError as e:
        Group(tuple(folders), version).remove()
        return None, f"cannot make a cgroup ({e.strerror or e})"
    return Group(tuple(folders), version), ""


def _share_cpu(folder: Path) -> None:
    """Give the group the sandboxes' one CPU weight (see the module docstring)."""
    for name, value in (("cpu.shares", CPU_SHARES), ("cpu.weight", CPU_WEIGHT)):
        if (folder / name).exists():
            (folder / name).write_text(str(value))


def _enable(parent: Path, home: Path) -> None:
    for folder in (parent, home):
        for controllers in ("+memory +pids +cpu", "+memory +pids"):   # cpu where delegated
            try:
                (folder / "cgroup.subtree_control").write_text(controllers)
                break
            except OSError:
                continue


def clean_stale() -> list[str]:
    """Remove the groups of grading runs whose grader process is gone; their names."""
    found = _parents()
    removed = []
    for parent in (found[0] if found else []):
        home = parent / PREFIX
        if not home.is_dir():
            continue
        for folder in home.iterdir():
            owner = folder.name.split("-", 1)[0]
            if folder.is_dir() and owner.isdigit() and not _alive(int(owner)):
                Group((str(folder),), found[1]).remove()
                removed.append(folder.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
