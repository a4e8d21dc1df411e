"""The one grading engine: folder grades and the live server hand submissions to the same
interface, one watchdog stops a hung grade, one path records a result, and no module reaches
into another's private helpers."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sqlite3
from pathlib import Path

import pytest
import support.board as board_support
from support.serve import FAKE_RUBRIC, fake_grade

from challenge.errors import ChallengeError
from grader.batch import grade_folder
from grader.board.leaderboard import Leaderboard
from grader.engines.base import Engine, Outcome, Work, grade_task, record_result
from grader.engines.local import LocalEngine
from grader.serve.dispatch import Dispatcher
from grader.serve.queue import JobQueue

GRADER = Path(__file__).resolve().parents[2] / "grader"


class InlineEngine(Engine):
    """Grades in this process when polled; a file named ``hang*`` never ends. Remembers every
    call, so a test sees what its caller handed over."""

    name = "inline"

    def __init__(self, work: Work, slots: int = 2):
        super().__init__(work)
        self.slots, self.pending, self.submitted, self.cancelled = slots, {}, [], []
        self.stopping: set[int] = set()
        self.closed = False

    def free(self) -> int:
        return self.slots - len(self.pending)

    def _start(self, job_id: int, path: Path) -> None:
        self.submitted.append(path.name)
        self.pending[job_id] = path

    def _collect(self) -> list[Outcome]:
        out = []
        for job_id, path in list(self.pending.items()):
            if job_id in self.stopping:
                self.stopping.discard(job_id)
                out.append(Outcome(job_id, "died", reason="cancelled"))
            elif path.name.startswith("hang"):
                continue
            else:
                out.append(Outcome(job_id, "ok", result=grade_task(
                    self.work.grade_fn, str(path), self.work.kwargs)))
            del self.pending[job_id]
        return out

    def cancel(self, job_id: int) -> None:
        self.cancelled.append(job_id)
        self.stopping.add(job_id)

    def close(self) -> None:
        self.closed = True


def _rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT student, status FROM submissions ORDER BY student").fetchall()


def test_a_folder_grade_hands_every_file_to_the_engine_it_is_given(tmp_path):
    names = ["alice.zip", "bob.zip", "carol.zip"]
    board_support.write_submissions(tmp_path / "subs", names)
    engine = InlineEngine(Work(board_support.fake_grade))
    result = grade_folder(tmp_path / "subs", engine, db=tmp_path / "lb.sqlite",
                          rubric_hash=board_support.RUBRIC)
    assert sorted(engine.submitted) == names and sorted(result.graded) == names
    assert [r[0] for r in _rows(tmp_path / "lb.sqlite")] == ["alice", "bob", "carol"]
    again = grade_folder(tmp_path / "subs", InlineEngine(Work(board_support.fake_grade)),
                         db=tmp_path / "lb.sqlite", rubric_hash=board_support.RUBRIC)
    assert again.graded == [] and sorted(again.skipped) == names   # a re-run resumes


def _enqueue(queue: JobQueue, uploads: Path, student: str, content: bytes) -> int:
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / f"{student}__1.csv").write_bytes(content)
    return queue.enqueue(student, "p.csv", f"{student}__1.csv", hashlib.sha256(content).hexdigest())


def _run_dispatcher(dispatcher: Dispatcher, rounds: int = 200) -> None:
    for _ in range(rounds):
        dispatcher.step()
        if all(j.state in ("graded", "failed") for j in dispatcher.queue.jobs()):
            return
    raise AssertionError("the dispatcher did not settle every job")


def test_the_live_server_hands_every_upload_to_the_engine_it_is_given(tmp_path):
    queue = JobQueue(tmp_path / "board.sqlite")
    ids = [_enqueue(queue, tmp_path / "u", s, f"id,prediction\n{s}\n".encode()) for s in "abc"]
    engine = InlineEngine(Work(fake_grade))
    _run_dispatcher(Dispatcher(queue, engine, tmp_path / "u"))
    assert sorted(engine.submitted) == ["a__1.csv", "b__1.csv", "c__1.csv"]
    assert [queue.job(i).state for i in ids] == ["graded"] * 3
    assert [r[0] for r in _rows(queue.path)] == ["a", "b", "c"]


def test_the_watchdog_stops_a_hung_grade_and_the_folder_grade_goes_on(tmp_path):
    names = ["alice.zip", "hang.zip", "bob.zip"]
    board_support.write_submissions(tmp_path / "subs", names)
    engine = InlineEngine(Work(board_support.fake_grade, job_seconds=0.05))
    result = grade_folder(tmp_path / "subs", engine, db=tmp_path / "lb.sqlite",
                          rubric_hash=board_support.RUBRIC)
    assert sorted(result.graded) == ["alice.zip", "bob.zip"]
    assert result.crashed == [("hang.zip", "still grading after 0.05 s, so its worker was stopped")]
    assert engine.submitted.count("hang.zip") == 2 == len(engine.cancelled)   # tried again once


def test_the_watchdog_stops_a_hung_upload_which_fails_after_its_tries(tmp_path):
    queue = JobQueue(tmp_path / "board.sqlite", max_deaths=2)
    hung = _enqueue(queue, tmp_path / "u", "hang", b"id,prediction\n")
    fine = _enqueue(queue, tmp_path / "u", "ok", b"id,prediction\n1\n")
    engine = InlineEngine(Work(fake_grade, job_seconds=0.05))
    _run_dispatcher(Dispatcher(queue, engine, tmp_path / "u", lease_s=30))
    assert queue.job(fine).state == "graded"
    job = queue.job(hung)
    assert job.state == "failed" and job.deaths == 2 and "still grading after" in job.detail


def test_a_hung_local_worker_is_killed_and_the_others_are_graded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "hang.csv").write_text("SLEEP 600\n")
    for s in ("a", "b"):
        (subs / f"{s}.csv").write_text(f"id,prediction\n{s}\n")
    with LocalEngine(Work(fake_grade, job_seconds=2.0), 2) as engine:
        result = grade_folder(subs, engine, db=tmp_path / "lb.sqlite", rubric_hash=FAKE_RUBRIC,
                              retries=0)
    assert sorted(result.graded) == ["a.csv", "b.csv"]
    assert result.crashed == [("hang.csv", "still grading after 2 s, so its worker was stopped")]


def test_recording_twice_finds_the_row_and_another_rubric_is_refused(tmp_path):
    report = board_support.make_report("alice")
    with Leaderboard(tmp_path / "lb.sqlite") as store:
        first = record_result(store, report, student="alice", sha256=report["sha256"])
        again = record_result(store, report, student="alice", sha256=report["sha256"],
                              rubric_hash=board_support.RUBRIC)
        assert first.new and not again.new and again.board_id == first.board_id
        with pytest.raises(ChallengeError, match="used rubric rubric-1, not rubric-2"):
            record_result(store, report, student="alice", sha256="x", rubric_hash="rubric-2")
    assert len(_rows(tmp_path / "lb.sqlite")) == 1


def test_a_file_that_travelled_as_bytes_is_graded_in_a_private_folder_then_removed(tmp_path):
    seen = []

    def grade(path, **kwargs):
        seen.append(Path(path))
        return fake_grade(path)

    result = grade_task(grade, "/nowhere/alice__1.csv", {}, content=b"id,prediction\n1\n")
    assert seen[0].name == "alice__1.csv" and seen[0].parent != Path("/nowhere")
    assert not seen[0].parent.exists()
    assert result["report"]["student"] == "alice" and result["points"] == 16.0


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:   # a name inside a module, not a submodule
        return False


def _private_imports(path: Path) -> list[str]:
    """``from X import _name`` and ``module._name`` where the module is another of ours."""
    tree, found = ast.parse(path.read_text()), []
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                elif node.module.split(".")[0] in ("grader", "challenge") and \
                        _is_module(f"{node.module}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(a.asname or a.name.split(".")[0] for a in node.names
                           if a.name.split(".")[0] in ("grader", "challenge"))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in modules and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_of_the_grading_path_uses_another_modules_private_helpers():
    files = [GRADER / "batch.py", *GRADER.glob("engines/*.py"), *GRADER.glob("serve/*.py")]
    assert len(files) > 8
    found = {str(f.relative_to(GRADER)): _private_imports(f) for f in files}
    assert {k: v for k, v in found.items() if v} == {}
