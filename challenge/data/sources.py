"""Where an import's messages come from and how each gets its label: ``PATH[:LABEL]`` source
arguments, ``--label-from-name`` rules on file names, folder walks that follow symbolic links,
and the MD5 check of files named after their content (``NNNNN.<md5>``, as in SpamAssassin).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from challenge.data.tabular import label_or_error, normalise_label
from challenge.errors import ChallengeError

_MD5_NAME = re.compile(r"(?:^|.*\.)([0-9a-f]{32})(?:\.txt|\.eml)?")


@dataclass(frozen=True)
class Source:
    """One import argument: a path and the label its suffix gave (``ham.mbox:ham``), if any."""

    path: Path
    label: int | None = None


def parse_source(text: str) -> Source:
    """``PATH`` or ``PATH:LABEL``; a path that exists as written is never split at a colon."""
    path = Path(text).expanduser()
    head, sep, tail = text.rpartition(":")
    if not path.exists() and sep and head and normalise_label(tail) is not None:
        return Source(Path(head).expanduser(), normalise_label(tail))
    return Source(path)


@dataclass(frozen=True)
class LabelRule:
    """``PATTERN=LABEL``: a glob on the file name (on the path below the source when the
    pattern holds a ``/``), or a regular expression searched in it when written ``re:...``."""

    pattern: str
    label: int

    def matches(self, relpath: str) -> bool:
        if self.pattern.startswith("re:"):
            return re.search(self.pattern[3:], relpath) is not None
        target = relpath if "/" in self.pattern else relpath.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(target, self.pattern)


def parse_rules(rules: list[str] | tuple[str, ...]) -> list[LabelRule]:
    out = []
    for text in rules:
        pattern, sep, label = text.rpartition("=")
        if not sep or not pattern:
            raise ChallengeError(f"--label-from-name {text!r} is not PATTERN=LABEL; write e.g. "
                                 f"'spmsg*=spam' (a glob) or 're:^spm=spam' (a regex)")
        if pattern.startswith("re:"):
            try:
                re.compile(pattern[3:])
            except re.error as e:
                raise ChallengeError(f"--label-from-name {text!r}: bad regular expression ({e}); "
                                     f"fix the pattern after 're:'") from None
        out.append(LabelRule(pattern, label_or_error(label, f"--label-from-name {text!r}")))
    return out


class Labeller:
    """The label of a file by the first rule its name matches, else the default label."""

    def __init__(self, rules: list[LabelRule], default: int | None):
        self.rules, self.default = rules, default

    def __bool__(self) -> bool:
        return bool(self.rules) or self.default is not None

    def label(self, relpath: str) -> int | None:
        return next((r.label for r in self.rules if r.matches(relpath)), self.default)

    def labels(self, root: Path, relpaths: list[str]) -> list[int]:
        """Every file's label; an error naming the unmatched files when there is no default."""
        labels = [self.label(p) for p in relpaths]
        missing = [p for p, lab in zip(relpaths, labels) if lab is None]
        if missing:
            raise ChallengeError(f"{len(missing)} files under {root} match no --label-from-name "
                                 f"rule (first: {missing[0]}); add a rule for them or pass "
                                 f"--default-label ham|spam")
        return labels  # type: ignore[return-value]


def walk_dirs(root: Path) -> Iterator[tuple[Path, list[str], list[str]]]:
    """``os.walk`` that follows symbolic links to folders (each real folder once, so a link
    loop ends), skipping hidden files and folders, in a stable order."""
    seen: set[str] = set()
    for folder, dirs, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield Path(folder), dirs, sorted(n for n in names if not n.startswith("."))


def message_files(root: Path) -> list[Path]:
    """Every file under ``root`` (links followed), in a stable order."""
    return [folder / n for folder, _, names in walk_dirs(root) for n in names
            if (folder / n).is_file()]


def md5_named(files: list[Path]) -> bool:
    """True when every file's name carries a 32-hex-digit MD5 (``00001.<md5>``)."""
    return bool(files) and all(_MD5_NAME.fullmatch(f.name) for f in files)


def md5_mismatches(files: list[Path], contents: list[bytes]) -> list[str]:
    """The files whose content does not hash to the MD5 in their name."""
    return [str(f) for f, data in zip(files, contents)
            if hashlib.md5(data).hexdigest() != _MD5_NAME.fullmatch(f.name).group(1)]
