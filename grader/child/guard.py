"""The Python-level wall of the sandbox, behind the kernel's (bubblewrap's namespaces, the
read-only allow-listed filesystem, the cgroup): an audit hook (PEP 578) installed in the child
after the trusted imports and before any student code. It gives a student a clear message for
what the kernel would refuse anyway, and it is never what a grade depends on.

Once installed it cannot be removed from Python, and it keeps no state a student can reach:
everything it consults is bound, immutable, as default arguments when it is made, so clearing
this module's tables or replacing its functions changes nothing. It refuses what would reach
it: rewriting a function's code or defaults, and the ``gc`` walks that find objects.

It refuses: sockets; new processes (fork, exec, spawn, subprocess, os.system); ctypes; hard and
symbolic links; opening a file for writing outside the working folder; importing the reference
solutions. A refusal raises ``PermissionError`` naming what was refused.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_REFUSED_EVENTS = {
    "os.fork": "starting processes", "os.forkpty": "starting processes",
    "os.exec": "starting programs", "os.posix_spawn": "starting programs",
    "os.spawn": "starting programs", "os.system": "starting programs",
    "subprocess.Popen": "starting programs", "pty.spawn": "starting programs",
    "os.link": "making links", "os.symlink": "making links",
    "ctypes.dlopen": "ctypes", "ctypes.dlsym": "ctypes", "ctypes.call_function": "ctypes",
    "ctypes.cdata": "ctypes", "ctypes.cdata/buffer": "ctypes", "ctypes.addressof": "ctypes",
    "os.kill": "signalling processes", "os.killpg": "signalling processes",
    "signal.pthread_kill": "signalling processes", "sys.remote_exec": "debugging",
    "gc.get_objects": "walking the interpreter's objects",
    "gc.get_referrers": "walking the interpreter's objects",
    "gc.get_referents": "walking the interpreter's objects",
}
_CHANGES = {"os.rename", "os.replace", "shutil.move", "os.remove", "os.rmdir", "os.mkdir",
            "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree"}
_FUNCTION_FIELDS = {"__code__", "__defaults__", "__kwdefaults__"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def install(*, writable: Path, refuse_imports: tuple[str, ...] = ()) -> None:
    """Install the hook. ``writable``: the only folder that may be written."""
    folder = str(writable.resolve()).rstrip("/")

    # everything the hook consults, bound once as one immutable default (see the docstring)
    bound = (tuple(_REFUSED_EVENTS.items()), frozenset(_CHANGES), frozenset(_FUNCTION_FIELDS),
             _WRITE_FLAGS, folder, frozenset(refuse_imports), os.path.realpath, os.fspath,
             os.PathLike, type(install), PermissionError)

    def hook(event: str, args: tuple, *, bound=bound) -> None:
        (refused, changes, fields, write_flags, folder, imports, realpath, fspath, pathlike,
         function, permission) = bound
        for name, what in refused:
            if event == name:
                raise permission(f"the grader's sandbox refuses {what} ({event})")
        if event.startswith("socket."):
            raise permission(f"the grader's sandbox has no network ({event})")

        def full(path):
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            if not isinstance(path, (str, pathlike)):
                return None
            return realpath(fspath(path))

        def inside(path):
            return path == folder or path.startswith(folder + "/")

        if event == "open":
            path, mode, flags = args
            target = full(path)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                      (isinstance(flags, int) and flags & write_flags)
            if target is not None and writing and not inside(target) and target != "/dev/null":
                raise permission(f"the grader's sandbox only lets you write in the working "
                                 f"folder, not {path!s}")
        elif event in changes:
            for arg in args[:2]:
                target = full(arg)
                if target is not None and not inside(target):
                    raise permission(f"the grader's sandbox only lets you change files in the "
                                     f"working folder, not {arg!s}")
        elif event == "object.__setattr__":
            if isinstance(args[0], function) and args[1] in fields:
                raise permission(f"the grader's sandbox refuses to rewrite a function's "
                                 f"{args[1]}")
        elif event == "import" and imports:
            if (args[0] or "").split(".")[0] in imports:
                raise permission(f"the grader's sandbox refuses to import {args[0]}")

    sys.addaudithook(hook)
