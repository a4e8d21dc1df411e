"""The boards a live challenge shows: the leaderboard's ranking as plain cells, cached briefly so
a class refreshing its pages does not re-rank the store on every request. A student who marked
final submissions is ranked on those alone (the best of them on the public part); the others on
all of theirs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from grader.board.export import board_table
from grader.board.ranking import load_board


def _cell(value, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}" if "points" in column else f"{value:.4f}"
    return str(value)


def board_cells(db: Path, part: str, finals: dict[str, frozenset[str]] | None = None) -> dict:
    """The overall ranking on ``part`` ("public" or "private"): columns, rows of text, notes.
    ``finals``: the file hashes each student marked final (only those count for them)."""
    finals = finals or {}
    board = load_board(db, part=part, keep=lambda e: e.student not in finals
                       or e.sha256 in finals[e.student])
    table = board_table(board)
    return {"part": part, "title": table.title, "columns": list(table.columns),
            "rows": [[_cell(v, c) for c, v in zip(table.columns, row)] for row in table.rows],
            "kinds": list(table.kinds), "notes": list(table.notes)}


class BoardCache:
    def __init__(self, db: Path, seconds: float):
        self.db, self.seconds = Path(db), seconds
        self._cached: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def get(self, part: str, finals: dict[str, frozenset[str]] | None = None) -> dict:
        key = (part, tuple(sorted((finals or {}).items())))   # a new mark: a fresh board
        with self._lock:
            hit = self._cached.get(key)
            if hit is None or time.monotonic() - hit[0] > self.seconds:
                hit = (time.monotonic(), board_cells(self.db, part, finals))
                self._cached = {k: v for k, v in self._cached.items() if k[0] != part}
                self._cached[key] = hit
            return hit[1]
