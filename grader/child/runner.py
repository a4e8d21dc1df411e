"""The sandboxed child: imports the kit, installs the audit hook, then runs one unit at a time,
when the grader asks for it, and sends back each reply as a frame of plain data.

Started by :mod:`grader.sandbox` as ``python -I -c <boot> KIT IN WORK REPLY_FD`` (``KIT``: the
kit's folder, or folders joined by os.pathsep, first on sys.path; ``/kit`` in the sandbox): ``IN``
holds what the grader staged (``job.json``, ``units.pt``, the student's modules and
checkpoints), read-only; ``WORK`` is the one writable folder. The grader writes ``RUN <i>``
lines on standard input; the child answers each with a mark when it starts importing a student
module (a hint for the message if that hangs) and one reply frame. Everything up to the hook is
trusted; from the first student import on nothing here is, and the grader believes no reply it
has not checked.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path


def _limits(limits: dict) -> None:
    """Per-process limits on top of the sandbox's cgroup (which caps all its processes
    together): address space gives a Python MemoryError rather than a kill; CPU, file size,
    core files, open files."""
    for name, value in (("RLIMIT_AS", limits["memory_mb"] << 20),
                        ("RLIMIT_CPU", limits["cpu_seconds"]),
                        ("RLIMIT_FSIZE", limits["max_output_mb"] << 20),
                        ("RLIMIT_CORE", 0), ("RLIMIT_NOFILE", 256)):
        which = getattr(resource, name, None)
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
        except (TypeError, ValueError, OSError):
            pass


def main(stage: str, work: str, reply_fd: str) -> None:
    stage_dir, work_dir, fd = Path(stage), Path(work), int(reply_fd)
    job = json.loads((stage_dir / "job.json").read_text())
    os.chdir(work_dir)
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    from grader.child import guard, wire
    from grader.child.tasks import KINDS, preload

    preload()
    kinds = dict(KINDS)     # bound before any student code runs: replacing the table is moot
    units = torch.load(stage_dir / "units.pt", weights_only=True)
    _limits(job["limits"])
    if job.get("audit_hook", True):
        guard.install(writable=work_dir,
                      refuse_imports=("solutions",) if job["impl"] != "solutions" else ())
    send = os.write

    def emit(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[send(fd, view):]

    emit(wire.frame(b"S", 0))                       # started: the walls are up
    impl = job["impl"] if job["impl"] in ("solutions", "challenge") else str(stage_dir / job["impl"])
    context = {"impl": impl, "files": stage_dir / "files", "modules": {}}
    for line in sys.stdin:
        words = line.split()
        if len(words) != 2 or words[0] != "RUN" or not words[1].isdigit():
            break
        i = int(words[1])
        unit = units[i]
        context["mark"] = lambda part, i=i: emit(wire.frame(b"M", i, part.encode()[:64]))
        reply = kinds[unit["kind"]](unit["payload"], context)
        try:
            body = wire.encode(reply, job["limits"]["max_output_mb"] << 20)
        except Exception as e:  # noqa: BLE001 - what the student's code returned: anything
            body = wire.encode({"status": "error", "output": None,
                                "message": f"the output could not be sent to the grader "
                                           f"({str(e)[:200]})"})
        emit(wire.frame(b"R", i, body))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit handlers of student code
