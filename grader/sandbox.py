"""Runs untrusted student code in a sandboxed child and brings back plain data, never a verdict.

The grader hands :func:`run_units` a list of units (one check's run step, or one task's outputs
on a set of inputs). They are staged, with the student's modules and checkpoints, in a folder
the child sees read-only; the child (:mod:`grader.child.runner`) runs in bubblewrap's sandbox
(:mod:`grader.jail`) inside one cgroup for memory and processes (:mod:`grader.cgroups`).

The two talk in lockstep over pipes: the grader writes ``RUN <i>``, and unit ``i``'s clock runs
from that line to its reply frame (:mod:`grader.child.wire`), so nothing the child writes can buy
time. Every read has a deadline; a unit that hangs, crashes the child, runs out of memory or
replies with something malformed fails alone, with a named reason: the child and every process
it started are killed and a new child resumes with the next unit.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from challenge.errors import ChallengeError
from challenge.impl import IMPLS, STUDENT_MODULES
from challenge.rubric import Limits
from challenge.text import one_line
from grader import cgroups, jail
from grader.child import wire

KIT_ROOT = jail.KIT_ROOT
SETUP_SECONDS = 120.0          # the child's own start (imports) before it says it is ready
_LOG_BYTES = 64 << 10          # the tail of the child's output kept in memory
_STATUSES = ("ok", "error", "not_implemented")
#: What a grader error asks the instructor to check.
CHECK_GRADER = ("grade it again; if it fails again, check that the sandbox works on this "
                "machine (`challenge grade --impl solutions` runs the reference in it), the "
                "machine's load and free memory, and the free space in the temporary folder")


class SandboxUnavailable(ChallengeError):
    """The sandbox cannot run on this machine; the message says why and what to do."""


class GraderError(ChallengeError):
    """The grader itself failed (not the submission): never a student's zero."""


@dataclass(frozen=True)
class Unit:
    key: str          # e.g. "check:tokenizer.round_trip", "quality:spam"
    kind: str         # "check" | "spam" | "sorter"
    payload: Any      # plain data for the child (a check's inputs; texts; sequences)
    part: str = ""    # the student module a check exercises
    max_bytes: int = 0  # the most its reply may take (its check's declaration); 0: the limits'
    expects: str = ""   # that declaration, in words, for the reason when a reply exceeds it

    def seconds(self, limits: Limits) -> float:
        return limits.check_seconds if self.kind == "check" else limits.unit_seconds


@dataclass
class UnitResult:
    key: str
    status: str       # "ok" | "timeout" | "crashed" | "malformed"
    reason: str = ""
    reply: Any = None  # {"status", "message", "output"} when status is "ok"


@dataclass
class SandboxRun:
    results: list[UnitResult]
    isolation: dict = field(default_factory=dict)
    log: str = ""
    seconds: float = 0.0
    start_seconds: float = 0.0   # the first child's start, until it said it was ready
    processes: int = 0


_CGROUPS_WORK: list[bool] = []


def isolation_problem() -> str:
    """Why untrusted code cannot be sandboxed here ("" when it can): bubblewrap and a cgroup
    for memory and processes are both needed. A success is remembered for the process (each
    grade asks, and a batch grades hundreds); a failure is tried again next time."""
    why = jail.support()
    if why or _CGROUPS_WORK:
        return why
    group, why = cgroups.make(f"{os.getpid()}-probe-{time.monotonic_ns()}", memory_mb=64,
                              processes=8)
    if group is None:
        return (f"{why}: the grader needs one memory and process limit for the whole sandbox; "
                f"run it as root, or where cgroup v2 is delegated to you")
    group.remove()
    _CGROUPS_WORK.append(True)
    return ""


def run_units(units: list[Unit], *, impl: str, files: dict[str, Path] | None = None,
              limits: Limits = Limits(), isolate: bool = True, audit_hook: bool = True,
              on_reply: Callable[[UnitResult], UnitResult] | None = None) -> SandboxRun:
    """Run ``units`` on implementation ``impl`` ("solutions", "challenge" or a folder of student
    modules) in sandboxed children; one :class:`UnitResult` per unit, in order. ``isolate``:
    bubblewrap and the cgroup are required (:class:`SandboxUnavailable` otherwise); without it
    the child runs as a plain process, which the report says. ``audit_hook=False`` leaves out
    the Python-level wall (for tests that show the kernel's walls hold on their own).

    ``on_reply`` judges each reply as it arrives and returns what is left to keep (a check's
    verdict needs nothing of its output). The replies still holding an output may take
    ``limits.judge_mb`` MiB together; one that would pass that fails with the reason."""
    start = time.monotonic()
    clean_stale()
    if isolate:
        why = isolation_problem()
        if why:
            raise SandboxUnavailable(f"cannot isolate student code: {why}")
    deadline = start + limits.wall_seconds
    stage = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-run-", dir=scratch_parent()))
    run_id = stage.name
    group = None
    if isolate:
        group, why = cgroups.make(run_id, memory_mb=limits.memory_mb,
                                  processes=limits.max_processes)
        if group is None:
            raise SandboxUnavailable(f"cannot isolate student code: {why}")
    try:
        _stage(stage, units, impl, files or {}, limits, audit_hook)
        if isolate:
            jail.stage_kit(stage, impl)
        results: dict[int, UnitResult] = {}
        run = SandboxRun(results=[], isolation=_isolation(isolate, limits, group))
        log = bytearray()
        held = Held(limits.judge_mb << 20, on_reply)
        while len(results) < len(units) and time.monotonic() < deadline:
            todo = [i for i in range(len(units)) if i not in results]
            run.processes += 1
            child = _Child(stage, impl, limits, group, isolate, log, held)
            try:
                failed = child.run(todo, units, deadline, results)
            finally:
                child.stop()
            if run.processes == 1:
                run.start_seconds = child.start_seconds
            if failed and not (results and time.monotonic() >= deadline):
                # No student code runs before the child says it is ready: a child that does
                # not get there is the grader's failure (or the machine's), never a zero. Once
                # the submission's clock has run out, though, the rest is its timeout.
                raise GraderError(f"{failed}; this is a failure of the grader, not of the "
                                  f"submission: {CHECK_GRADER}")
        for i, unit in enumerate(units):
            results.setdefault(i, UnitResult(
                unit.key, "timeout",
                f"the submission's time limit ({limits.wall_seconds:g} s) ran out before this ran"))
        run.results = [results[i] for i in range(len(units))]
        run.log = _tail(log, limits.max_log_chars)
        run.seconds = time.monotonic() - start
        return run
    finally:
        if group is not None:
            group.remove()
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(jail.kit_dir(stage), ignore_errors=True)


def scratch_parent() -> Path:
    """The one folder every run's staging folder (and every extracted submission) is made in
    (``$TMPDIR/challenge-grade-<uid>``), each named after the grader process that made it, so
    that what a killed grader left is removed at the next start (:func:`clean_stale`)."""
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


def clean_stale() -> list[str]:
    """Remove the staging folders, extracted submissions and cgroups of grader processes that
    are gone (a grader killed mid-batch); their names."""
    removed = cgroups.clean_stale()
    try:
        entries = list(scratch_parent().iterdir())
    except (OSError, ChallengeError):
        return removed
    for entry in entries:
        owner = entry.name.split("-", 1)[0]
        if owner.isdigit() and not cgroups._alive(int(owner)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def _stage(stage: Path, units, impl, files, limits: Limits, audit_hook: bool) -> None:
    (stage / "files").mkdir()
    if impl in IMPLS:
        child_impl = impl
    else:
        (stage / "modules").mkdir()
        for name in STUDENT_MODULES:
            src = Path(impl) / f"{name}.py"
            if src.is_file():
                shutil.copyfile(src, stage / "modules" / f"{name}.py")
        child_impl = "modules"      # relative to the staging folder, wherever it is mounted
    for name, src in files.items():
        shutil.copyfile(src, stage / "files" / name)
    torch.save([{"key": u.key, "kind": u.kind, "payload": u.payload} for u in units],
               stage / "units.pt")
    (stage / "job.json").write_text(json.dumps({"impl": child_impl, "limits": limits.__dict__,
                                                 "audit_hook": audit_hook}))
    for root, dirs, names in os.walk(stage):
        os.chmod(root, 0o755)
        for name in names:
            os.chmod(os.path.join(root, name), 0o644)


def _isolation(isolate: bool, limits: Limits, group) -> dict:
    if not isolate:
        return {"sandbox": "none",
                "filesystem": "not isolated: the code ran as a plain process, with your "
                              "files and network (bubblewrap was not used)",
                "limits": f"per process: memory {limits.memory_mb} MiB, CPU "
                          f"{limits.cpu_seconds} s",
                "audit_hook": "on (Python level only; code can get around it)"}
    return {"sandbox": "bubblewrap",
            "engine": jail.version(),
            "filesystem": f"allow-list, read-only: system libraries, Python and its packages, "
                          f"{len(jail.kit_files('challenge'))} kit modules; writable: one "
                          f"{limits.max_scratch_mb} MiB tmpfs",
            "namespaces": "user, mount, pid, ipc, uts, network, cgroup",
            "network": "none (own network namespace)",
            "limits": f"memory {limits.memory_mb} MiB and {limits.max_processes} processes for "
                      f"the whole sandbox (cgroup v{group.version}); per process: CPU "
                      f"{limits.cpu_seconds} s, files {limits.max_output_mb} MiB",
            "privileges": f"uid {jail.UID}, all capabilities dropped, no_new_privs, no new "
                          f"user namespaces",
            "audit_hook": "on (defence in depth)"}


def _tail(log: bytearray, chars: int) -> str:
    text = bytes(log[-chars * 4:]).decode("utf-8", errors="replace")
    return text[-chars:]


class _Child:
    """One sandboxed child process and the grader's side of the conversation with it."""

    def __init__(self, stage: Path, impl: str, limits: Limits, group, isolate: bool,
                 log: bytearray, held: Held | None = None):
        self.limits, self.group, self.log = limits, group, log
        self.held = held or Held(limits.judge_mb << 20)
        self.max_bytes = (limits.max_output_mb << 20) + (1 << 16)
        self.buffer = bytearray()
        self.own = bytearray()      # this child's output alone: its crash shows its own words
        self.bounds: dict[int, tuple] = {}   # unit index -> (most bytes its reply may take, why)
        self.skip = 0                 # bytes of a refused reply still to drop
        self.start_seconds = 0.0
        reply_r, reply_w = os.pipe()
        log_r, log_w = os.pipe()
        boot = ("import os, sys; sys.path[:0] = sys.argv[1].split(os.pathsep); "
                "from grader.child.runner import main; main(*sys.argv[2:])")
        if isolate:      # neutral paths inside: the interpreter under /py, the kit at /kit
            _, extra, python_env = jail.python_layout()
            python, paths, stage_in, work = (jail.python_inside(),
                                             os.pathsep.join([jail.KIT, *extra]), jail.IN,
                                             jail.WORK)
        else:
            python, paths, python_env = sys.executable, str(KIT_ROOT), {}
            stage_in, work = str(stage), str(stage / "work")
            (stage / "work" / "tmp").mkdir(parents=True, exist_ok=True)
        argv = [python, "-I", "-c", boot, paths, stage_in, work, str(reply_w)]
        env = {**python_env, "PATH": "/usr/bin:/bin", "HOME": work, "TMPDIR": work,
               "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
               "OMP_WAIT_POLICY": "PASSIVE", "CUDA_VISIBLE_DEVICES": "", "CHALLENGE_QUIET": "1"}
        if isolate:
            cmd = jail.command(stage=stage, impl=impl, work_mb=limits.max_scratch_mb, argv=argv,
                               env=env)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
            cmd = argv
        join = (lambda: group.join(os.getpid())) if group is not None else None
        try:
            self.proc = subprocess.Popen(cmd, cwd=stage, env=env, stdin=subprocess.PIPE,
                                         stdout=log_w, stderr=log_w, pass_fds=(reply_w,),
                                         start_new_session=True, close_fds=True,
                                         preexec_fn=join)
        finally:
            os.close(reply_w)
            os.close(log_w)
        self.reply_fd, self.log_fd = reply_r, log_r
        for fd in (reply_r, log_r):
            os.set_blocking(fd, False)
        self.reply_open = self.log_open = True

    # --- reading, never without a deadline -----------------------------------------------------

    def _pump(self, until: float) -> None:
        """Read whatever the child wrote, waiting at most until ``until``."""
        fds = [fd for fd, ok in ((self.reply_fd, self.reply_open), (self.log_fd, self.log_open))
               if ok]
        timeout = max(0.0, min(until - time.monotonic(), 0.2))
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except (OSError, ValueError):
            ready = []
        for fd in ready:
            try:
                data = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if fd == self.log_fd:
                self.log_open = bool(data)
                for kept in (self.log, self.own):
                    kept += data
                    if len(kept) > _LOG_BYTES:
                        del kept[:len(kept) - _LOG_BYTES]
            elif data:
                self.buffer += data
            else:
                self.reply_open = False

    def _frame(self) -> tuple[bytes, int, bytes] | None:
        """The next whole frame, or None; ``wire.WireError`` for one that breaks the format. A
        reply larger than its unit's declared output is refused from its header: the frame
        ``X`` with the reason, and its body is dropped as it arrives, never held."""
        if self.skip:
            dropped = min(self.skip, len(self.buffer))
            del self.buffer[:dropped]
            self.skip -= dropped
            if self.skip:
                return None
        if len(self.buffer) < wire.HEADER.size:
            return None
        kind, unit, size = wire.HEADER.unpack(self.buffer[:wire.HEADER.size])
        if kind not in (b"S", b"M", b"R"):
            raise wire.WireError(f"the child sent a frame the grader does not accept: "
                                 f"{CHANGED_PROCESS}")
        if size > self.max_bytes:
            raise wire.WireError(f"the output is larger than the {self.limits.max_output_mb} "
                                 f"MiB an output may have ({size >> 20} MiB)")
        bound, expects = self.bounds.get(unit, (0, "")) if kind == b"R" else (1 << 10, "")
        if bound and size > bound:      # refused from its header: never read, never held
            if kind != b"R":
                raise wire.WireError(f"the child sent a frame the grader does not accept: "
                                     f"{CHANGED_PROCESS}")
            del self.buffer[:wire.HEADER.size]
            self.skip = size
            return b"X", unit, (f"the output takes {size:,} bytes, more than the {bound:,} "
                                f"that the output this check expects can take"
                                + (f" ({expects})" if expects else "")).encode()
        end = wire.HEADER.size + size
        if len(self.buffer) < end:
            return None
        body = bytes(self.buffer[wire.HEADER.size:end])
        del self.buffer[:end]
        return kind, unit, body

    def _wait(self, until: float, want: bytes, unit: int, on_mark=None):
        """The body of frame ``want`` for ``unit``, or why none came ("exited", "timeout")."""
        while True:
            frame = self._frame()
            while frame is not None:
                kind, index, body = frame
                if kind == want and (want == b"S" or index == unit):
                    return body
                if kind == b"X" and want == b"R" and index == unit:
                    return ("refused", body.decode())
                if kind == b"M" and index == unit and on_mark:
                    on_mark(body.decode("utf-8", errors="replace"))
                frame = self._frame()           # replies for other units: ignored
            if not self.reply_open or self.proc.poll() is not None:
                self._pump(time.monotonic() + 0.05)  # what it wrote before exiting
                if self._frame_ready():
                    continue
                return "exited"
            if time.monotonic() >= until:
                return "timeout"
            self._pump(until)

    def _frame_ready(self) -> bool:
        if self.skip:
            return len(self.buffer) >= self.skip + wire.HEADER.size
        if len(self.buffer) < wire.HEADER.size:
            return False
        _, _, size = wire.HEADER.unpack(self.buffer[:wire.HEADER.size])
        return len(self.buffer) >= wire.HEADER.size + size

    # --- the conversation ----------------------------------------------------------------------

    def run(self, todo: list[int], units: list[Unit], deadline: float,
            results: dict[int, UnitResult]) -> str:
        """Run ``todo`` in order into ``results``; a start failure's reason, or ""."""
        self.bounds = {i: (units[i].max_bytes, units[i].expects) for i in todo}
        started = time.monotonic()
        try:
            ready = self._wait(min(deadline, started + SETUP_SECONDS), b"S", 0)
        except wire.WireError as e:
            return f"the grader's sandbox failed to start: {e}"
        self.start_seconds = time.monotonic() - started
        if not isinstance(ready, bytes):
            if ready == "timeout":
                if time.monotonic() >= deadline:
                    return (f"the submission's time limit ({self.limits.wall_seconds:g} s) ran "
                            f"out while its sandbox was starting")
                return f"the grader's sandbox did not start within {SETUP_SECONDS:g} s"
            return (f"the grader's sandbox failed to start ({self._exit_text()}): "
                    f"{self._last_line()}")
        for i in todo:
            unit = units[i]
            limit = unit.seconds(self.limits)
            importing = [""]
            try:
                self.proc.stdin.write(f"RUN {i}\n".encode())
                self.proc.stdin.flush()
            except OSError:
                pass                                   # it died: _wait says so
            unit_end = time.monotonic() + limit
            until = min(deadline, unit_end)
            try:
                body = self._wait(until, b"R", i,
                                  on_mark=lambda part: importing.__setitem__(0, part))
            except wire.WireError as e:
                results[i] = UnitResult(unit.key, "malformed", str(e))
                return ""
            if isinstance(body, bytes):
                results[i] = self.held.take(unit.key, body, self.limits)
                continue
            if isinstance(body, tuple):          # larger than its check's declared output
                results[i] = UnitResult(unit.key, "malformed", body[1])
                continue
            if body == "timeout":
                self.stop()
                status = "timeout"
                why = (f"the submission's time limit ({self.limits.wall_seconds:g} s) ran out"
                       if unit_end > deadline else
                       f"timed out after {limit:g} s (an infinite loop, or far too slow)")
            else:
                self.stop()
                why, status = (f"{self._exit_text()} while running this; last output: "
                               f"{self._last_line()}"), "crashed"
            if importing[0]:          # the module itself hangs or crashes: so would every check
                why = f"module {importing[0]} {status} while being imported: {why}"
                for j in todo:
                    if units[j].part == importing[0] and j not in results:
                        results[j] = UnitResult(units[j].key, status, why)
            results[i] = UnitResult(unit.key, status, why)
            return ""
        return ""

    def stop(self) -> None:
        """Kill the child and everything it started; close the pipes."""
        if self.group is not None:
            self.group.kill()
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self._oom = self.group is not None and self.group.oom_killed()
        for f in (self.proc.stdin,):
            try:
                f.close()
            except OSError:
                pass
        for fd in (self.reply_fd, self.log_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.reply_fd = self.log_fd = -1
        self.reply_open = self.log_open = False

    def _exit_text(self) -> str:
        self.stop()
        if getattr(self, "_oom", False):
            return (f"killed: the sandbox ran out of memory ({self.limits.memory_mb} MiB for all "
                    f"its processes together)")
        return exit_text(self.proc.returncode)

    def _last_line(self) -> str:
        lines = [line for line in _tail(self.own, 2000).splitlines() if line.strip()]
        return one_line(lines[-1], 300) if lines else "(no output)"


#: Why a reply in the child's own format can be broken: the child's code is the kit's, and only
#: the submission's code, running in the same process, could have changed what it sends.
CHANGED_PROCESS = ("the submission's own code changed the process it ran in (it replaced or "
                   "patched something the child uses to reply, such as json, struct or os."
                   "write, or wrote on the reply pipe itself)")


@dataclass
class Held:
    """The replies kept for judging one submission, in bytes on the wire, within ``budget``:
    each is judged as it arrives (``on_reply``), and only what that leaves holding an output
    (a task's predictions, judged at the end) counts."""

    budget: int
    on_reply: Callable[[UnitResult], UnitResult] | None = None
    bytes: int = 0

    def take(self, key: str, body: bytes, limits: Limits) -> UnitResult:
        """The reply ``body`` of unit ``key``, judged on arrival where ``on_reply`` can; one
        that would still hold its output past the budget fails with the reason (a reply is
        at most max_output_mb while it is read)."""
        result = _reply(key, body, limits)
        if self.on_reply is not None:
            result = self.on_reply(result)
        if result.reply is None or result.reply.get("output") is None:
            return result
        if self.bytes + len(body) > self.budget:
            return UnitResult(key, "malformed", (
                f"the replies held for judging this submission would pass the judge's budget "
                f"of {limits.judge_mb} MiB ({len(body):,} more bytes on {self.bytes:,}); "
                f"return outputs of the size each check and task expects"))
        self.bytes += len(body)
        return result


def _reply(key: str, body: bytes, limits: Limits) -> UnitResult:
    """Decode and validate one reply: ``{"status", "message", "output"}`` of plain data. Any
    reply at all gives a result with a reason, never an exception."""
    try:
        reply = wire.decode(body, max_bytes=limits.max_output_mb << 20)
    except wire.WireError as e:
        return UnitResult(key, "malformed", f"{e}; {CHANGED_PROCESS}")
    except Exception as e:  # noqa: BLE001 - bytes the submission may have made by hand
        return UnitResult(key, "malformed", f"the reply could not be read ({type(e).__name__}); "
                                            f"{CHANGED_PROCESS}")
    if not isinstance(reply, dict) or set(reply) != {"status", "message", "output"} \
            or not isinstance(reply["status"], str) or reply["status"] not in _STATUSES \
            or not isinstance(reply["message"], str):
        return UnitResult(key, "malformed",
                          f"the reply is not in the grader's format; {CHANGED_PROCESS}")
    reply["message"] = one_line(reply["message"], 600)
    return UnitResult(key, "ok", "", reply)


_SIGNALS = {9: "killed (out of memory, or a process limit)", 24: "CPU time limit exceeded",
            11: "crashed (segmentation fault)", 25: "file size limit exceeded",
            6: "aborted (SIGABRT; often out of memory in native code)", 7: "crashed (bus error)"}


def exit_text(rc: int | None) -> str:
    """What the child's exit status means, in words."""
    if rc is None:
        return "stopped"
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    if sig:
        return _SIGNALS.get(sig, f"killed by signal {sig}")
    return f"exited with code {rc}"
