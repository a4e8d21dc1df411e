"""Verification and parsing of a raw SpamAssassin folder against its committed manifest.

Every message file is named ``NNNNN.<md5>`` and must hash to that MD5. The manifest
(``data/manifests/spam.json``) pins the expected group counts and the few files whose
packaged content is known to differ from their name (``checksum_exceptions``: file -> the
MD5 we accept instead), so even those are checked against a pinned hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import challenge
from challenge.data.archives import MESSAGE_FILE
from challenge.data.corpus import Message
from challenge.data.parse import ParsedMail, parse_fallback, parse_message
from challenge.errors import ChallengeError
from challenge.progress import bar

MANIFEST_NAME = "spam.json"
_SHOW = 5


def manifest_path(data_dir: Path) -> Path:
    """``<data_dir>/manifests/spam.json`` if present, else the one committed in the repository."""
    local = data_dir / "manifests" / MANIFEST_NAME
    if local.is_file():
        return local
    return Path(challenge.__file__).resolve().parents[1] / "data" / "manifests" / MANIFEST_NAME


def load_manifest(path: str | os.PathLike | None = None, data_dir: Path | None = None) -> dict:
    """The corpus manifest: from ``path``, else :func:`manifest_path` of ``data_dir``."""
    path = Path(path) if path is not None else manifest_path(data_dir or Path("data"))
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChallengeError(f"corpus manifest {path} not found; it ships with the kit in "
                             "data/manifests/ - restore it from the repository") from None
    except ValueError as e:
        raise ChallengeError(f"corpus manifest {path} is not valid JSON ({e}); restore it "
                             "from the repository") from None
    for key in ("groups", "folder_aliases", "sources"):
        if key not in manifest:
            raise ChallengeError(f"corpus manifest {path} lacks {key!r}; restore it from the "
                                 "repository")
    return manifest


def _listing(items: list[str], what: str) -> str:
    shown = ", ".join(items[:_SHOW])
    more = f" and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"{len(items)} {what}: {shown}{more}"


def check_counts(raw_dir: Path, manifest: dict) -> dict[str, list[Path]]:
    """The message files of each group, after checking every group has its expected count."""
    files: dict[str, list[Path]] = {}
    problems = []
    for group, spec in manifest["groups"].items():
        folder = raw_dir / group
        names = sorted(f for f in os.listdir(folder) if MESSAGE_FILE.fullmatch(f)) \
            if folder.is_dir() else []
        files[group] = [folder / f for f in names]
        if len(names) != spec["messages"]:
            problems.append(f"{group} has {len(names)} messages, expected {spec['messages']}")
    if problems:
        raise ChallengeError(f"incomplete corpus in {raw_dir}: {'; '.join(problems)}; "
                             "the source is truncated or not the SpamAssassin corpus")
    return files


def _parse(raw: bytes) -> tuple[ParsedMail, bool]:
    try:
        return parse_message(raw), True
    except Exception:  # noqa: BLE001 - any parser crash becomes a counted, recoverable failure
        return parse_fallback(raw), False


def build_corpus(raw_dir: Path, manifest: dict, source: str) -> tuple[list[Message], dict]:
    """Verify every file of ``raw_dir`` and parse it; return the messages and ``meta.json``.

    A file whose MD5 matches neither its name nor its pinned exception makes the whole corpus
    a ChallengeError naming the files: a corrupted corpus is never written.
    """
    files = check_counts(raw_dir, manifest)
    exceptions: dict[str, str] = manifest.get("checksum_exceptions", {})
    total = sum(len(v) for v in files.values())
    messages, bad, failed, excepted = [], [], [], []
    with bar(total=total, desc="verify+parse", unit="msg") as progress:
        for group, paths in files.items():
            label = int(manifest["groups"][group]["label"])
            for path in paths:
                raw = path.read_bytes()
                mid = f"{group}/{path.name}"
                actual = hashlib.md5(raw).hexdigest()
                if actual != path.name.split(".")[1]:
                    if exceptions.get(mid) == actual:
                        excepted.append(mid)
                    else:
                        bad.append(f"{mid} (content md5 {actual})")
                parsed, ok = _parse(raw)
                if not ok:
                    failed.append(mid)
                messages.append(Message(id=mid, group=group, label=label, subject=parsed.subject,
                                        body=parsed.body, headers=parsed.headers))
                progress.update()
    if bad:
        listing = _listing(bad, "files do not match the MD5 in their name")
        raise ChallengeError(f"corrupted corpus: {listing}; fetch again from a good copy (or "
                             "pass --from a clean one)")
    spam = sum(m.label for m in messages)
    meta = {
        "name": manifest.get("name", "spam"), "title": manifest.get("title", ""),
        "source": source, "licence": manifest.get("licence", ""), "format": "spamassassin",
        "messages": len(messages), "ham": len(messages) - spam, "spam": spam,
        "groups": {g: len(p) for g, p in files.items()},
        "verified": True, "checksum": "md5 of each file = its name, or its pinned exception",
        "checksum_exceptions_used": excepted,
        "parse_failures": len(failed), "parse_failed": failed,
        "empty_body": sum(1 for m in messages if not m.body),
    }
    return messages, meta
