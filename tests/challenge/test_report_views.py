"""What a student may read while the challenge runs: a report's public view holds numbers of
the public part alone, so nothing of the private part can be computed from it."""

from __future__ import annotations

import json

from support.grading import tiny_rubric

from challenge.data.corpus import Message
from challenge.report import GradeReport, TaskResult
from challenge.scoring import SpamSet, spam_quality


def _set(n: int = 80) -> SpamSet:
    messages = tuple(Message(id=f"x{i}", group="g", label=int(i % 3 == 0), subject="", body="b")
                     for i in range(n))
    return SpamSet(ids=tuple(m.id for m in messages), messages=messages,
                   private=tuple(i % 2 == 1 for i in range(n)))


def _report(private_errors: int) -> GradeReport:
    """Two public mistakes; ``private_errors`` mistakes on the private part."""
    rub = tiny_rubric()
    task = rub.task("spam")
    data = _set()
    scores = [0.9 if m.label else 0.1 for m in data.messages]
    public = [i for i, p in enumerate(data.private) if not p]
    private = [i for i, p in enumerate(data.private) if p]
    for i in public[:2] + private[:private_errors]:
        scores[i] = 1.0 - scores[i]
    quality = spam_quality(task, data, scores, 0.5)[0]
    quality.review = [f"whole-set f1 {quality.metrics['f1']:.4f} looks odd"]
    tasks = {"spam": TaskResult("spam", quality.points, task.max_points, quality=quality)}
    return GradeReport(student="alice", submission="a.zip", sha256="s", mode="code",
                       status="ok", reason="", points=quality.points,
                       max_points=task.max_points, tasks=tasks, rubric_hash=rub.hash,
                       grader_version="", torch_version="", sets="hidden")


def test_the_public_view_tells_nothing_of_the_private_part():
    """The attack of issue 31: the rubric ships to students, so whole-set points in a live
    report invert to the whole-set F1, and with the public F1 to the private F1."""
    good, bad = _report(private_errors=0), _report(private_errors=12)
    assert good.tasks["spam"].quality.points != bad.tasks["spam"].quality.points
    views = [r.public_view() for r in (good, bad)]
    assert views[0].to_dict() == views[1].to_dict()              # nothing of the private part
    assert views[0].summary() == views[1].summary()
    q = views[0].tasks["spam"].quality
    assert q.components[0]["points"] == q.points == q.part_points["public"]
    whole = good.tasks["spam"].quality
    text = json.dumps(views[0].to_dict())
    assert f"{whole.metrics['f1']:.4f}" not in text and not q.review
