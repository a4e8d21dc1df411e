"""``challenge submit``: the student's modules, checkpoints and a manifest in one zip.

The modules are checked for syntax and imports and the checkpoints for size, safe loading and
task before anything is written; the zip is replaced atomically. The layout is the one in
docs/interfaces.md ("Submissions").
"""

from __future__ import annotations

import ast
import getpass
import hashlib
import importlib
import json
import os
import re
import shlex
import sys
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

import challenge
from challenge.checkpoint import load_checkpoint
from challenge.errors import ChallengeError
from challenge.impl import IMPLS, STUDENT_MODULES, import_error, load_module
from challenge.paths import atomic_write
from challenge.timelimit import TooLong, time_limit

#: A checkpoint bigger than this is refused (the grader would refuse it too).
MAX_CHECKPOINT_BYTES = 50 * 2**20
#: The tasks whose checkpoints a submission carries, as ``checkpoints/<task>.pt``.
TASKS = ("spam", "sorter")
#: Seconds each module's import may take when submit tries it (``challenge check``'s limit).
IMPORT_SECONDS = 60.0
#: What a student module may import (docs/interfaces.md: torch, numpy, the standard library).
ALLOWED_IMPORTS = frozenset(sys.stdlib_module_names) | {"torch", "numpy", "__future__"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class SubmitResult:
    """What ``challenge submit`` wrote: the zip, its files (name -> bytes) and any warnings."""

    path: str
    student: str
    files: dict[str, int]
    sha256: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"packed {self.path} for student {self.student!r}:"]
        for name, size in self.files.items():
            lines.append(f"  {name:<26} {size:>10,} bytes  sha256 {self.sha256[name][:12]}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def modules_dir(impl: str = "challenge") -> Path:
    """The folder holding ``impl``'s student modules ("challenge", "solutions" or a folder)."""
    if impl in IMPLS:
        try:
            package = importlib.import_module(impl)
        except ModuleNotFoundError:
            raise ChallengeError(f"implementation {impl!r} is not installed here; "
                                 f"use --impl challenge or a folder") from None
        return Path(package.__file__).parent
    folder = Path(impl)
    if not folder.is_dir():
        raise ChallengeError(f"implementation {impl!r}: expected 'challenge', 'solutions' or a "
                             f"folder of student modules; {folder} is not a folder")
    return folder


def checkpoint_candidates(task: str, impl: str = "challenge") -> list[Path]:
    """Every path ``challenge train <task> --impl <impl>`` may save to, the likeliest first:
    one per sorter architecture (pointer first), one per spam split scheme of the course's
    corpus (the split on disk first)."""
    if task == "sorter":
        from challenge.tasks.sorter import ARCHS, default_path
        return [Path(default_path(impl, a)) for a in sorted(ARCHS, key=lambda a: a != "pointer")]
    if task == "spam":
        from challenge.tasks.spam import (
            SCHEMES,
            check_scheme,
            course_corpus,
            default_path,
        )
        corpus = course_corpus()
        try:
            first = check_scheme(None, corpus)
        except ChallengeError:  # no split here yet
            first = "random"
        schemes = sorted(SCHEMES, key=lambda s: s != first)
        return [Path(default_path(impl, s, corpus)) for s in schemes]
    raise ChallengeError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def default_checkpoint(task: str, impl: str = "challenge") -> Path:
    """The checkpoint ``challenge submit`` packs for ``task``: of the existing candidates the
    newest, else the default path (which then does not exist)."""
    candidates = checkpoint_candidates(task, impl)
    existing = [p for p in candidates if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else candidates[0]


def train_command(task: str, impl: str) -> str:
    """The command that saves ``impl``'s ``task`` checkpoint where submit looks for it."""
    return f"challenge train {task} --impl {shlex.quote(str(impl))}"


def missing_checkpoint(task: str, impl: str, path: Path) -> str:
    """The warning for a ``task`` checkpoint missing at ``path``: the file, the command that
    writes it, and the checkpoints of that task trained for other implementations, if any."""
    text = (f"no {task} checkpoint at {path}: the {task} quality part will score zero; "
            f"`{train_command(task, impl)}` saves one there")
    folder = path.parent
    others = sorted(str(p) for p in folder.glob("*.pt") if p.is_file()) if folder.is_dir() else []
    if others:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        text += (f"; {folder} holds {shown}, trained for another --impl: pass "
                 f"--{task}-checkpoint PATH to pack one of those")
    return text


def resolve_student(student: str | None) -> str:
    """The student's name: ``student``, else ``$CHALLENGE_STUDENT``, else the login name."""
    name = student or os.environ.get("CHALLENGE_STUDENT") or ""
    source = "--student" if student else "$CHALLENGE_STUDENT"
    if not name:
        try:
            name, source = getpass.getuser(), "your login name"
        except Exception:  # no login name in some containers
            name = ""
    if not name:
        raise ChallengeError("no student name: pass --student NAME (letters, digits, - _ .)")
    if not _SAFE_NAME.fullmatch(name) or "__" in name:  # "a__2.zip" is attempt 2 of "a"
        raise ChallengeError(f"student name {name!r} (from {source}) is not allowed: use 1-64 "
                             f"letters, digits, '-', '_' or '.', starting with a letter or "
                             f"digit, no '__', e.g. --student alice_smith")
    return name


def check_imports(path: Path) -> None:
    """Refuse a module that does not parse or imports anything beyond torch/numpy/stdlib.

    The grader loads the submitted modules on their own, so an import of a helper file, of the
    kit or of another package would only fail there.
    """
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as e:
        raise ChallengeError(f"{path} has a syntax error at line {e.lineno}: {e.msg}; "
                             f"fix it (challenge check shows it too) and submit again") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            names = ["." * node.level + (node.module or "")]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith(".") or name.split(".")[0] not in ALLOWED_IMPORTS:
                raise ChallengeError(f"{path.name} line {node.lineno} imports {name!r}: "
                                     f"{_import_fix(name, path.name)}")


def _import_fix(name: str, filename: str) -> str:
    """Why an import is refused and what to do instead, by what it imports."""
    top = name.lstrip(".").split(".")[0]
    if name.startswith(".") or top in ("challenge", "solutions", "grader") \
            or top in STUDENT_MODULES:
        return (f"the grader loads each student module on its own, without the kit or your "
                f"other modules; copy the code you need from {name.lstrip('.') or 'there'} into "
                f"{filename} itself")
    return (f"{top!r} is not available to the grader, which gives student modules torch, numpy "
            f"and the standard library only; remove the import and write that part with those "
            f"in {filename}")


def check_checkpoint(path: Path, task: str, max_bytes: int = MAX_CHECKPOINT_BYTES) -> None:
    """Refuse a checkpoint that is too big, does not load with weights_only=True, or is of
    another task."""
    size = path.stat().st_size
    if size > max_bytes:
        raise ChallengeError(f"{task} checkpoint {path} is {size / 2**20:.1f} MB, over the "
                             f"{max_bytes / 2**20:g} MB limit; train a smaller model")
    ckpt = load_checkpoint(path)
    got = ckpt["config"].get("task") if isinstance(ckpt["config"], dict) else None
    if got is not None and got != task:
        raise ChallengeError(f"checkpoint {path} is a {got!r} checkpoint, not {task!r}; pass it "
                             f"as --{got}-checkpoint")


def import_problem(impl: str, module: str, seconds: float | None = IMPORT_SECONDS) -> str:
    """Why ``impl``'s ``module`` cannot be imported (an exception or an endless loop at module
    level), or ``""``. The grader would score every check of that part zero."""
    try:
        with time_limit(seconds, f"importing {module}"):
            load_module(impl, module)
    except TooLong:
        return f"took longer than {seconds:g} s to import and was stopped (an endless loop?)"
    except ChallengeError as e:
        return str(e)
    except Exception as e:         # the student's module-level code
        return f"failed to import: {import_error(e)}"
    return ""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str]:
    from challenge.version import checks_version

    return {"kit_version": challenge.__version__, "grader_version": checks_version(),
            "torch_version": torch.__version__}


def submit(*, student: str | None = None, out: str | os.PathLike = "submission.zip",
           spam_checkpoint: str | os.PathLike | None = None,
           sorter_checkpoint: str | os.PathLike | None = None, impl: str = "challenge",
           max_checkpoint_bytes: int = MAX_CHECKPOINT_BYTES) -> SubmitResult:
    """Pack ``impl``'s student modules, the checkpoints and a manifest into ``out``, atomically.

    A checkpoint left as None is looked for where ``challenge train`` saves it; a missing one is
    a warning (that task's quality part will score zero), a given path that is missing is an error.
    Each module is imported once (its module-level code runs, up to :data:`IMPORT_SECONDS`): one
    that fails is packed all the same, with a warning naming the error.
    """
    name = resolve_student(student)
    folder = modules_dir(impl)
    payload: dict[str, bytes] = {}
    for module in STUDENT_MODULES:
        path = folder / f"{module}.py"
        if not path.is_file():
            raise ChallengeError(f"student module {path} is missing; every module of "
                                 f"{', '.join(STUDENT_MODULES)} must be there (a stub is fine)")
        check_imports(path)
        payload[f"modules/{module}.py"] = path.read_bytes()
    warnings = []
    for module in STUDENT_MODULES:
        if problem := import_problem(impl, module):
            warnings.append(f"{module}.py {problem}; packed as it is, but the grader will score "
                            f"every {module} check zero: fix it (`challenge check {module}`) "
                            f"and submit again")
    given = {"spam": spam_checkpoint, "sorter": sorter_checkpoint}
    for task in TASKS:
        path = Path(given[task]) if given[task] is not None else default_checkpoint(task, impl)
        if given[task] is None:
            others = [str(p) for p in checkpoint_candidates(task, impl) if p.is_file() and p != path]
            if others:
                warnings.append(f"several {task} checkpoints; packed the newest, {path} (not "
                                f"{', '.join(others)}); pass --{task}-checkpoint to choose")
        if not path.is_file():
            if given[task] is not None:
                raise ChallengeError(f"--{task}-checkpoint {path} does not exist; pass the "
                                     f"checkpoint that challenge train {task} wrote")
            warnings.append(missing_checkpoint(task, impl, path))
            continue
        check_checkpoint(path, task, max_checkpoint_bytes)
        payload[f"checkpoints/{task}.pt"] = path.read_bytes()
    hashes = {k: _sha256(v) for k, v in payload.items()}
    manifest = {"student": name, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **_versions(), "files": hashes}
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    out = Path(out)
    with atomic_write(out, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("manifest.json", manifest_bytes)
            for arcname, data in payload.items():
                zf.writestr(arcname, data)
    payload = {"manifest.json": manifest_bytes, **payload}
    return SubmitResult(path=str(out), student=name,
                        files={k: len(v) for k, v in payload.items()},
                        sha256={k: _sha256(v) for k, v in payload.items()}, warnings=warnings)
