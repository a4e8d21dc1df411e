"""The Python-level wall of the sandbox: an audit hook (PEP 578) installed in the child after the
trusted imports and before any student code. It cannot be removed from Python once installed.

It refuses: sockets; new processes (fork, exec, spawn, subprocess, os.system); ctypes (the way
around every other refusal); hard and symbolic links; opening a file for writing outside the
scratch folder; opening anything under a protected path (symlinks resolved); importing the
reference solutions. A refusal raises ``PermissionError`` naming what was refused, which the
check or quality job reports as its error.
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
    "signal.pthread_kill": "signalling processes",
    "sys.remote_exec": "debugging",
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def install(*, writable: Path, protected: list[Path], refuse_imports: tuple[str, ...] = ()) -> None:
    """Install the hook. ``writable``: the only folder that may be written;
    ``protected``: folders that may not be opened or listed at all."""
    writable_s = str(writable.resolve())
    protected_s = tuple(str(p.resolve()) for p in protected)

    def hook(event: str, args: tuple) -> None:
        if event in _REFUSED_EVENTS:
            raise PermissionError(f"the grader's sandbox refuses {_REFUSED_EVENTS[event]} ({event})")
        if event.startswith("socket."):
            raise PermissionError(f"the grader's sandbox has no network ({event})")
        if event == "open":
            path, mode, flags = args
            full = _resolve(path)
            if full is None:
                return
            if any(_under(full, p) for p in protected_s):
                raise PermissionError(f"the grader's sandbox refuses to open {path!s}")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                      (isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not _under(full, writable_s) and full != "/dev/null":
                raise PermissionError(f"the grader's sandbox only lets you write in the working "
                                      f"folder, not {path!s}")
        elif event in ("os.listdir", "os.scandir"):
            full = _resolve(args[0]) if args else None
            if full is not None and any(_under(full, p) for p in protected_s):
                raise PermissionError(f"the grader's sandbox refuses to list {args[0]!s}")
        elif event in _CHANGES:
            for arg in args[:2]:
                full = _resolve(arg)
                if full is not None and not _under(full, writable_s):
                    raise PermissionError(f"the grader's sandbox only lets you change files "
                                          f"in the working folder, not {arg!s}")
        elif event == "import" and refuse_imports:
            if (args[0] or "").split(".")[0] in refuse_imports:
                raise PermissionError(f"the grader's sandbox refuses to import {args[0]}")

    sys.addaudithook(hook)


_CHANGES = {"os.rename", "os.replace", "shutil.move", "os.remove", "os.rmdir", "os.mkdir",
            "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree"}


def _resolve(path) -> str | None:
    """The real path of a path-like argument (symlinks followed); None for anything else."""
    if isinstance(path, bytes):
        path = path.decode(errors="replace")
    if not isinstance(path, (str, os.PathLike)):
        return None
    return os.path.realpath(os.fspath(path))


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
