"""The walls around a submission, raised by the sandboxed child on itself before any student code
is imported. Each layer is tried and its outcome recorded ("on", or why it is "unavailable");
the grader reports what it achieved rather than assuming.

Kernel layers (Linux, needs root or unprivileged user namespaces):
- a new network namespace: no interface but a downed loopback, so no connection goes anywhere;
- a new mount namespace: outside the operating system's own folders, only Python, the kit and
  this run's scratch folder stay visible (home folders, /tmp, /var, /run, ... are empty); the
  data and runs folders, the reference solutions and any other protected folder are hidden
  under empty read-only tmpfs mounts and protected files (the leaderboard, the secret) under
  /dev/null; the other grading runs' scratch folders are hidden, the root filesystem is
  read-only except this run's work folder, and the cgroup filesystem is hidden;
- a new PID namespace with a fresh /proc: the submission sees (and can signal) only itself, and
  killing its first process ends every process it started;
- a pids cgroup (when the grader runs as root, where RLIMIT_NPROC is not enforced) capping
  processes and threads; capabilities dropped and no_new_privs set, so none of this can be undone.
Resource limits: RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_NOFILE, no core files.
Python layer (everywhere, defence in depth): an audit hook that refuses sockets, new processes,
ctypes, links, writes outside the scratch folder, reads of protected paths, and imports of the
reference solutions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import sys
from pathlib import Path

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUSER = 0x20000, 0x20000000, 0x40000000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                ctypes.c_ulong, ctypes.c_void_p]
    return _libc


def _call(name: str, *args) -> None:
    if getattr(_c(), name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: None if s is None else str(s).encode()  # noqa: E731
    _call("mount", enc(source), enc(target), enc(fstype), flags, enc(data))


def enter_namespaces(*, scratch: Path, work: Path, protect: list[Path], cgroup: str | None,
                     report: dict) -> None:
    """Unshare network, mount and PID namespaces and fork; returns in the grandchild (PID 1 of
    the new namespace), while this process waits for it and exits with its status."""
    if not sys.platform.startswith("linux"):
        report.update(network="unavailable (not Linux)", filesystem="unavailable (not Linux)",
                      processes="rlimit only")
        return
    if cgroup:
        try:
            Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))
            report["processes"] = "pids cgroup"
        except OSError as e:
            report["processes"] = f"rlimit only (cgroup: {e.strerror})"
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID
    if os.geteuid() != 0:
        flags |= CLONE_NEWUSER
    try:
        uid, gid = os.geteuid(), os.getegid()
        _call("unshare", flags)
        if flags & CLONE_NEWUSER:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError as e:
        report.update(network=f"unavailable ({e.strerror}); sockets refused by the audit hook",
                      filesystem=f"unavailable ({e.strerror}); protected paths refused by the "
                                 f"audit hook")
        return
    report["network"] = "network namespace (no interfaces)"
    _fork_as_init(report)
    try:
        _walls(scratch, work, protect)
        report["filesystem"] = "mount namespace (protected paths hidden, read-only root)"
    except OSError as e:
        report["filesystem"] = f"partial ({e}); protected paths refused by the audit hook"


def _fork_as_init(report: dict) -> None:
    """Fork into the new PID namespace twice: its PID 1 only reaps and relays, and the runner is
    PID 2, an ordinary process (signals to PID 1 itself would be ignored)."""
    pid = os.fork()
    if pid != 0:
        _relay(pid)
    pid = os.fork()
    if pid != 0:
        _relay(pid)
    report["pid_namespace"] = "on"


def _relay(child: int) -> None:
    """Reap until ``child`` ends, then exit with its status (as a shell would)."""
    for fd in range(3, 256):  # the relay keeps nothing open but stdio
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == child:
            break  # other ends are orphans PID 1 inherited
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def _walls(scratch: Path, work: Path, protect: list[Path]) -> None:
    roots = {_mount_point(p) for p in protect if p.exists()} - {Path("/")}
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _hide_the_rest([scratch, Path(__file__).resolve().parent.parent, *_python_paths()])
    _hide_other_runs(scratch, work)
    for path in protect:
        if _inside(scratch, path):
            continue
        if path.is_dir():
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
        elif path.is_file():                            # e.g. the leaderboard, the secret
            _mount("/dev/null", path, None, MS_BIND)
    for path in ("/sys/fs/cgroup",):
        if Path(path).is_dir():
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    if Path("/dev/shm").is_dir():
        _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _read_only("/")
    for path in roots:
        _read_only(path)


# Top-level folders of the operating system, left visible (read-only): programs, libraries and
# their settings. Every other one (home folders, /root, /tmp, /var, /run with its sockets,
# /srv, /opt, /mnt, ...) is hidden but for the paths the child needs.
_SYSTEM = frozenset({"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "dev",
                     "proc", "sys", "nix", "gnu", "snap"})


def _python_paths() -> list[Path]:
    """The folders Python and its packages load from (the interpreter, the venv, sys.path)."""
    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *sys.path]
    return [Path(p) for p in found if p and os.path.isdir(p)]


def _hide_the_rest(keep: list[Path]) -> None:
    """Hide every folder outside :data:`_SYSTEM` except the ``keep`` folders (and the way to
    them): a submission sees the kit, Python and its scratch folder, and not the instructor's
    other files (an old leaderboard, a copy of the corpus, backups)."""
    kept = {p.resolve() for p in keep} | {Path(os.path.abspath(p)) for p in keep}
    for top in sorted(Path("/").iterdir()):
        if top.name not in _SYSTEM and top.is_dir() and not top.is_symlink():
            _hide_except(top, kept)


def _hide_except(folder: Path, kept: set[Path]) -> None:
    if any(folder == k or k in folder.parents for k in kept):
        return                                               # needed, with all it holds
    # its children on the way to a kept path, if any (named by the kept paths: a folder the
    # grader may traverse but not list is fine)
    ways = sorted({folder / k.relative_to(folder).parts[0] for k in kept if folder in k.parents})
    ways = [c for c in ways if c.is_dir() and not c.is_symlink()]
    _cover(folder, ways)
    for child in ways:
        _hide_except(child, kept)


def _hide_other_runs(scratch: Path, work: Path) -> None:
    """Every grading run's scratch folder sits in one parent (see grader.sandbox): cover it and
    put back only this run's folder (another student's replies stay out of sight in a batch,
    even where the parent is not hidden already), read-only but for ``work``."""
    _cover(scratch.parent, [scratch])
    _mount(work, work, None, MS_BIND | MS_REC)          # the one writable place
    _read_only(scratch)


def _cover(folder: Path, keep: list[Path]) -> None:
    """An empty read-only tmpfs over ``folder``, with its children ``keep`` put back (bound from
    the originals, opened before they went out of sight)."""
    held = {c.name: os.open(c, os.O_RDONLY | os.O_DIRECTORY) for c in keep}
    try:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
        for name, fd in held.items():
            (folder / name).mkdir()
            _mount(f"/proc/self/fd/{fd}", folder / name, None, MS_BIND | MS_REC)
    finally:
        for fd in held.values():
            os.close(fd)
    _mount("tmpfs", folder, "tmpfs", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
           "size=64k,mode=755")


def _read_only(path) -> None:
    """Remount the mount at ``path`` read-only, keeping its other flags: inside a user namespace
    the kernel refuses a remount that would drop nosuid, nodev, noexec or the atime mode."""
    have = os.statvfs(path).f_flag
    keep = [(os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
            (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
            (os.ST_RELATIME, MS_RELATIME)]
    flags = MS_BIND | MS_REMOUNT | MS_RDONLY
    for st, ms in keep:
        if have & st:
            flags |= ms
    _mount(path, path, None, flags)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _mount_point(path: Path) -> Path:
    path = path.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def drop_privileges(report: dict) -> None:
    """No new privileges, an empty capability bounding set, no capabilities left."""
    if not sys.platform.startswith("linux"):
        return
    try:
        _call("prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        for cap in range(64):
            if _c().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break
        header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (ctypes.c_uint32 * 6)()
        _call("capset", header, data)
        report["privileges"] = "capabilities dropped, no_new_privs"
    except OSError as e:
        report["privileges"] = f"not dropped ({e})"


def set_limits(*, memory_mb: int, cpu_seconds: int, max_output_mb: int, max_processes: int,
               report: dict) -> None:
    """Resource limits on this process and everything it starts (each where the OS has it)."""
    applied, missing = [], []

    def limit(name: str, value: int, text: str) -> None:
        which = getattr(resource, name, None)
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
            applied.append(text)
        except (TypeError, ValueError, OSError):
            missing.append(text)

    limit("RLIMIT_AS", memory_mb << 20, f"memory {memory_mb} MiB")
    limit("RLIMIT_CPU", cpu_seconds, f"CPU {cpu_seconds} s")
    limit("RLIMIT_FSIZE", max_output_mb << 20, f"files {max_output_mb} MiB")
    limit("RLIMIT_CORE", 0, "no core files")
    limit("RLIMIT_NOFILE", 256, "256 open files")
    limit("RLIMIT_NPROC", max_processes, f"{max_processes} processes")
    report["limits"] = ", ".join(applied) + (f" (not available: {', '.join(missing)})"
                                             if missing else "")
    if "processes" not in report:
        report["processes"] = ("RLIMIT_NPROC" if os.geteuid() != 0 else
                               "not capped (root, no pids cgroup); new processes refused by the "
                               "audit hook")
