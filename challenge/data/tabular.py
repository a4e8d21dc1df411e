"""Reading labelled text tables (TSV and CSV) the way real exports come: unknown encodings,
stray quotes, ragged rows, bare carriage returns. Every row either yields a record or is
reported with its line number; none is dropped silently.

Lines end at ``\n`` only (``\r\n`` too), as editors and ``grep -n`` count them: a bare CR,
a form feed or a latin-1 NEL inside a row is part of its text (a bare CR becomes a line break
in the text), never the start of another record.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from challenge.errors import ChallengeError

_LABELS = {"ham": 0, "legit": 0, "0": 0, "spam": 1, "1": 1}
LABEL_NAMES = ("label", "class", "category", "spam", "v1", "target", "type")
TEXT_NAMES = ("text", "message", "body", "email", "sms", "content", "v2", "mail")
AUTO_ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # whole e-mails can sit in one cell
_BARE_CR = re.compile(r"\r(?!\n)")


def editor_lines(text: str) -> tuple[list[str], str]:
    """``text`` cut into lines (ends kept) where an editor cuts it, at ``\n`` only, and the
    stand-in character that replaced every bare CR (a private-use one absent from ``text``;
    :func:`restore_cr` turns it back into a line break)."""
    mark = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)
    text = _BARE_CR.sub(mark, text)
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    return (out + [lines[-1]] if lines[-1] else out), mark


def restore_cr(text: str, mark: str) -> str:
    return text.replace(mark, "\n")


@dataclass(frozen=True)
class Row:
    """One readable record: its first line number, label (0/1) and text."""

    line: int
    label: int
    text: str


def normalise_label(value: str) -> int | None:
    """0 for ham/legit/0, 1 for spam/1 (any case, surrounding spaces and quotes ignored)."""
    return _LABELS.get(value.strip().strip("\"'").strip().lower())


def label_or_error(value: str, where: str) -> int:
    label = normalise_label(value)
    if label is None:
        raise ChallengeError(f"{where}: label {value.strip()!r} is not ham/spam, 0/1 or "
                             "legit/spam; fix that row (or --label-col if it is the wrong column)")
    return label


def read_text(path: Path, encoding: str | None) -> tuple[str, str]:
    """The file's text and the encoding used: ``encoding`` if given, else the first of
    UTF-8, cp1252 and latin-1 that decodes it (latin-1 always does)."""
    data = path.read_bytes()
    for name in ([encoding] if encoding else AUTO_ENCODINGS):
        try:
            return data.decode(name), name
        except LookupError:
            raise ChallengeError(f"unknown encoding {name!r}; use a Python codec name such as "
                                 "utf-8, latin-1 or cp1252") from None
        except UnicodeDecodeError as e:
            if encoding:
                line = data[: e.start].count(b"\n") + 1
                raise ChallengeError(f"{path}, line {line}: not valid {encoding} ({e.reason}); "
                                     "pass the right --encoding (e.g. latin-1)") from None
    raise AssertionError("latin-1 decodes any bytes")


def tsv_rows(path: Path, text: str, skipped: list[dict]) -> Iterator[Row]:
    """``label<TAB>text`` lines without a header (a first line naming columns is skipped)."""
    lines, mark = editor_lines(text)
    for n, line in enumerate(lines, 1):
        line = restore_cr(line.rstrip("\r\n"), mark)
        if not line.strip():
            continue
        label, tab, body = line.partition("\t")
        if not tab:
            skipped.append({"line": n, "reason": "no tab between label and text"})
            continue
        if n == 1 and normalise_label(label) is None and label.strip().lower() in LABEL_NAMES:
            continue
        yield Row(n, label_or_error(label, f"{path}, line {n}"), body.strip())


def _find_column(header: list[str], wanted: str | None, names: tuple[str, ...], what: str,
                 path: Path, option: str) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
        if wanted.isdigit() and int(wanted) < len(header):
            return int(wanted)
        raise ChallengeError(f"{path}: no column {wanted!r} (columns: {', '.join(header)}); "
                             f"pass {option} with one of those names or a 0-based index")
    for name in names:
        if name in lowered:
            return lowered.index(name)
    columns = ", ".join(header) or "none"
    raise ChallengeError(f"{path}: no {what} column found (columns: {columns}); "
                         f"pass {option} NAME")


def _records(lines: list[str],
             is_row: Callable[[str], bool]) -> Iterator[tuple[int, list[str] | None, str]]:
    """(first line, fields or None, reason) per record, recovering from unbalanced quotes.

    A quoted field left open swallows the lines after it. When a multi-line record holds a
    line that reads as a row on its own, the record is reported unreadable and reading
    resumes on its second line, so one stray quote costs one row, not the rest of the file.
    """
    pos = 0
    while pos < len(lines):
        reader = csv.reader((lines[k] for k in range(pos, len(lines))), strict=False)
        base, done = pos, 0
        pos = len(lines)
        try:
            for fields in reader:
                first, last = base + done + 1, base + reader.line_num
                done = reader.line_num
                if last > first and any(is_row(line) for line in lines[first:last]):
                    yield first, None, "unbalanced quote (this row swallowed the next lines)"
                    pos = first
                    break
                yield first, fields, ""
        except csv.Error as e:
            first = base + done + 1
            yield first, None, f"unreadable ({e})"
            pos = first


def csv_rows(path: Path, text: str, label_col: str | None, text_col: str | None,
             skipped: list[dict]) -> Iterator[Row]:
    """Rows of a CSV with a header; ragged or broken rows go to ``skipped`` with line numbers."""
    lines, mark = editor_lines(text)
    header_at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_at is None:
        raise ChallengeError(f"{path} is empty; give a CSV with a header row and data rows")
    header = next(csv.reader([lines[header_at]]))
    li = _find_column(header, label_col, LABEL_NAMES, "label", path, "--label-col")
    ti = _find_column(header, text_col, TEXT_NAMES, "text", path, "--text-col")
    if li == ti:
        raise ChallengeError(f"{path}: label and text are the same column ({header[li]!r}); "
                             "pass distinct --label-col and --text-col")
    width = len(header)

    def is_row(line: str) -> bool:
        fields = next(csv.reader([line]), [])
        return max(li, ti) < len(fields) <= width and normalise_label(fields[li]) is not None

    for first, fields, reason in _records(lines[header_at + 1:], is_row):
        line = first + header_at + 1
        if fields is None:
            skipped.append({"line": line, "reason": reason})
        elif not any(f.strip() for f in fields):
            continue
        elif len(fields) > width or len(fields) <= max(li, ti):
            skipped.append({"line": line, "reason": f"{len(fields)} fields, the header has {width}"
                                                    " (an unquoted delimiter in the text?)"})
        else:
            # text spilling into unnamed trailing columns (a comma in an unquoted message)
            spill = [f for i, f in enumerate(fields) if i > ti and not header[i].strip() and f]
            body = restore_cr(",".join([fields[ti], *spill]), mark).strip()
            yield Row(line, label_or_error(fields[li], f"{path}, line {line}"), body)
