"""The child's world, built by bubblewrap (``bwrap``) from an allow list: what the sandbox
shows, read-only, and nothing else.

Visible: the system's shared libraries, the Python runtime and the folders on ``sys.path`` (the
virtual environment's site-packages), the kit's runtime modules file by file (the ``.py`` files
of ``challenge/``, ``grader/child/`` and the public checks in ``challenge/checks/``; the reference
solutions only when grading them), the staged inputs at ``/sandbox/in`` and one writable,
size-capped tmpfs at ``/sandbox/work``. Not visible: the kit's ``.git``, ``solutions/``,
``data/``, ``tests/``, ``bench/``, the rest of ``grader/``, home folders, ``/tmp``, ``/sys``,
and any file not named here, so that a new file in the kit stays hidden.

Fresh user, mount, PID, IPC, UTS, network and cgroup namespaces; every capability dropped;
``no_new_privs``; uid and gid 65534; a new session; killed with its parent; ``/proc/sys``
read-only; a minimal ``/dev``; no further user namespaces inside.

Nothing of the host's environment: the child starts with only the variables the grader names
(``--clearenv``), and it is process 1 of its PID namespace (``--as-pid-1``), so no bubblewrap
process shows in its ``/proc``: ``/proc/1/environ`` and ``/proc/1/cmdline`` are the child's own,
not the grader's PATH or the bind list of host paths.

Nothing of the host's paths in what the child is told or imports: the interpreter, its standard
library and the virtual environment's site-packages appear under ``/py`` (a plain Python layout,
``/py/bin/python3.X`` finds its own prefix), the kit's runtime modules are copied beside the
staging folder and appear at ``/kit``; the editable install's path hooks and records, which name
the kit's folder, are blanked. So ``sys.path``, ``sys.executable``, ``argv``, ``/proc/1/cmdline``
and every module's ``__file__`` hold neutral paths. (``/proc/self/mountinfo`` still gives each
bind mount's source folder within its filesystem: the kernel shows it, and bind mounts cannot
hide it.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
IN, WORK = "/sandbox/in", "/sandbox/work"
PY, KIT = "/py", "/kit"          # where the interpreter and the kit appear inside
VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"
UID = 65534
_SYSTEM = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime")


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path=os.environ.get("PATH", "") + ":/usr/bin:/bin")


def python_paths() -> list[str]:
    """The folders on ``sys.path`` that belong to Python: under its prefixes, or a
    site-packages; not the kit, the current folder or anything a test runner or a ``.pth``
    file added."""
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                              sys.base_exec_prefix)}
    found: list[str] = []
    for entry in sys.path:
        path = os.path.realpath(entry) if entry else ""
        if not path or not os.path.isdir(path) or path in found:
            continue
        ours = any(path == p or path.startswith(p + "/") for p in prefixes)
        scripts = os.path.basename(path) in ("bin", "Scripts")   # `pytest` puts its own there
        if (ours or os.path.basename(path) in ("site-packages", "dist-packages")) \
                and not scripts and not (KIT_ROOT / "x").as_posix().startswith(path + "/"):
            found.append(path)
    return found


def python_layout() -> tuple[list[tuple[str, str]], list[str], dict[str, str]]:
    """Where Python appears inside: (host folder or file, its place under :data:`PY`) for the
    standard library, the site-packages, the interpreter and its shared library; the extra
    folders to put on ``sys.path`` (site folders beyond the first, or all of them where the
    standard library has no site-packages folder to mount one on: a mount point cannot be made
    inside a read-only one); the environment it needs."""
    base = os.path.realpath(sys.base_prefix)
    site = f"{PY}/lib/{VERSION}/site-packages"
    binds: list[tuple[str, str]] = []
    extra: list[str] = []
    for path in python_paths():
        if path == base or path.startswith(base + "/"):
            binds.append((path, PY + path[len(base):]))
        elif site not in (d for _, d in binds) and os.path.isdir(
                os.path.join(base, "lib", VERSION, "site-packages")):
            binds.append((path, site))            # the venv's: where a plain install has its own
        else:
            extra.append(f"{PY}/site/{len(extra)}")
            binds.append((path, extra[-1]))
    binds.append((os.path.realpath(sys.executable), python_inside()))
    env = {}
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if libdir and soname and os.path.isfile(os.path.join(libdir, soname)):
        binds.append((os.path.realpath(os.path.join(libdir, soname)), f"{PY}/lib/{soname}"))
        env["LD_LIBRARY_PATH"] = f"{PY}/lib"      # its rpath names a host folder not there
    return sorted(binds, key=lambda b: b[1].count("/")), extra, env


def python_inside() -> str:
    """The interpreter's path inside the sandbox."""
    return f"{PY}/bin/{VERSION}"


def _kit_traces(folder: str) -> list[str]:
    """What in a site folder names the kit's folder (an editable install's path finder, the
    kit's ``.dist-info`` with its ``direct_url.json``), and the ``.pth`` files that import such a
    finder: blanked inside."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found, pths = [], []
    for entry in entries:
        if entry.name.endswith(".dist-info"):
            probe = os.path.join(entry.path, "direct_url.json")
        elif entry.name.endswith(".pth") or entry.name.startswith("__editable__"):
            probe = entry.path
        else:
            continue
        try:
            with open(probe, "rb") as f:
                text = f.read(1 << 20)
        except OSError:
            continue
        if str(KIT_ROOT).encode() in text:
            found.append(entry.path)
        elif entry.name.endswith(".pth"):
            pths.append((entry.path, text))
    hooks = [os.path.basename(f).removesuffix(".py").encode() for f in found]
    return found + [path for path, text in pths if any(h and h in text for h in hooks)]


def kit_dir(stage: Path) -> Path:
    """Where :func:`stage_kit` copies the kit for the run staged in ``stage``: beside it, so the
    kit is not among the staged inputs (a submission that walks them meets only its own)."""
    return stage.with_name(stage.name + "-kit")


def stage_kit(stage: Path, impl: str) -> Path:
    """A copy of the kit's runtime modules in :func:`kit_dir` (shown at :data:`KIT`), so that no
    path of the kit's folder shows inside."""
    out = kit_dir(stage)
    for path in kit_files(impl):
        dest = out / path.relative_to(KIT_ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        dest.chmod(0o644)
    for folder in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)             # readable by the sandbox's user, whatever the umask
    return out


def kit_files(impl: str) -> list[Path]:
    """The kit files the child may import, by name: nothing else of the kit is visible."""
    files = [KIT_ROOT / "grader" / "__init__.py"]
    for folder in ("challenge", "grader/child") + \
            (("solutions",) if impl == "solutions" else ()):
        root = KIT_ROOT / folder
        files += sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return [p for p in files if p.is_file() and not p.is_symlink()]


def command(*, stage: Path, impl: str, work_mb: int, argv: list[str], env: dict) -> list[str]:
    """The ``bwrap`` command line that runs ``argv`` in the sandbox."""
    args = [bwrap_path() or "bwrap", "--as-pid-1", "--unshare-all", "--unshare-user",
            "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--uid", str(UID), "--gid", str(UID), "--hostname", "sandbox"]
    for path in _SYSTEM:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    binds, _, _ = python_layout()
    for src, dst in binds:
        args += ["--ro-bind", src, dst]
    for src, dst in binds:
        inside = [dst + trace[len(src):] for trace in _kit_traces(src)] if os.path.isdir(src) \
            else []
        for package in ("challenge", "grader", "solutions"):   # an installed kit: hidden
            folder = str(KIT_ROOT / package)
            if folder.startswith(src + "/"):
                inside.append(dst + folder[len(src):])
        for path in inside:
            args += (["--tmpfs", path] if os.path.isdir(src + path[len(dst):])
                     else ["--ro-bind", os.devnull, path])
    if kit_dir(stage).is_dir():                 # staged by the grader (:func:`stage_kit`)
        args += ["--ro-bind", str(kit_dir(stage)), KIT]
    args += ["--ro-bind", str(stage), IN,
             "--perms", "1777", "--size", str(work_mb << 20), "--tmpfs", WORK,
             "--proc", "/proc", "--dev", "/dev"]
    if os.path.isdir("/proc/sys"):
        args += ["--ro-bind", "/proc/sys", "/proc/sys"]
    args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORK, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--", *argv]


_WORKS: list[bool] = []


def support() -> str:
    """Why the sandbox cannot run here, or "" when it can (a success is remembered for the
    process; a failure is tried again next time, as it may have been passing)."""
    if _WORKS:
        return ""
    why = _try()
    if not why:
        _WORKS.append(True)
    return why


support.cache_clear = _WORKS.clear      # for tests that pretend bubblewrap is missing


def _try() -> str:
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if bwrap_path() is None:
        return ("bubblewrap is not installed (the `bwrap` command; Debian/Ubuntu: "
                "`apt-get install bubblewrap`, Fedora: `dnf install bubblewrap`)")
    stage = Path(os.path.realpath(os.devnull)).parent   # any folder will do for a dry run
    try:
        done = subprocess.run(
            command(stage=stage, impl="challenge", work_mb=1, env={"PATH": "/usr/bin",
                                                                      **python_layout()[2]},
                    argv=[python_inside(), "-I", "-S", "-c", "pass"]),
            stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap could not start ({e})"
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip().splitlines()
        if text and "--as-pid-1" in text[-1]:
            return (f"this bubblewrap is too old ({text[-1]}); the grader needs one that knows "
                    f"--as-pid-1 (bubblewrap 0.8 has it): update the `bwrap` package")
        return (f"bubblewrap could not make the sandbox ({text[-1] if text else done.returncode}"
                f"); it needs unprivileged user namespaces or root")
    return ""


def version() -> str:
    try:
        out = subprocess.run([bwrap_path() or "bwrap", "--version"], capture_output=True,
                             timeout=10).stdout.decode().strip()
    except (OSError, subprocess.TimeoutExpired):
        return "bubblewrap"
    return out or "bubblewrap"
