"""Safe extraction of an untrusted zip (a student's submission).

Refused, each with a reason: a file that is not a zip, encrypted entries, absolute paths,
``..`` components, backslashes and drive letters, symlinks and other special files, duplicate
names, too many entries, and too many bytes: the declared sizes are checked before anything is
written and the actual bytes are counted while streaming, so a zip bomb that lies about its
sizes stops at the limit. Nothing is left behind when extraction is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from challenge.errors import ChallengeError

_CHUNK = 1 << 16


class UnsafeZip(ChallengeError):
    """The zip was refused; the message says which entry and why."""


def check_name(name: str) -> PurePosixPath:
    """The relative path an entry may be written to, or :class:`UnsafeZip`."""
    if not name or "\x00" in name:
        raise UnsafeZip(f"entry {name!r} has an empty or NUL-containing name")
    if "\\" in name:
        raise UnsafeZip(f"entry {name!r} uses a backslash; zip paths use '/'")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeZip(f"entry {name!r} is an absolute path; entries must be relative")
    path = PurePosixPath(name)
    if any(part == ".." for part in path.parts):
        raise UnsafeZip(f"entry {name!r} climbs out of the folder with '..' (zip slip)")
    if any(part in ("", ".") for part in name.rstrip("/").split("/")):
        raise UnsafeZip(f"entry {name!r} has an empty or '.' path component")
    return path


def _kind(info: zipfile.ZipInfo) -> str:
    """"dir", "file", or the name of a refused special file type."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # made on Unix: the high bits are st_mode
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISDIR(mode):
            return "dir"
        if not stat.S_ISREG(mode):
            return "special file"
    return "dir" if info.filename.endswith("/") else "file"


def list_entries(zip_path: str | os.PathLike, *, max_files: int, max_bytes: int) -> list[zipfile.ZipInfo]:
    """Validate every entry's metadata (names, types, declared sizes) without extracting."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UnsafeZip(f"{Path(zip_path).name} is not a readable zip file ({e})") from None
    with zf:
        infos = zf.infolist()
    if len(infos) > max_files:
        raise UnsafeZip(f"the zip has {len(infos)} entries; at most {max_files} are allowed")
    seen: set[str] = set()
    declared = 0
    for info in infos:
        path = check_name(info.filename)
        key = path.as_posix().lower()
        if key in seen:
            raise UnsafeZip(f"entry {info.filename!r} appears more than once (names are compared "
                            f"ignoring case)")
        seen.add(key)
        kind = _kind(info)
        if kind in ("symlink", "special file"):
            raise UnsafeZip(f"entry {info.filename!r} is a {kind}; only regular files are allowed")
        if info.flag_bits & 0x1:
            raise UnsafeZip(f"entry {info.filename!r} is encrypted; submit an unencrypted zip")
        declared += info.file_size
        if declared > max_bytes:
            raise UnsafeZip(f"the zip declares more than {max_bytes} bytes uncompressed "
                            f"(limit reached at {info.filename!r})")
    return infos


def safe_extract(zip_path: str | os.PathLike, dest: str | os.PathLike, *, max_files: int = 32,
                 max_bytes: int = 256 << 20) -> list[str]:
    """Extract ``zip_path`` into the new folder ``dest``; returns the file names written.

    Raises :class:`UnsafeZip` (and leaves no ``dest``) when any entry is refused.
    """
    dest = Path(dest)
    if dest.exists():
        raise ChallengeError(f"extraction folder {dest} already exists; pass a new path")
    infos = list_entries(zip_path, max_files=max_files, max_bytes=max_bytes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    written: list[str] = []
    try:
        total = 0
        with zipfile.ZipFile(zip_path) as zf:
            for info in infos:
                rel = check_name(info.filename)
                target = tmp.joinpath(*rel.parts)
                if _kind(info) == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                size = 0
                with zf.open(info) as src, open(target, "xb") as out:
                    while chunk := src.read(_CHUNK):
                        size += len(chunk)
                        total += len(chunk)
                        if size > info.file_size:
                            raise UnsafeZip(f"entry {info.filename!r} holds more bytes than it "
                                            f"declares ({info.file_size}); refusing a zip bomb")
                        if total > max_bytes:
                            raise UnsafeZip(f"the zip expands to more than {max_bytes} bytes")
                        out.write(chunk)
                os.chmod(target, 0o644)
                written.append(rel.as_posix())
        os.replace(tmp, dest)
    except zipfile.BadZipFile as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UnsafeZip(f"{Path(zip_path).name} is corrupt ({e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written
