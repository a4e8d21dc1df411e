"""Predictions mode (Kaggle style): a CSV ``id,prediction`` for the published unlabelled spam test
file, validated strictly before any scoring.

Format: UTF-8 (a UTF-8 byte-order mark is accepted and skipped; UTF-16/32 are refused), the
header ``id,prediction``, then one row per published id, each id exactly once, in any order.
A prediction is the spam probability, a number in [0, 1]; plain labels 0 and 1 are the special
case of a certain model. A message counts as spam when its prediction is >= 0.5; ROC-AUC uses the
values themselves. Every defect is reported with its line number (up to :data:`MAX_DEFECTS`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Sequence

from challenge.errors import ChallengeError
from challenge.paths import atomic_write

HEADER = ("id", "prediction")
UNLABELLED_HEADER = ("id", "text")
THRESHOLD = 0.5
MAX_DEFECTS = 20
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
         b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


class PredictionsError(ChallengeError):
    """The predictions file was refused; ``defects`` lists each problem with its line."""

    def __init__(self, path: str, defects: list[str]):
        self.defects = defects
        more = "" if len(defects) <= MAX_DEFECTS else f"; and {len(defects) - MAX_DEFECTS} more"
        super().__init__(f"predictions file {path} is invalid: " + "; ".join(defects[:MAX_DEFECTS])
                         + more)


def read_predictions(path: str | os.PathLike, expected_ids: Sequence[str], *,
                     max_bytes: int = 8 << 20) -> list[float]:
    """The validated predictions, one per id of ``expected_ids`` and in that order."""
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise ChallengeError(f"predictions file {path} does not exist")
    size = path.stat().st_size
    if size > max_bytes:
        raise PredictionsError(name, [f"the file has {size} bytes; at most {max_bytes} are "
                                      f"allowed (one short line per id is enough)"])
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    return parse_predictions(raw, expected_ids, name=name, max_bytes=max_bytes)


def parse_predictions(raw: bytes, expected_ids: Sequence[str], *, name: str = "<predictions>",
                      max_bytes: int = 8 << 20) -> list[float]:
    if len(raw) > max_bytes:
        raise PredictionsError(name, [f"the file has more than {max_bytes} bytes"])
    for bom, enc in _BOMS.items():
        if raw.startswith(bom):
            raise PredictionsError(name, [f"line 1: the file is {enc} (byte-order mark "
                                          f"{bom.hex(' ')}); save it as UTF-8"])
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise PredictionsError(name, [f"line {line}: byte {raw[e.start]:#04x} is not UTF-8; "
                                      f"save the file as UTF-8"]) from None
    if not text.strip():
        raise PredictionsError(name, ["line 1: the file is empty; expected the header "
                                      "'id,prediction' and one row per id"])
    expected = {str(i): k for k, i in enumerate(expected_ids)}
    values: list[float | None] = [None] * len(expected)
    first_line: dict[str, int] = {}
    defects: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for row in reader:
            line = reader.line_num
            if line == 1:
                if tuple(c.strip() for c in row) != HEADER:
                    defects.append(f"line 1: header is {','.join(row)!r}; expected 'id,prediction'")
                continue
            if not row:
                defects.append(f"line {line}: empty line")
                continue
            if len(row) != 2:
                defects.append(f"line {line}: {len(row)} fields; expected 2 (id,prediction)")
                continue
            rid, value = row[0].strip(), row[1].strip()
            if rid not in expected:
                defects.append(f"line {line}: unknown id {rid[:40]!r} (not in the published test file)")
                continue
            if rid in first_line:
                defects.append(f"line {line}: duplicate id {rid!r} (first on line {first_line[rid]})")
                continue
            first_line[rid] = line
            p = _probability(value)
            if p is None:
                defects.append(f"line {line}: prediction {value[:40]!r} for {rid!r} is not a number "
                               f"in [0, 1]")
                continue
            values[expected[rid]] = p
    except csv.Error as e:
        defects.append(f"line {reader.line_num}: malformed CSV ({e})")
    missing = [i for i in expected if i not in first_line]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        defects.append(f"missing {len(missing)} id(s), e.g. {shown}: every published id needs "
                       f"exactly one row")
    if defects:
        raise PredictionsError(name, defects)
    return [float(v) for v in values]


def _probability(value: str) -> float | None:
    try:
        p = float(value)
    except ValueError:
        return None
    return p if math.isfinite(p) and 0.0 <= p <= 1.0 else None


def write_unlabelled(path: str | os.PathLike, ids: Sequence[str], texts: Sequence[str]) -> Path:
    """Publish the unlabelled test file: a CSV ``id,text``, written atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(UNLABELLED_HEADER)
        writer.writerows(zip(ids, texts))
    return Path(path)


def write_predictions(path: str | os.PathLike, ids: Sequence[str], predictions: Sequence[float]) -> Path:
    """A valid predictions file (what a student's notebook would write), written atomically."""
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows((i, f"{float(p):.6g}") for i, p in zip(ids, predictions))
    return Path(path)
