"""``challenge data import NAME --format tsv|csv|maildir|mbox PATH``: an instructor's own
labelled mail, stored exactly like the built-in corpus (``corpora/NAME/``) so that stats,
split, train and grade treat it the same way.

* ``tsv``: ``label<TAB>text`` per line, no header (the SMS Spam Collection layout).
* ``csv``: a header row; label and text columns found by name (``--label-col``/``--text-col``
  override); any encoding (``--encoding``, else UTF-8, cp1252, latin-1 in turn). Unreadable
  rows are skipped and reported with their line numbers.
* ``maildir``: a folder tree with ``ham/`` and ``spam/`` folders (Enron, Ling-Spam style),
  one message per file, parsed like the SpamAssassin mail; with ``--label`` every file under
  PATH gets that label (a plain Maildir).
* ``mbox``: one mbox file; all its messages get ``--label``.

Labels may be ham/spam, 0/1 or legit/spam in any case; any other value is an error naming
it and its line. Imported corpora have no checksums to verify (``verified`` is false), and
their groups are ``imported`` or the folder that held ham/ and spam/.
"""

from __future__ import annotations

import hashlib
import mailbox
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from challenge.data.corpus import Message, check_name, write_corpus
from challenge.data.parse import parse_fallback, parse_message
from challenge.data.tabular import csv_rows, label_or_error, read_text, tsv_rows
from challenge.errors import ChallengeError
from challenge.progress import bar

FORMATS = ("tsv", "csv", "maildir", "mbox")
_SHOW = 10


@dataclass
class ImportResult:
    """What an import stored, and every row it could not read."""

    corpus: str
    format: str
    source: str
    messages: int
    ham: int
    spam: int
    groups: dict[str, int]
    encoding: str
    parse_failures: int
    skipped: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        text = (f"imported {self.corpus} from {self.source} ({self.format}): {self.messages:,} "
                f"messages ({self.ham:,} ham, {self.spam:,} spam)")
        if self.skipped:
            lines = ", ".join(str(s["line"]) for s in self.skipped[:_SHOW])
            more = f" and {len(self.skipped) - _SHOW} more" if len(self.skipped) > _SHOW else ""
            text += (f"; {len(self.skipped)} unreadable rows skipped, at lines {lines}{more} "
                     f"(first: {self.skipped[0]['reason']}); all are listed in meta.json")
        return text


def _parsed(mid: str, group: str, label: int, raw: bytes, failed: list[str]) -> Message:
    try:
        p = parse_message(raw)
    except Exception:  # noqa: BLE001 - counted as a parse failure, the text is still kept
        p = parse_fallback(raw)
        failed.append(mid)
    return Message(id=mid, group=group, label=label, subject=p.subject, body=p.body,
                   headers=p.headers)


def _message_files(root: Path):
    """Every file under ``root`` in a stable order, skipping hidden files and folders."""
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(folder) / n for n in sorted(names) if not n.startswith("."))


def _maildir(path: Path, label: int | None, failed: list[str]) -> list[Message]:
    if not path.is_dir():
        raise ChallengeError(f"{path} is not a folder; --format maildir needs a folder with "
                             "ham/ and spam/ subfolders")
    roots: list[tuple[Path, int]] = []
    if label is not None:
        roots = [(path, label)]
    else:
        for folder, dirs, _ in os.walk(path):
            dirs.sort()
            for d in list(dirs):
                if d.lower() in ("ham", "spam"):
                    roots.append((Path(folder) / d, int(d.lower() == "spam")))
                    dirs.remove(d)
    if not roots:
        raise ChallengeError(f"no ham/ or spam/ folder under {path}; arrange the messages as "
                             "ham/ and spam/ subfolders, or pass --label for all of them")
    files = [(root, lab, file) for root, lab in roots for file in _message_files(root)]
    out = []
    for root, lab, file in bar(files, desc="parse", unit="msg"):
        parent = root.parent.relative_to(path) if root != path else Path(".")
        group = "imported" if str(parent) == "." else parent.as_posix()
        mid = file.relative_to(path).as_posix()
        out.append(_parsed(mid, group, lab, file.read_bytes(), failed))
    return out


def _mbox(path: Path, label: int, failed: list[str]) -> list[Message]:
    if not path.is_file():
        raise ChallengeError(f"{path} is not a file; --format mbox needs one mbox file")
    box = mailbox.mbox(path, create=False)
    try:
        keys = list(box.keys())
        return [_parsed(f"mbox/{n:06d}", "imported", label, box.get_bytes(k), failed)
                for n, k in enumerate(bar(keys, desc="parse", unit="msg"), 1)]
    finally:
        box.close()


def _sha256(path: Path) -> str:
    """The source file's sha256, recorded in meta.json ("" for a folder)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _check_options(fmt: str, label_col, text_col, encoding, label) -> None:
    if fmt not in FORMATS:
        raise ChallengeError(f"unknown import format {fmt!r}; use one of {', '.join(FORMATS)}")
    wrong = [opt for opt, value, ok in (("--label-col", label_col, ("csv",)),
                                        ("--text-col", text_col, ("csv",)),
                                        ("--encoding", encoding, ("csv", "tsv")),
                                        ("--label", label, ("mbox", "maildir")))
             if value is not None and fmt not in ok]
    if wrong:
        raise ChallengeError(f"{', '.join(wrong)} does not apply to --format {fmt}; drop it")
    if fmt == "mbox" and label is None:
        raise ChallengeError("an mbox carries no labels; pass --label ham or --label spam")


def import_corpus(name: str, format: str, path: str | os.PathLike, *,
                  label_col: str | None = None, text_col: str | None = None,
                  encoding: str | None = None, label: str | None = None,
                  data_dir: str | os.PathLike | None = None) -> ImportResult:
    """Import the labelled mail at ``path`` as corpus ``name`` (see the module docstring)."""
    check_name(name, allow_builtin=False)
    _check_options(format, label_col, text_col, encoding, label)
    path = Path(path).expanduser()
    if not path.exists():
        raise ChallengeError(f"import path {path} does not exist; check the path")
    forced = label_or_error(label, "--label") if label is not None else None
    skipped: list[dict] = []
    failed: list[str] = []
    used = ""
    if format in ("tsv", "csv"):
        if not path.is_file():
            raise ChallengeError(f"{path} is not a file; --format {format} needs one table file")
        text, used = read_text(path, encoding)
        rows = tsv_rows(path, text, skipped) if format == "tsv" else \
            csv_rows(path, text, label_col, text_col, skipped)
        messages = [Message(id=f"line-{r.line:06d}", group="imported", label=r.label,
                            subject="", body=r.text) for r in rows]
    elif format == "maildir":
        messages = _maildir(path, forced, failed)
    else:
        messages = _mbox(path, forced, failed)
    if not messages:
        lines = f" ({len(skipped)} unreadable rows, first at line {skipped[0]['line']})" \
            if skipped else ""
        raise ChallengeError(f"no messages found in {path}{lines}; check the path and --format")
    spam = sum(m.label for m in messages)
    groups: dict[str, int] = {}
    for m in messages:
        groups[m.group] = groups.get(m.group, 0) + 1
    meta = {"name": name, "source": str(path.resolve()), "format": format,
            "licence": "unknown (imported by the instructor)", "encoding": used,
            "messages": len(messages), "ham": len(messages) - spam, "spam": spam,
            "groups": groups, "verified": False,
            "source_sha256": _sha256(path),
            "skipped_rows": skipped, "parse_failures": len(failed), "parse_failed": failed,
            "empty_body": sum(1 for m in messages if not m.body)}
    write_corpus(name, messages, meta, data_dir)
    return ImportResult(corpus=name, format=format, source=str(path), messages=len(messages),
                        ham=meta["ham"], spam=spam, groups=groups, encoding=used,
                        parse_failures=len(failed), skipped=skipped)
