"""The leaderboard as one self-contained HTML page an instructor can show a class: readable
column names, no horizontal scroll at 1200 px, a histogram of points, notes only when they
hold, and per-student detail on the board's part of the hidden set only (points per task and
part, failed checks, with their reasons where the instructor chooses to show them).

Inline CSS only: no scripts, no external assets; every name and message is escaped.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from challenge.report import part_name
from grader.board.leaderboard import Entry

LABELS = {"rank": "Rank", "student": "Student", "points": "Points", "max_points": "Max",
          "ci_low": "95% CI low", "ci_high": "95% CI high", "attempts": "Attempts",
          "submission": "Submission", "f1": "F1", "precision": "Precision", "recall": "Recall",
          "accuracy": "Accuracy", "roc_auc": "ROC-AUC", "exact_match": "Exact match",
          "token_accuracy": "Token accuracy", "exact_match_long": "Exact match, longer",
          "token_accuracy_long": "Token accuracy, longer", "n": "Examples",
          "n_long": "Examples, longer", "graded_at": "Graded", "status": "Status",
          "rubric": "Rubric", "reason": "Reason"}
TASKS = {"spam": "Spam", "sorter": "Sorter", "foundations": "Foundations"}
BINS = 10

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1160px;padding:0 1em;color:#1d2330}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}.meta,.notes{color:#5a6270;font-size:.9em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0;width:100%}
th,td{padding:.3em .4em;border-bottom:1px solid #dde1e8;text-align:left}
td.wrap{overflow-wrap:anywhere;min-width:8em}
th{background:#f2f4f8;vertical-align:bottom}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.baseline td,tr.reference td{background:#fff4cc;font-style:italic}
tr.tie td.rank{color:#b35c00;font-weight:600}tr.failed td{color:#a33}
#histogram{display:flex;align-items:flex-end;gap:4px;height:160px;margin:1em 0 .2em;
border-bottom:1px solid #9aa3b2}
#histogram .bin{flex:1;display:flex;flex-direction:column;justify-content:flex-end;
align-items:center;height:100%}
#histogram .bar{width:100%;background:#4a7bd0;min-height:1px}
#histogram .count{font-size:.8em;color:#1d2330}
.axis{display:flex;gap:4px;font-size:.75em;color:#5a6270}.axis span{flex:1;text-align:center}
.track{display:inline-block;width:5em;height:.7em;background:#e4e8ef;vertical-align:middle;
margin-right:.4em}.track .fill{display:block;height:100%;background:#4a7bd0}
details{border-bottom:1px solid #dde1e8;padding:.4em 0}summary{cursor:pointer;font-weight:600}
.failed-checks li{margin:.2em 0}.failed-checks code{background:#f2f4f8;padding:0 .2em}
"""


def label(column: str) -> str:
    """``spam.points`` -> "Spam points", ``max_points`` -> "Max", ``f1`` -> "F1"."""
    task, dot, metric = column.partition(".")
    if not dot:
        return LABELS.get(column, column.replace("_", " ").capitalize())
    name = LABELS.get(metric, metric.replace("_", " "))
    return f"{TASKS.get(task, task.capitalize())} {name if name[:2].isupper() else name.lower()}"


def who(student: str) -> str:
    """The name shown for a row: students as they are, marked rows in words."""
    if student.startswith("__reference__"):
        return "Reference solution"
    if student.startswith("__baseline__"):
        rest = student[len("__baseline__"):].strip()
        return f"Baseline: {rest}" if rest else "Baseline"
    return student


def _text(v, column: str) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".") if column.endswith("points") else f"{v:.4f}"
    return str(v)


def _table(table, table_id: str) -> list[str]:
    out = [f'<table id="{table_id}"><thead><tr>'
           + "".join(f'<th data-key="{html.escape(c)}">{html.escape(label(c))}</th>'
                     for c in table.columns) + "</tr></thead><tbody>"]
    for kind, row in zip(table.kinds, table.rows):
        tie = " tie" if isinstance(row[0], str) and row[0].startswith("=") else ""
        cells = []
        for col, v in zip(table.columns, row):
            if col == "student":
                v = who(str(v))
            elif col == "rank" and kind in ("baseline", "reference"):
                v = "-"
            cls = ("rank" if col == "rank" else "num" if isinstance(v, (int, float))
                   else "wrap" if col in ("student", "submission", "reason") else "")
            text = html.escape(_text(v, col))
            cells.append(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>")
        out.append(f'<tr class="{html.escape(kind)}{tie}">' + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def histogram(values: list[float], top: float) -> list[str]:
    """Bars of how many students scored in each tenth of ``top`` (the last bin holds ``top``)."""
    counts = [0] * BINS
    for v in values:
        counts[min(BINS - 1, max(0, int(BINS * v / top)))] += 1 if top > 0 else 0
    high = max(counts) or 1
    bars = "".join(f'<div class="bin" data-count="{c}" title="{c} students">'
                   f'<span class="count">{c or ""}</span><div class="bar" '
                   f'style="height:{100 * c / high:.1f}%"></div></div>' for c in counts)
    axis = "".join(f"<span>{top * i / BINS:g}-{top * (i + 1) / BINS:g}</span>"
                   for i in range(BINS))
    return ['<div id="histogram" role="img" aria-label="students per band of points">' + bars
            + "</div>", f'<div class="axis">{axis}</div>']


DETAILS = ("none", "points", "messages")


def _detail(entry: Entry, part: str = "public", show: str = "points", name: str | None = None
            ) -> str:
    """One student's chosen submission on the board's ``part`` of the hidden set, as the board
    scores it: per task and part, points; the failed checks by name, with their messages
    (and the submission's reason) only when ``show`` is "messages". ``name``: who to call the
    student (anonymised boards)."""
    rows = []
    for task, t in entry.tasks.items():
        checks = [c for c in entry.checks if c["task"] == task]
        parts: dict[str, list[float]] = {}
        for c in checks:
            got = parts.setdefault(c["part"], [0.0, 0.0])
            got[0] += c.get("points", 0.0)
            got[1] += c.get("max_points", 0.0)
        points = t.points_on(part)               # never the whole set's: it gives the rest away
        quality = points - sum(p[0] for p in parts.values())
        cells = [f"{html.escape(part_)} {_text(p[0], 'points')}/{_text(p[1], 'points')}"
                 for part_, p in parts.items()]
        if t.quality_status != "missing" or quality > 1e-9:
            state = "" if t.quality_status == "ok" else f" ({html.escape(t.quality_status)})"
            cells.append(f"quality {_text(max(quality, 0.0), 'points')}{state}")
        rows.append(f"<tr><td>{html.escape(TASKS.get(task, task))}</td><td class=\"num\">"
                    f"{_text(points, 'points')} / {_text(t.max_points, 'points')}</td>"
                    f"<td>{'; '.join(cells)}</td></tr>")
    total = round(sum(t.points_on(part) for t in entry.tasks.values())
                  * entry.late.get("kept", 1.0), 6)
    shown = name if name is not None else who(entry.student)
    key = name if name is not None else entry.student
    lines = [f'<details class="student" data-student="{html.escape(key)}"><summary>'
             f"{html.escape(shown)}: {_text(total, 'points')} / "
             f"{_text(entry.max_points, 'points')} points ({html.escape(part_name(part))})</summary>",
             '<table class="parts"><thead><tr><th>Task</th><th>Points</th><th>By part</th></tr>'
             "</thead><tbody>" + "".join(rows) + "</tbody></table>"]
    failed = [c for c in entry.checks if not c["passed"]]
    if failed:
        lines.append('<ul class="failed-checks">' + "".join(
            f"<li><code>{html.escape(c['part'])}.{html.escape(c['name'])}</code>"
            + (f": {html.escape(c.get('message') or c['status'])}" if show == "messages" else "")
            + "</li>" for c in failed) + "</ul>")
    if entry.reason and show == "messages":
        lines.append(f"<p>{html.escape(entry.reason)}</p>")
    return "".join(lines) + "</details>"


def page(table, board=None, details: list[Entry] | None = None, show: str = "points",
         names: dict[str, str] | None = None) -> str:
    """The whole page for a board (or a student's history when ``board`` is None); ``show``
    ("none", "points", "messages") says what each student's detail holds, ``names`` maps a
    student to the name shown for them (anonymised boards)."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(table.title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(table.title)}</h1>", f'<p class="meta">Generated {now}.</p>']
    parts += _table(table, "ranking") if table.rows else \
        ['<p id="empty">No graded submissions yet.</p>']
    if table.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>"
                                                     for n in table.notes) + "</ul>")
    students = [r for r in (board.rows if board else []) if r.kind == "student"]
    if students:
        top = max(r.max_points for r in students)
        what = "points" if board.task is None else f"{board.task} points"
        parts.append(f"<h2>How the class scored ({html.escape(what)} of {top:g})</h2>")
        parts += histogram([r.points for r in students], top)
    if board is not None and board.checks:
        parts.append("<h2>Checks, most failed first</h2>")
        parts.append('<table id="checks"><thead><tr><th>Task</th><th>Part</th><th>Check</th>'
                     "<th>Passed</th><th>Students</th><th>Pass rate</th></tr></thead><tbody>")
        for c in board.checks:
            parts.append(f"<tr><td>{html.escape(c.task)}</td><td>{html.escape(c.part)}</td>"
                         f"<td>{html.escape(c.name)}</td><td class=\"num\">{c.passed}</td>"
                         f"<td class=\"num\">{c.total}</td><td class=\"num\"><span class=\"track\">"
                         f"<span class=\"fill\" style=\"width:{c.rate:.1%}\"></span></span>"
                         f"{c.rate:.1%}</td></tr>")
        parts.append("</tbody></table>")
    if details and show != "none":
        part = board.part if board is not None else "public"
        parts.append('<h2>Each student</h2><div id="details">')
        parts += [_detail(e, part, show, (names or {}).get(e.student)) for e in details]
        parts.append("</div>")
    return "\n".join(parts + ["</body></html>", ""])
