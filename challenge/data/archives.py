"""Archives and folder layouts of the SpamAssassin corpus: safe extraction, and finding the
five message groups in whatever layout a source delivers.

Accepted layouts (searched a few folders deep): the Apache archives' folders (``easy_ham``,
``easy_ham_2``, ``hard_ham``, ``spam``, ``spam_2``), the npm package's
``package/data/<group>/<NNNNN>.<md5>.txt`` (the ``.json`` twins are skipped), or folders
already named after our groups (``easy-ham-1`` ...). A message file is named ``NNNNN.<md5>``
with an optional ``.txt``; anything else (the Apache ``cmds`` files) is ignored.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from challenge.errors import ChallengeError
from challenge.progress import bar

MESSAGE_FILE = re.compile(r"(\d{5})\.([0-9a-f]{32})(?:\.txt)?")
ARCHIVE_SUFFIXES = (".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".tar", ".zip")
_MAX_DEPTH = 5


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def is_message_name(name: str) -> bool:
    return MESSAGE_FILE.fullmatch(PurePosixPath(name).name) is not None


def _safe_relpath(name: str) -> Path | None:
    """``name`` as a relative path inside the destination, or None if it would escape it."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    if not parts or parts[0] == "/" or ".." in parts:
        return None
    return Path(*parts)


def extract_archive(archive: Path, dest: Path,
                    keep: Callable[[str], bool] = is_message_name) -> int:
    """Extract the regular files of ``archive`` whose names pass ``keep`` into ``dest``.

    Only plain files are written (no links, devices or absolute / ``..`` paths), so a hostile
    archive cannot write outside ``dest``. Returns the number of files written. A truncated or
    corrupt archive is a ChallengeError naming it.
    """
    written = 0
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir() and keep(i.filename)]
                for info in bar(infos, desc=f"extract {archive.name}", unit="file"):
                    rel = _safe_relpath(info.filename)
                    if rel is not None:
                        target = dest / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(zf.read(info))
                        written += 1
        else:
            # streaming mode ("r|*") reads each member once, in order, whatever the compression
            with tarfile.open(archive, mode="r|*") as tf:
                for member in bar(tf, desc=f"extract {archive.name}", unit="file"):
                    rel = _safe_relpath(member.name)
                    if not member.isfile() or rel is None or not keep(member.name):
                        continue
                    source = tf.extractfile(member)
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read())
                    written += 1
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as e:
        if isinstance(e, FileNotFoundError) and not archive.exists():
            raise ChallengeError(f"archive {archive} does not exist; check the path") from None
        raise ChallengeError(f"archive {archive} is truncated or corrupt ({e}); "
                             "download it again") from None
    return written


def find_groups(root: Path, aliases: dict[str, str]) -> dict[str, Path]:
    """Map each group name to the folder holding its message files, under ``root``.

    ``aliases`` maps folder names (Apache ``easy_ham``, or ``easy-ham-1`` itself) to group
    names. A group found in two places is an error naming both.
    """
    found: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        if depth >= _MAX_DEPTH:
            dirs.clear()
        dirs.sort()
        group = aliases.get(Path(folder).name)
        if group is None or not any(is_message_name(f) for f in files):
            continue
        if group in found:
            raise ChallengeError(f"group {group!r} appears twice, in {found[group]} and {folder}; "
                                 "point --from at a folder that holds one copy of the corpus")
        found[group] = Path(folder)
    return found


def stage_group(source: Path, dest: Path, *, move: bool) -> int:
    """Put the message files of ``source`` into ``dest`` as ``NNNNN.<md5>`` (no ``.txt``).

    ``move`` renames (files we extracted ourselves); otherwise the user's files are copied.
    """
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        match = MESSAGE_FILE.fullmatch(entry.name)
        if match is None or not entry.is_file():
            continue
        target = dest / f"{match.group(1)}.{match.group(2)}"
        if target.exists():
            raise ChallengeError(f"{source} holds message {target.name} twice (with and without "
                                 ".txt); keep one copy and fetch again")
        if move:
            os.replace(entry.path, target)
        else:
            shutil.copyfile(entry.path, target)
        count += 1
    return count
