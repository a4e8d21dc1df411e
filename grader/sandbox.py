"""Runs untrusted student code in a separate, walled-in process and brings back plain data.

The grader hands :func:`run_units` a list of units (one check's run step, or one task's
predictions on a set of inputs). They are written into a fresh scratch folder with the student's
modules and checkpoints; a child process (``grader.runner_child``) raises its walls
(``grader.isolation``, ``grader.guard``), runs the units one by one and writes each reply with
``torch.save``; this process loads the replies with ``weights_only=True``. Nothing labelled ever
enters the scratch folder.

Each unit has its own time limit and the whole run a wall-clock one. A unit that hangs, crashes
the child, runs out of memory or CPU, or replies with something unreadable fails alone, with a
named reason: the child is killed (with every process it started) and a new one resumes with the
next unit.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from challenge.errors import ChallengeError
from challenge.impl import IMPLS, STUDENT_MODULES
from grader import watch
from grader.rubric import Limits

KIT_ROOT = Path(__file__).resolve().parent.parent
SETUP_SECONDS = 120.0          # the child's own start (imports) before its first unit
EXIT_SECONDS = 10.0            # after its last reply
_POLL = 0.02
_DISK_EVERY = 0.5              # seconds between measurements of the child's disk use


@dataclass(frozen=True)
class Unit:
    key: str          # e.g. "check:tokenizer.round_trip", "quality:spam"
    kind: str         # "check" | "spam" | "sorter"
    payload: Any      # plain data for the child (a check's inputs; texts; sequences)
    part: str = ""    # the student module a check exercises

    def seconds(self, limits: Limits) -> float:
        return limits.check_seconds if self.kind == "check" else limits.unit_seconds


@dataclass
class UnitResult:
    key: str
    status: str       # "ok" | "timeout" | "crashed" | "malformed" | "not_run"
    reason: str = ""
    reply: Any = None  # the child's reply when status is "ok"


@dataclass
class SandboxRun:
    results: list[UnitResult]
    isolation: dict = field(default_factory=dict)
    log: str = ""
    seconds: float = 0.0
    processes: int = 0


def run_units(units: list[Unit], *, impl: str, files: dict[str, Path] | None = None,
              limits: Limits = Limits(), protect: list[Path] | tuple = (),
              isolate: bool = True) -> SandboxRun:
    """Run ``units`` on implementation ``impl`` ("solutions", "challenge" or a folder of student
    modules) in sandboxed children; one :class:`UnitResult` per unit, in order."""
    start = time.monotonic()
    deadline = start + limits.wall_seconds
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=scratch_parent()))
    cgroup = watch.make_cgroup(limits.max_processes) if isolate else None
    try:
        _stage(scratch, units, impl, files or {}, limits, protect, isolate, cgroup)
        results: dict[int, UnitResult] = {}
        run = SandboxRun(results=[])
        while len(results) < len(units) and time.monotonic() < deadline:
            todo = [i for i in range(len(units)) if i not in results]
            run.processes += 1
            done, info, failed_to_start = _round(scratch, todo, units, limits, deadline, cgroup)
            results.update(done)
            if info and not run.isolation:
                run.isolation = info
            if failed_to_start:
                # A child still starting when the submission's time ran out timed out; it
                # did not crash (on a slow or busy machine, torch's import alone can take that).
                status = "timeout" if time.monotonic() >= deadline else "crashed"
                for i in todo:
                    results.setdefault(i, UnitResult(units[i].key, status, failed_to_start))
        for i, unit in enumerate(units):
            results.setdefault(i, UnitResult(
                unit.key, "not_run",
                f"the submission's time limit ({limits.wall_seconds:g} s) ran out before this ran"))
        run.results = [results[i] for i in range(len(units))]
        run.log = watch.tail(scratch / "log.txt", limits.max_log_chars)
        run.seconds = time.monotonic() - start
        return run
    finally:
        if cgroup:
            watch.kill_cgroup(cgroup)
            try:
                os.rmdir(cgroup)
            except OSError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)


def scratch_parent() -> Path:
    """The one folder every run's scratch folder is made in (``$TMPDIR/challenge-grade-<uid>``):
    a sandbox hides it whole and puts back only its own run (:mod:`grader.isolation`), so a
    submission never sees another's files. It must be this user's own real folder."""
    path = Path(tempfile.gettempdir()) / f"challenge-grade-{os.geteuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError as e:
        raise ChallengeError(f"cannot make the grader's scratch folder {path} ({e.strerror}); "
                             f"set TMPDIR to a writable folder") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise ChallengeError(f"the grader's scratch folder {path} is not a folder owned by you "
                             f"(another user could read submissions there); remove it or set "
                             f"TMPDIR to a folder of your own")
    return path


def _stage(scratch: Path, units, impl, files, limits, protect, isolate, cgroup) -> None:
    work = scratch / "work"
    (work / "out").mkdir(parents=True)
    (work / "tmp").mkdir()
    sub = scratch / "sub"
    (sub / "files").mkdir(parents=True)
    if impl in IMPLS:
        child_impl = impl
    else:
        (sub / "modules").mkdir()
        for name in STUDENT_MODULES:
            src = Path(impl) / f"{name}.py"
            if src.is_file():
                shutil.copyfile(src, sub / "modules" / f"{name}.py")
        child_impl = str(sub / "modules")
    for name, src in files.items():
        shutil.copyfile(src, sub / "files" / name)
    torch.save([{"key": u.key, "kind": u.kind, "payload": u.payload} for u in units],
               scratch / "units.pt")
    protect = [str(Path(p).resolve()) for p in protect]
    if impl != "solutions":
        protect.append(str(KIT_ROOT / "solutions"))
    job = {"impl": child_impl, "files": str(sub / "files"), "isolate": isolate, "cgroup": cgroup,
           "protect": protect, "limits": limits.__dict__}
    (scratch / "job.json").write_text(json.dumps(job))
    for path in (scratch, sub, work):
        os.chmod(path, 0o755)


def _round(scratch: Path, todo: list[int], units, limits: Limits, deadline: float, cgroup):
    """One child process over ``todo``; returns (results, isolation info, start failure)."""
    work = scratch / "work"
    (work / "todo.json").write_text(json.dumps(todo))
    progress = work / "progress"
    progress.unlink(missing_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work / "tmp"),
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "CUDA_VISIBLE_DEVICES": "",
           "CHALLENGE_QUIET": "1"}
    boot = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from grader.runner_child import main; main(sys.argv[2])")
    started = time.monotonic()
    with open(scratch / "log.txt", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-s", "-P", "-c", boot, str(KIT_ROOT),
                                 str(scratch)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log, start_new_session=True, close_fds=True)
    current, importing, since, why = None, "", started, ""
    # The child runs ``todo`` in order, so a unit's clock starts once: a mark that names an
    # earlier unit, or the same one again, is ignored (the progress file is writable by the
    # student's code, and rewriting it must not buy more time).
    position = {unit: k for k, unit in enumerate(todo)}
    kind, measured = "timeout", started
    while True:
        rc = proc.poll()
        if rc is not None:
            break
        now = time.monotonic()
        if now - measured > _DISK_EVERY:
            measured = now
            over = watch.disk_over(work, limits.max_scratch_mb)
            if over:
                why, kind = over, "crashed"
                watch.kill(proc, cgroup)
                watch.clear_work(work)   # or the next child would start over the allowance
                break
        mark = watch.read_progress(progress)
        if mark is not None and mark[0] != current and _advances(mark[0], current, position):
            current, since = mark[0], now
        if mark is not None and mark[0] == current:
            importing = mark[1]
        if current is None and now - started > SETUP_SECONDS:
            why = f"the grader's sandbox did not start within {SETUP_SECONDS:g} s"
        elif current is not None and 0 <= current < len(units) \
                and now - since > units[current].seconds(limits):
            why = (f"timed out after {units[current].seconds(limits):g} s (an infinite loop, or "
                   f"far too slow)")
        elif current == -1 and now - since > EXIT_SECONDS:
            break  # every reply is in; a child that will not exit is simply killed
        elif now > deadline:
            why = f"the submission's time limit ({limits.wall_seconds:g} s) ran out"
        if why:
            watch.kill(proc, cgroup)
            break
        time.sleep(_POLL)
    watch.kill(proc, cgroup)  # anything it left behind
    info = watch.isolation_info(scratch / "log.txt")
    results: dict[int, UnitResult] = {}
    for i in todo:
        reply = work / "out" / f"{i}.pt"
        if reply.exists():
            results[i] = _load_reply(units[i].key, reply, limits)
    if current is None and not results:
        reason = why or (f"the grader's sandbox failed to start "
                         f"({watch.exit_text(proc.returncode)}): "
                         f"{watch.last_line(scratch / 'log.txt')}")
        return results, info, reason
    if current is not None and 0 <= current < len(units) and current not in results:
        status = kind if why else "crashed"
        reason = why or f"{watch.exit_text(proc.returncode)} while running this; last output: " \
                        f"{watch.last_line(scratch / 'log.txt')}"
        if importing:  # the module itself hangs or crashes: every check of it would too
            reason = f"module {importing} {status} while being imported: {reason}"
            for i in todo:
                if units[i].part == importing and i not in results:
                    results[i] = UnitResult(units[i].key, status, reason)
        results[current] = UnitResult(units[current].key, status, reason)
    return results, info, ""


def _load_reply(key: str, path: Path, limits: Limits) -> UnitResult:
    if path.stat().st_size > limits.max_output_mb << 20:
        return UnitResult(key, "malformed", f"output larger than {limits.max_output_mb} MiB")
    try:
        reply = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle payload or a corrupt file: the student's problem
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return UnitResult(key, "malformed", f"output could not be read safely ({first}); return "
                                            f"plain tensors, numbers, strings, lists and dicts")
    if not isinstance(reply, dict) or reply.get("key") != key or "output" not in reply:
        return UnitResult(key, "malformed", "the reply is not in the grader's format")
    big = _oversized(reply, limits.max_output_mb << 20)
    if big:
        return UnitResult(key, "malformed", big)
    return UnitResult(key, "ok", "", reply)


def _oversized(reply: Any, max_bytes: int) -> str:
    """Why ``reply`` would take more than ``max_bytes`` once its tensors are materialised, or
    "". A tensor's file holds its storage, and a view of it (``expand``, stride 0) can claim far
    more elements than the file has: ``tolist()`` on one would exhaust the grader's memory."""
    total, stack = 0, [(reply, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > 32:
            return "the reply is nested more than 32 levels deep"
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
            if total > max_bytes:
                return (f"the output's tensors (one of shape {tuple(value.shape)}) would take more "
                        f"than the {max_bytes >> 20} MiB an output may; return one row per input")
        elif isinstance(value, dict):
            stack += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, (list, tuple)):
            stack += [(v, depth + 1) for v in value]
    return ""


def _advances(mark: int, current: int | None, position: dict[int, int]) -> bool:
    """Whether the child may move from unit ``current`` to ``mark`` (-1: every unit done)."""
    if current == -1 or (mark != -1 and mark not in position):
        return False
    return mark == -1 or current is None or position[mark] > position.get(current, -1)
