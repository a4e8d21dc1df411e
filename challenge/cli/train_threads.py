"""How ``challenge train`` uses the CPU on a laptop that is busy with other work: a passive
OpenMP wait policy set before torch loads, and a torch thread count chosen from the cores this
process may use and how many of them other processes keep busy (``--threads N`` overrides).

Torch's OpenMP threads spin while they wait for each other; with another program on the same
cores, a two-thread step of the spam model took 4-5 times as long as a one-thread step (issue
#33; DESIGN.md measured up to 40x). ``OMP_WAIT_POLICY=PASSIVE`` makes waiting threads sleep,
and OpenMP reads it once, when torch loads it (GNU libgomp reads its environment when the
library is loaded; OpenMP 5.2 spec, section 21.7): so it is set here, at the start of the
command, before anything imports torch. Torch-free on purpose.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click

THREADS = click.option("--threads", type=click.IntRange(min=1), default=None,
                       help="Torch threads for training [default: chosen from the cores this "
                            "process may use, less those other programs keep busy; 1 for spam, "
                            "whose small LSTM trains fastest on one].")


@dataclass(frozen=True)
class ThreadChoice:
    """What the command chose, and why, for the summary line and the JSON output."""

    threads: int
    cores: int            # logical CPUs in the affinity mask
    physical: int         # physical cores among them
    busy: float           # cores' worth of CPU other processes used just now (-1: unknown)
    reason: str
    wait_policy: str      # OMP_WAIT_POLICY as torch's OpenMP sees it

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        how = "" if self.reason == "--threads" else "; --threads N to change"
        return f"threads: {self.threads} ({self.reason}{how}); OMP_WAIT_POLICY={self.wait_policy}"


def passive_wait() -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` where the user has not chosen a policy; the policy
    torch's OpenMP will use (with a note when torch was loaded before it could be set)."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        if "torch" in sys.modules:
            return "PASSIVE (set after torch loaded: in effect for new processes only)"
    return os.environ["OMP_WAIT_POLICY"]


def affinity() -> list[int]:
    """The logical CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):                    # not Linux
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: list[int], sys_root: Path = Path("/sys/devices/system/cpu")) -> int:
    """Distinct physical cores among ``cpus`` (hyper-threads of one core count once); the
    number of ``cpus`` where the topology cannot be read."""
    seen = set()
    for cpu in cpus:
        topo = sys_root / f"cpu{cpu}" / "topology"
        try:
            seen.add(((topo / "physical_package_id").read_text().strip(),
                      (topo / "core_id").read_text().strip()))
        except OSError:
            return max(1, len(cpus))
    return max(1, len(seen))


def _cpu_times(stat: Path) -> dict[int, tuple[int, int]]:
    """Per CPU: (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            ticks = [int(f) for f in fields[:8]]
            idle = ticks[3] + ticks[4]                    # idle + iowait
            out[int(name[3:])] = (sum(ticks) - idle, sum(ticks))
    return out


def busy_cores(cpus: list[int], seconds: float = 0.2, stat: Path = Path("/proc/stat")) -> float:
    """How many of ``cpus`` other processes keep busy, measured over ``seconds`` while this
    one sleeps; -1 where it cannot be measured (no /proc/stat)."""
    try:
        before = _cpu_times(stat)
        time.sleep(seconds)
        after = _cpu_times(stat)
    except (OSError, ValueError, IndexError):
        return -1.0
    busy = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after:
            spent = after[cpu][1] - before[cpu][1]
            busy += (after[cpu][0] - before[cpu][0]) / spent if spent > 0 else 0.0
    return busy


def choose_threads(requested: int | None, *, cap: int | None = None,
                   cpus: list[int] | None = None, busy: float | None = None) -> ThreadChoice:
    """The torch thread count for training: ``requested`` where given; else the physical
    cores of the affinity mask (at most ``OMP_NUM_THREADS`` where set, and ``cap``, the task's
    best), less the cores other processes keep busy, and at least 1."""
    policy = passive_wait()
    cpus = affinity() if cpus is None else cpus
    physical = physical_cores(cpus)
    if requested is not None:
        return ThreadChoice(requested, len(cpus), physical, -1.0, "--threads", policy)
    share = os.environ.get("OMP_NUM_THREADS", "")
    limit = min(physical, int(share)) if share.isdigit() and int(share) > 0 else physical
    if cap is not None and cap < limit:
        return ThreadChoice(cap, len(cpus), physical, -1.0,
                            f"the task's best of {physical} physical core(s)", policy)
    busy = busy_cores(cpus) if busy is None else busy
    taken = int(busy + 0.5) if busy > 0 else 0
    threads = max(1, limit - taken)
    reason = (f"{physical} physical core(s), {busy:.1f} busy with other work" if busy >= 0
              else f"{physical} physical core(s)")
    return ThreadChoice(threads, len(cpus), physical, round(busy, 2), reason, policy)
