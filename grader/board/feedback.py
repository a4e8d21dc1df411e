"""``challenge feedback OUT/``: one file per student to hand back (or to upload to the LMS as
feedback), as text and as HTML, holding only what that student may see.

Each student's graded submission is the one the board ranks (the best on the public part);
while the challenge runs (the default) every number is the public part's, as on the public
board (``GradeReport.public_view``): points per task, the quality metrics, the checks and the
message of each failed one, the deadline that applied and any penalty (that of the points
shown). ``--part private`` or ``--part whole`` (after the reveal: the part the final gradebook
uses) shows that part's numbers instead, each named as everywhere (challenge.report.PARTS).
Nothing per example
(labels, predictions) is ever written. A roster student with no graded submission gets a
file that says so; one whose every submission failed gets the reason.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.paths import atomic_write
from challenge.report import part_name
from challenge.text import printable
from grader.board.leaderboard import Entry, Leaderboard
from grader.board.ranking import load_board, task_order
from grader.board.roster import read_roster


@dataclass
class FeedbackResult:
    folder: Path
    written: list[str] = field(default_factory=list)     # students with a file
    no_submission: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"wrote feedback for {len(self.written)} student(s) to {self.folder} (.txt and "
                f".html each); {len(self.no_submission)} without a graded submission")

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "written": self.written,
                "no_submission": self.no_submission}


def write_feedback(out: str | Path, *, db: str | Path | None = None,
                   roster: str | Path | None = None, part: str = "public") -> FeedbackResult:
    """Write ``<student>.txt`` and ``<student>.html`` into ``out`` for every student graded
    (and every student of ``roster``), from the board ``db``, with the numbers of ``part``
    ("public", "private" or "whole") of the hidden set."""
    board = load_board(db, part=part)
    with Leaderboard(db, readonly=True) as store:
        entries = store.entries(checks=True)
    chosen = {(r.student, r.submission, r.graded_at) for r in board.rows if r.kind == "student"}
    best = {e.student: e for e in entries if (e.student, e.submission, e.graded_at) in chosen}
    points = {r.student: r.points for r in board.rows if r.kind == "student"}
    last = {e.student: e for e in entries if e.kind == "student"}     # the newest row of each
    people = read_roster(roster).students if roster is not None else []
    people += [s for s in sorted(last) if s not in people]
    if not people:
        raise ChallengeError("no graded students and no roster: grade submissions first, or "
                             "pass --roster")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result = FeedbackResult(folder)
    for student in people:
        entry = best.get(student) or last.get(student)
        lines = feedback_lines(student, entry, part, points.get(student))
        for suffix, text in ((".txt", "\n".join(lines) + "\n"), (".html", _html(lines))):
            with atomic_write(folder / f"{student}{suffix}", "w", encoding="utf-8") as f:
                f.write(text)
        (result.written if entry is not None else result.no_submission).append(student)
    return result


def feedback_lines(student: str, entry: Entry | None, part: str,
                   total: float | None) -> list[str]:
    """The feedback of one student, one line each, plain text (printable, no examples)."""
    head = f"Feedback for {student}"
    if entry is None:
        return [head, "No graded submission: nothing was received, or nothing could be graded."]
    lines = [head, f"Submission: {entry.submission} (graded {entry.graded_at})"]
    ok = entry.status == "ok" and total is not None
    if entry.late:   # the penalty of the points shown: the stored one is the whole set's
        before = sum(t.points_on(part) for t in entry.tasks.values())
        penalty = round(before * (1 - entry.late.get("kept", 1.0)), 2) if ok else 0
        lines.append(f"Deadline: {entry.late.get('why', '')}"
                     + (f"; late penalty -{penalty:g} points" if penalty else ""))
    if not ok:
        lines.append(f"Not graded: {entry.reason or entry.status}")
        return [printable(x) for x in lines]
    lines.append(f"Points: {round(total, 2):g} / {entry.max_points:g} "
                 f"(measured on the {part_name(part)}"
                 + ("" if part == "whole" else " of the hidden sets") + ")")
    for name in sorted(entry.tasks, key=task_order):
        t = entry.tasks[name]
        lines.append(f"  {name}: {round(t.points_on(part), 2):g} / {t.max_points:g}")
        metrics = t.metrics.get(part) or {}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                          if isinstance(v, float))
        if shown:
            lines.append(f"    quality: {shown}")
        checks = [c for c in entry.checks if c["task"] == name]
        if checks:
            lines.append(f"    checks: {sum(c['passed'] for c in checks)}/{len(checks)} passed")
        lines += [f"    failed {c['part']}.{c['name']}: {c['message']}" for c in checks
                  if not c["passed"]]
    return [printable(x) for x in lines]


def _html(lines: list[str]) -> str:
    body = "\n".join(html.escape(line) for line in lines[1:])
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(lines[0])}</title></head><body>"
            f"<h1>{html.escape(lines[0])}</h1><pre style='white-space:pre-wrap'>{body}</pre>"
            "</body></html>\n")
