"""Every page and file a student can reach holds public-part numbers only: a small class graded
for real (a code submission in the sandbox, a day late, and two predictions files)
through the live server, with public and private results that differ; then the HTML board,
the server's pages and JSON (/me, /board, each report, /api/status, /api/submissions/ID) and
the `challenge feedback OUT/` files are searched for every private-part and whole-set figure
(metrics, points per task and in total, late penalties) that the public part does not share."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from support.grading import (
    build_zip,
    make_hidden_sets,
    missed_spam,
    reference_modules,
    sorter_checkpoint,
    spam_checkpoint,
    tiny_rubric,
)
from support.serve import read_tokens

from challenge.rubric import LatePolicy
from grader.batch import grade_hidden
from grader.board.export import PageOptions, leaderboard
from grader.board.feedback import write_feedback
from grader.board.leaderboard import Leaderboard
from grader.board.ranking import load_board
from grader.engines.base import Outcome, grade_task
from grader.hidden import hidden_spam
from grader.serve.app import ServeConfig, create_app
from grader.serve.dispatch import Dispatcher
from grader.serve.server import prepare

BAND = {"floor": 0.0, "full": 1.0, "points": 30}     # every error moves the points
RUBRIC = tiny_rubric({"spam": {"parts": ["tokenizer"], "checks": 10,
                               "quality": {"metric": "f1", **BAND}},
                      "sorter": {"parts": ["sorter_model"], "checks": 10,
                                 "quality": {"metric": "exact_match", **BAND}}})
# the course deadline was 23 hours ago: alice (no extension) is a day late, 10% off
POLICY = LatePolicy(deadline=(datetime.now(timezone.utc) - timedelta(hours=23)).isoformat(
    timespec="seconds"), penalty_per_day=0.1, last_day=3)


def _class_files(root, data) -> dict:
    """alice: the reference's code with a briefly trained sorter; bob and carol: predictions
    files that miss spam on one part of the hidden set more than on the other."""
    spam = hidden_spam(data)
    checkpoints = {"spam": spam_checkpoint(root / "spam.pt", data),
                   "sorter": sorter_checkpoint(root / "sorter.pt", RUBRIC, steps=25)}
    return {"alice": build_zip(root / "alice.zip", reference_modules(), checkpoints),
            "bob": missed_spam(root / "bob.csv", spam, public=1, private=3),
            "carol": missed_spam(root / "carol.csv", spam, public=2, private=0)}


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = tmp_path_factory.mktemp("every-page")
    data = root / "data"
    make_hidden_sets(data, RUBRIC)
    roster = root / "roster.csv"
    roster.write_text("student,extension\nalice,\nbob,2\ncarol,2\n")
    ready = prepare(root / "board.sqlite", roster)
    tokens = read_tokens(ready.tokens_csv)
    uploads = ready.folder / "uploads"
    config = ServeConfig(uploads=uploads, upload_interval_s=0, board_cache_s=0, late=POLICY)
    client = TestClient(create_app(ready.queue, ready.tokens, config),
                        base_url="http://127.0.0.1")
    jobs = {}
    for who, path in _class_files(root, data).items():
        sent = client.post("/api/submissions", files={"file": (path.name, path.read_bytes())},
                           headers={"Authorization": f"Bearer {tokens[who]}"})
        assert sent.status_code == 201, sent.text
        dispatcher = Dispatcher(ready.queue, None, uploads, late=POLICY)
        job = ready.queue.claim(dispatcher.owner, 600)
        dispatcher.inflight[job.id] = job
        result = grade_task(grade_hidden, str(uploads / job.stored),
                            {"rubric": RUBRIC, "data_dir": data})
        dispatcher.handle(Outcome(job.id, "ok", result=result))
        jobs[who] = job.id
    return {"root": root, "db": ready.queue.path, "client": client, "tokens": tokens,
            "jobs": jobs}


def _texts(v: float) -> set[str]:
    """How a number is written on a page: points (2 decimals, trailing zeros kept or not, or
    as ``%g``), or a metric (4 decimals)."""
    two = f"{v:.2f}"
    return {two, two.rstrip("0").rstrip("."), f"{v:.4f}", f"{v:g}", f"{round(v, 2):g}"}


def _figures(db, part: str) -> set[str]:
    """Every figure of the stored grades on ``part`` of the hidden set: each metric, each
    task's points and quality points, each total before and after its late penalty, and the
    penalty itself."""
    out: set[str] = set()
    with Leaderboard(db, readonly=True) as store:
        entries = store.entries()
    for e in entries:
        total = 0.0
        for t in e.tasks.values():
            out |= {s for v in t.metrics.get(part, {}).values() if isinstance(v, float)
                    for s in _texts(v)}
            quality = (t.metrics.get("part_points") or {}).get(part)
            out |= _texts(t.points_on(part)) | (_texts(quality) if quality is not None else set())
            total += t.points_on(part)
        kept = e.late.get("kept", 1.0)
        out |= _texts(total) | _texts(total * kept) | _texts(total * (1 - kept))
    return out


def _intervals(db) -> set[str]:
    """The public task boards' own bootstrap intervals: public figures that may equal a
    private one by chance (an F1 interval ending at 0.5 and a private ROC-AUC of 0.5)."""
    rows = [r for task in ("spam", "sorter") for r in load_board(db, task=task).rows]
    return {s for r in rows for v in (r.ci_low, r.ci_high) if v is not None for s in _texts(v)}


def _shown(text: str) -> set[str]:
    """Every number written in ``text``, whole (0.65 is not found inside 30.6512)."""
    return set(re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", text))


def _pages(term) -> dict[str, str]:
    """Every page and file a student of the class can reach, by a name for the failure."""
    db, c = term["db"], term["client"]
    pages = {}
    for details in ("points", "messages"):
        for task in (None, "spam", "sorter"):
            pages[f"board.html {task} {details}"] = leaderboard(
                db=db, task=task, fmt="html", page=PageOptions(details)).text
    pages["board.md"] = leaderboard(db=db, fmt="md").text
    for who, job in term["jobs"].items():
        me = {"Authorization": f"Bearer {term['tokens'][who]}"}
        for url in ("/me", "/board", "/board?part=private", f"/me/submissions/{job}",
                    "/api/status", f"/api/submissions/{job}"):
            got = c.get(url, headers=me)
            assert got.status_code in (200, 403, 404), (who, url, got.status_code)
            pages[f"{who} {url}"] = got.text
    folder = write_feedback(term["root"] / "feedback", db=db).folder
    pages |= {f"feedback {p.name}": p.read_text() for p in sorted(folder.iterdir())}
    return pages


def test_no_page_or_file_a_student_reaches_holds_a_private_or_whole_set_figure(term):
    public = _figures(term["db"], "public") | _intervals(term["db"])
    hidden = _figures(term["db"], "private") | _figures(term["db"], "whole")
    forbidden = {s for s in hidden - public if "." in s and len(s) >= 4}
    assert len(forbidden) > 20                 # the parts' results differ in this class
    pages = _pages(term)
    assert len(pages) >= 30
    leaks = {name: sorted(forbidden & _shown(text)) for name, text in pages.items()}
    assert {name: found for name, found in leaks.items() if found} == {}
    # and they do show the class its numbers: public totals, alice's late penalty
    shown = set().union(*(_shown(text) for text in pages.values()))
    assert len(public & shown) > 10
    alice = pages[f"alice /api/submissions/{term['jobs']['alice']}"]
    assert '"days_late":1' in alice.replace(" ", "") and "late penalty" in alice


def test_the_class_results_differ_between_the_parts(term):
    """The premise of the search: each student's public and private figures differ."""
    with Leaderboard(term["db"], readonly=True) as store:
        entries = {e.student: e for e in store.entries()}
    assert set(entries) == {"alice", "bob", "carol"}
    assert all(e.status == "ok" for e in entries.values())
    for who, task in (("alice", "sorter"), ("bob", "spam"), ("carol", "spam")):
        t = entries[who].tasks[task]
        assert t.points_on("public") != t.points_on("private") != t.points, who
    assert entries["alice"].late["days_late"] == 1 and entries["bob"].late["days_late"] == 0
