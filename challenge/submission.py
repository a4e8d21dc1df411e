"""Opening a code submission: safe extraction, the fixed layout, and the manifest's hashes.

Layout (what ``challenge submit`` writes; nothing else is allowed)::

    manifest.json          {"student": "alice", "created": "<ISO time>", "kit_version": "...",
                            "grader_version": "...", "torch_version": "...",
                            "files": {"modules/tokenizer.py": "<sha256>", ...}}
    modules/<name>.py      the student's own modules, one per challenge.impl.STUDENT_MODULES
    checkpoints/spam.pt    optional: the spam checkpoint (missing: spam quality is zero)
    checkpoints/sorter.pt  optional: the sorter checkpoint (missing: sorter quality is zero)

Every file but the manifest must be listed in ``files`` with its sha256. A missing module is not
an error of the whole submission: that part's checks fail with a reason.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from challenge.safezip import safe_extract

CHECKPOINTS = ("spam", "sorter")
ALLOWED = ({"manifest.json"} | {f"modules/{m}.py" for m in STUDENT_MODULES}
           | {f"checkpoints/{t}.pt" for t in CHECKPOINTS})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class BadSubmission(ChallengeError):
    """The submission as a whole cannot be graded; the message says why."""


@dataclass
class Submission:
    folder: Path                        # the extracted files
    student: str
    manifest: dict
    checkpoints: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def modules(self) -> Path:
        return self.folder / "modules"


def student_from_name(path: Path) -> str:
    """``alice.zip`` and ``alice__2.zip`` are alice's."""
    return path.stem.split("__", 1)[0]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def open_submission(zip_path: Path, dest: Path, *, max_files: int, max_bytes: int) -> Submission:
    """Extract ``zip_path`` into the new folder ``dest`` and validate it; BadSubmission if not."""
    try:
        names = safe_extract(zip_path, dest, max_files=max_files, max_bytes=max_bytes)
    except ChallengeError as e:
        raise BadSubmission(f"{e}; make the zip again with `challenge submit`") from None
    extra = sorted(set(names) - ALLOWED)
    if extra:
        raise BadSubmission(f"unexpected file {extra[0]!r} in the submission; it may hold only "
                            f"manifest.json, modules/<name>.py and checkpoints/spam.pt|sorter.pt "
                            f"(make it with `challenge submit`)")
    if "manifest.json" not in names:
        raise BadSubmission("the submission has no manifest.json; make it with `challenge submit`")
    try:
        manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadSubmission(f"manifest.json is not valid JSON ({e})") from None
    except RecursionError:   # thousands of nested brackets: never what `challenge submit` writes
        raise BadSubmission("manifest.json is nested too deeply to read; make the zip again "
                            "with `challenge submit`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BadSubmission("manifest.json needs a 'files' table of sha256 hashes")
    listed = manifest["files"]
    for name in names:
        if name == "manifest.json":
            continue
        if name not in listed:
            raise BadSubmission(f"{name} is not listed in manifest.json; make the zip with "
                                f"`challenge submit`")
        if sha256_file(dest / name) != listed[name]:
            raise BadSubmission(f"{name} does not match its sha256 in manifest.json (edited after "
                                f"`challenge submit`?)")
    missing = sorted(set(listed) - set(names))
    if missing:
        raise BadSubmission(f"manifest.json lists {missing[0]!r} but the zip does not contain it")
    student = manifest.get("student")
    if not isinstance(student, str) or not _NAME.fullmatch(student):
        student = student_from_name(zip_path)
    sub = Submission(folder=dest, student=student, manifest=manifest)
    (dest / "modules").mkdir(exist_ok=True)
    for task in CHECKPOINTS:
        path = dest / "checkpoints" / f"{task}.pt"
        if path.is_file():
            sub.checkpoints[task] = path
    missing_modules = [m for m in STUDENT_MODULES if not (dest / "modules" / f"{m}.py").is_file()]
    if missing_modules:
        sub.notes.append(f"no module(s) {', '.join(missing_modules)}")
    return sub
