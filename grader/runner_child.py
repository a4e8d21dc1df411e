"""The sandboxed child: raises its walls, then runs the units the grader staged in its scratch
folder on the student's code and writes one reply per unit with ``torch.save``.

Started by :mod:`grader.sandbox` as ``python -s -P -c <boot> KIT_ROOT SCRATCH``. Everything up to
the audit hook is trusted; from the first student import on, nothing here is: the grader only
ever believes replies it can verify.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(scratch: str) -> None:
    scratch_dir = Path(scratch)
    job = json.loads((scratch_dir / "job.json").read_text())
    work = scratch_dir / "work"
    protect = [Path(p) for p in job["protect"]]
    report: dict = {}
    from grader import isolation

    if job["isolate"]:
        isolation.enter_namespaces(scratch=scratch_dir, work=work, protect=protect,
                                   cgroup=job["cgroup"], report=report)
    os.chdir(work)
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    from grader import guard
    from grader.child_tasks import KINDS, preload

    preload()

    units = torch.load(scratch_dir / "units.pt", weights_only=True)
    todo = json.loads((work / "todo.json").read_text())
    limits = job["limits"]
    isolation.set_limits(memory_mb=limits["memory_mb"], cpu_seconds=limits["cpu_seconds"],
                         max_output_mb=limits["max_output_mb"],
                         max_processes=limits["max_processes"], report=report)
    if job["isolate"]:
        isolation.drop_privileges(report)
        guard.install(writable=work, protected=protect,
                      refuse_imports=("solutions",) if job["impl"] != "solutions" else ())
        report["audit_hook"] = "on"
    sys.stderr.write("@@ISOLATION " + json.dumps(report) + "\n")
    sys.stderr.flush()
    progress = os.open(work / "progress", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    def mark(text: str) -> None:
        os.pwrite(progress, f"{text}\n".ljust(48).encode(), 0)

    context = {"impl": job["impl"], "files": Path(job["files"]), "modules": {}}
    for i in todo:
        mark(str(i))
        context["mark"] = lambda part, i=i: mark(f"{i} {part}" if part else str(i))
        unit = units[i]
        reply = {"key": unit["key"], **KINDS[unit["kind"]](unit["payload"], context)}
        tmp = work / "out" / f".{i}.pt.tmp"
        try:
            torch.save(reply, tmp)
        except Exception as e:  # an output that cannot be serialised is the student's error
            torch.save({"key": unit["key"], "status": "error", "output": None,
                        "message": f"the output could not be saved ({type(e).__name__}: "
                                   f"{str(e)[:200]}); return tensors, numbers, lists, dicts"}, tmp)
        os.replace(tmp, work / "out" / f"{i}.pt")
    mark("-1")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # no atexit handlers of student code
