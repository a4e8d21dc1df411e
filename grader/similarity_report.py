"""``challenge similarity SUBS/``: every pair of students' code submissions compared part by
part (:mod:`grader.similarity`), written as an HTML page (pairs ranked by overlap, the matched
lines side by side, every name and line escaped) and a CSV, for the instructor to judge.

The page is for the instructor only: it quotes students' code and names pairs. Nothing here
changes a grade.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass
from pathlib import Path

from challenge.paths import atomic_write, data_dir
from grader.similarity import Pair, compare, newest_per_student, read_modules

DETAILED = 30          # pairs shown with their matched lines (the table lists every pair)
_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
          ".side{display:flex;gap:1em}.side pre{flex:1;overflow-x:auto;background:#f8f8f8;"
          "padding:.5em;font-size:12px}mark{background:#ffd27f}")


@dataclass(frozen=True)
class SimilarityResult:
    pairs: list[Pair]
    html: Path
    csv: Path

    def summary(self, top: int = 5) -> str:
        lines = [f"{len(self.pairs)} pairs compared; wrote {self.html} and {self.csv}",
                 "highest overlap (evidence to read, not a verdict):"]
        for p in self.pairs[:top]:
            same = [m.part for m in p.parts if m.identical]
            lines.append(f"  {p.overlap:6.1%}  {p.a} ~ {p.b}"
                         + (f"  (identical: {', '.join(same)})" if same else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"html": str(self.html), "csv": str(self.csv),
                "pairs": [{"a": p.a, "b": p.b, "overlap": round(p.overlap, 6),
                           "parts": {m.part: round(m.overlap, 6) for m in p.parts},
                           "identical": [m.part for m in p.parts if m.identical]}
                          for p in self.pairs]}


def similarity(folder: str | Path, *, out: str | Path | None = None) -> SimilarityResult:
    """Compare the newest code submission of every student in ``folder``; write
    ``similarity.html`` and ``similarity.csv`` into ``out`` (default ``<data>/similarity``)."""
    files = newest_per_student(folder)
    modules = {s: read_modules(p) for s, p in files.items()}
    pairs = compare({s: m for s, m in modules.items() if m})
    out = Path(out) if out is not None else data_dir() / "similarity"
    out.mkdir(parents=True, exist_ok=True)
    page, table = out / "similarity.html", out / "similarity.csv"
    with atomic_write(table, "w", encoding="utf-8", newline="") as f:
        f.write(to_csv(pairs))
    with atomic_write(page, "w", encoding="utf-8") as f:
        f.write(to_html(pairs, modules, {s: p.name for s, p in files.items()}))
    return SimilarityResult(pairs, page, table)


def _parts(pairs: list[Pair]) -> list[str]:
    return sorted({m.part for p in pairs for m in p.parts})


def to_csv(pairs: list[Pair]) -> str:
    """One row per pair, the highest overlap first: overall and per part, identical parts."""
    parts = _parts(pairs)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "student_a", "student_b", "overlap"] + parts + ["identical"])
    for rank, p in enumerate(pairs, 1):
        by_part = {m.part: m for m in p.parts}
        w.writerow([rank, p.a, p.b, f"{p.overlap:.4f}"]
                   + [f"{by_part[x].overlap:.4f}" if x in by_part else "" for x in parts]
                   + [" ".join(m.part for m in p.parts if m.identical)])
    return buf.getvalue()


def to_html(pairs: list[Pair], modules: dict[str, dict[str, str]],
            files: dict[str, str]) -> str:
    """The page: the ranked table, then the closest pairs' matched lines side by side."""
    e = html.escape
    parts = _parts(pairs)
    head = "".join(f"<th>{e(x)}</th>" for x in ["#", "students", "overlap"] + parts)
    rows = []
    for rank, p in enumerate(pairs, 1):
        by_part = {m.part: m for m in p.parts}
        cells = "".join(f"<td>{by_part[x].overlap:.0%}{' =' if by_part[x].identical else ''}"
                        f"</td>" if x in by_part else "<td></td>" for x in parts)
        link = f'<a href="#pair{rank}">{e(p.a)} ~ {e(p.b)}</a>' if rank <= DETAILED else \
            f"{e(p.a)} ~ {e(p.b)}"
        rows.append(f"<tr><td>{rank}</td><td>{link}</td><td>{p.overlap:.1%}</td>{cells}</tr>")
    details = [_pair_html(rank, p, modules, files) for rank, p in enumerate(pairs[:DETAILED], 1)
               if p.overlap > 0]
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>Similarity report</title><style>{_STYLE}</style></head><body>"
            "<h1>Similarity report</h1><p>Shared fingerprints of normalised code (winnowing), "
            "the given stubs left out; <b>=</b> marks a byte-identical part. Evidence for you "
            "to read and judge, not a verdict.</p>"
            f"<table><tr>{head}</tr>{''.join(rows)}</table>{''.join(details)}</body></html>\n")


def _pair_html(rank: int, pair: Pair, modules: dict, files: dict) -> str:
    e = html.escape
    out = [f'<h2 id="pair{rank}">{rank}. {e(pair.a)} ({e(files[pair.a])}) ~ {e(pair.b)} '
           f'({e(files[pair.b])}): {pair.overlap:.1%}</h2>']
    for m in pair.parts:
        if not m.shared:
            continue
        left = _lines(modules[pair.a].get(m.part, ""), m.lines_a)
        right = _lines(modules[pair.b].get(m.part, ""), m.lines_b)
        out.append(f"<h3>{e(m.part)}: {m.overlap:.0%}{' (identical)' if m.identical else ''}"
                   f"</h3><div class=side><pre>{left}</pre><pre>{right}</pre></div>")
    return "".join(out)


def _lines(source: str, ranges: tuple[tuple[int, int], ...]) -> str:
    marked = {n for first, last in ranges for n in range(first, last + 1)}
    out = []
    for n, line in enumerate(source.splitlines(), 1):
        text = f"{n:4d}  {html.escape(line)}"
        out.append(f"<mark>{text}</mark>" if n in marked else text)
    return "\n".join(out)
