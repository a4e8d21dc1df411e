"""Watching and stopping the sandbox's child process (see :mod:`grader.sandbox`): the disk use
of its scratch folder, its progress and output files, what its exit status means, and killing
it with every process it started (its process group, and a pids cgroup where one can be made).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

MAX_ENTRIES = 10000            # files and folders a child may make in its scratch folder
SIGNALS = {signal.SIGKILL: "killed (out of memory, or a process limit)",
           signal.SIGXCPU: "CPU time limit exceeded",
           signal.SIGSEGV: "crashed (segmentation fault)",
           signal.SIGABRT: "aborted (SIGABRT; often out of memory in native code)",
           signal.SIGXFSZ: "file size limit exceeded", signal.SIGBUS: "crashed (bus error)"}


def clear_work(work: Path) -> None:
    """Delete what the child wrote to ``work``, keeping the replies in ``out/``."""
    for entry in work.iterdir():
        if entry.name == "out":
            for item in entry.iterdir():
                if not (item.is_file() and not item.is_symlink() and item.suffix == ".pt"
                        and item.stem.isdigit()):
                    remove(item)
        elif entry.name != "tmp":
            remove(entry)
    shutil.rmtree(work / "tmp", ignore_errors=True)
    (work / "tmp").mkdir(exist_ok=True)


def remove(path: Path) -> None:
    """Delete a file, a link or a whole folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def disk_over(work: Path, max_mb: int) -> str:
    """Why the child's work folder is over its disk allowance (``max_mb``, or more than
    ``MAX_ENTRIES`` files and folders), or ""."""
    used, entries, stack = 0, 0, [work]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > MAX_ENTRIES:
                        return f"made more than {MAX_ENTRIES} files in its scratch folder"
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            used += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
    if used > max_mb << 20:
        return f"wrote more than {max_mb} MiB to its scratch folder"
    return ""


def read_progress(path: Path) -> tuple[int, str] | None:
    """``(unit index, module being imported or "")`` from the child's progress file."""
    try:
        with open(path, "rb") as f:
            fields = f.read(64).split(b"\n", 1)[0].decode().split()
        return int(fields[0]), (fields[1] if len(fields) > 1 else "")
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def kill(proc: subprocess.Popen, cgroup: str | None) -> None:
    """Kill the child's whole process group (and its cgroup) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if cgroup:
        kill_cgroup(cgroup)
    proc.wait()


def exit_text(rc: int | None) -> str:
    """What the child's exit status means, in words ("killed (out of memory ...)")."""
    if rc is None:
        return "stopped"
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    if sig:
        try:
            return SIGNALS.get(signal.Signals(sig), f"killed by {signal.Signals(sig).name}")
        except ValueError:
            pass
    return f"exited with code {rc}"


def tail(path: Path, chars: int) -> str:
    """The last ``chars`` characters of the child's log, without the isolation report line."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - chars * 4))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if not line.startswith("@@ISOLATION ")]
    return "\n".join(lines)[-chars:]


def last_line(path: Path) -> str:
    """The log's last non-empty line (at most 300 characters)."""
    lines = [line for line in tail(path, 2000).splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def isolation_info(path: Path) -> dict:
    """The walls the child reported raising (its ``@@ISOLATION`` log line), or {}."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192).decode("utf-8", errors="replace")
    except OSError:
        return {}
    for line in head.splitlines():
        if line.startswith("@@ISOLATION "):
            try:
                return json.loads(line[len("@@ISOLATION "):])
            except ValueError:
                return {}
    return {}


def make_cgroup(max_processes: int) -> str | None:
    """A pids cgroup for the child when this process may make one (root, cgroup v1 or v2)."""
    if os.geteuid() != 0:
        return None
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if not (base / "cgroup.procs").exists():
            continue
        path = base / f"challenge-grade-{os.getpid()}-{time.monotonic_ns()}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_processes))
            return str(path)
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
    return None


def kill_cgroup(cgroup: str) -> None:
    """Kill every process left in ``cgroup`` (a few rounds, for processes still forking)."""
    for _ in range(50):
        try:
            pids = [int(p) for p in Path(cgroup, "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
