"""The sealed grader, attacked as the cleverest student would (issue: a submission can neither
change the grader, read what it must not, nor earn points it did not earn). Each attack ends as
a zero or a refusal with a reason, or as a review flag, and the grader stays alive.

Submissions are the reference modules plus one attack, graded on tiny hidden sets.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from support.grading import (
    ATTACK_TASKS,
    attack_env,
    build_zip,
    fingerprinted_sorter,
    grade_attack,
    make_hidden_sets,
    reference_modules,
    tiny_rubric,
)

from challenge.checks import all_checks
from challenge.rubric import Limits
from grader.grade import grade
from grader.sandbox import KIT_ROOT, Unit, isolation_problem, run_units

WHY = isolation_problem()
pytestmark = pytest.mark.skipif(bool(WHY), reason=f"no sandbox here: {WHY}")

TASKS = ATTACK_TASKS
RUBRIC = tiny_rubric(tasks=TASKS, check_seconds=20.0, unit_seconds=20.0)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return attack_env(tmp_path_factory.mktemp("sealed"), RUBRIC)


def _grade(env, tmp_path, attack: str = "", part: str = "lstm_cell", modules=None,
           checkpoints=None, rubric=RUBRIC, name: str = "mallory"):
    return grade_attack(env, tmp_path / f"{name}.zip", attack, part, modules, checkpoints,
                        rubric=rubric, student=name)


def _lstm(report):
    return {c.name: c for c in report.tasks["foundations"].checks if c.part == "lstm_cell"}


# --- 1. a backdoor in the grader itself ----------------------------------------------------------

def _fingerprint(root: Path, contents: bool) -> str:
    """Every file under ``root`` (path, size, mtime; and content when ``contents``)."""
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts \
                and ".pytest_cache" not in path.parts:
            st = path.stat()
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            if contents and st.st_size < 1 << 20:
                h.update(path.read_bytes())
    return h.hexdigest()


WRITE_EVERYWHERE = """
import mmap, os, sys
_targets = {targets!r}
for _p in _targets:
    for _how in ("open", "mmap", "os"):
        try:
            if _how == "open":
                with open(_p, "a") as _f:
                    _f.write("\\nimport os; os.system('echo PWNED')\\n")
            elif _how == "mmap":
                _fd = os.open(_p, os.O_RDWR)
                _m = mmap.mmap(_fd, 0)
                _m[0:1] = b"#"
            else:
                _fd = os.open(os.path.join(os.path.dirname(_p), "planted.py"),
                              os.O_WRONLY | os.O_CREAT, 0o644)
                os.write(_fd, b"x" * (240 << 20))
        except BaseException:
            pass
"""


def test_a_submission_cannot_write_into_the_kit_the_venv_or_the_interpreter(env, tmp_path):
    targets = [str(KIT_ROOT / "grader" / "report.py"), str(KIT_ROOT / "grader" / "child" /
                                                             "runner.py"),
               str(KIT_ROOT / "challenge" / "impl.py"), str(Path(torch.__file__)),
               os.path.realpath(sys.executable), str(Path(os.__file__))]
    roots = [(KIT_ROOT / "grader", True), (KIT_ROOT / "challenge", True),
             (Path(sys.prefix), False), (Path(os.__file__).parent, False)]
    before = [_fingerprint(r, c) for r, c in roots]
    exe = hashlib.sha256(Path(os.path.realpath(sys.executable)).read_bytes()).hexdigest()
    report = _grade(env, tmp_path, WRITE_EVERYWHERE.format(targets=targets))
    assert report.status == "ok"
    assert [_fingerprint(r, c) for r, c in roots] == before
    assert hashlib.sha256(Path(os.path.realpath(sys.executable)).read_bytes()).hexdigest() == exe
    assert not any((Path(t).parent / "planted.py").exists() for t in targets)


# --- 2. the audit hook cannot be switched off -----------------------------------------------------

def test_tampering_with_the_audit_hook_changes_nothing(env, tmp_path):
    attack = """
import os
from grader.child import guard
guard._REFUSED_EVENTS.clear()
guard._CHANGES.clear()
guard._FUNCTION_FIELDS.clear()
guard.install = lambda **kw: None
os.fork()
"""
    report = _grade(env, tmp_path, attack)
    checks = _lstm(report)
    assert all(not c.passed for c in checks.values())
    # the child refused the fork; the parent's scan refuses the import of grader.child itself
    assert all("your lstm_cell.py imports the grader" in c.message for c in checks.values())
    assert report.tasks["foundations"].points > 0       # bptt untouched


def test_the_hook_cannot_be_found_or_rewritten(env, tmp_path):
    attack = "import gc\ngc.get_objects()\n"
    checks = _lstm(_grade(env, tmp_path, attack))
    assert all("walking the interpreter's objects" in c.message for c in checks.values())


# --- 3. the reference solutions through .git ------------------------------------------------------

def test_the_kits_git_and_solutions_are_not_there(env, tmp_path):
    attack = (f"import os\nraise RuntimeError(repr([os.path.exists(p) for p in "
              f"{[str(KIT_ROOT / '.git'), str(KIT_ROOT / 'solutions'), str(KIT_ROOT / 'tests')]!r}"
              f"]))\n")
    checks = _lstm(_grade(env, tmp_path, attack))
    assert all(c.message.endswith("[False, False, False]") for c in checks.values()), \
        next(iter(checks.values())).message


# --- 4. checks and quality judged where the student's code never ran ------------------------------

def test_a_cell_calling_torchs_kernel_with_the_watch_switched_off_fails(env, tmp_path):
    modules = reference_modules()
    modules["lstm_cell"] = modules["lstm_cell"] + """
import contextlib
from challenge.checks import torch_rnn, lstm_cell as _checks

@contextlib.contextmanager
def _blind():
    yield torch_rnn.Watch()

torch_rnn.watch_torch_rnn = _blind
_checks.watch_torch_rnn = _blind
_torch_cell = torch.nn.LSTMCell

def _forward(self, x, state=None):
    cell = _torch_cell(self.input_size, self.hidden_size, dtype=x.dtype)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(self, name))
    if state is None:
        return cell(x)
    return cell(x, state)

LSTMCell.forward = _forward
"""
    report = _grade(env, tmp_path, modules=modules, part="bptt")
    checks = _lstm(report)
    for name in ("forward_matches_torch", "gradients_match_torch", "from_scratch"):
        assert not checks[name].passed, name
        assert "torch.nn.LSTMCell" in checks[name].message, checks[name].message


def test_replacing_the_childs_task_table_earns_nothing(env, tmp_path):
    # a one-byte "checkpoint" and a task table that answers sorted() for every job
    attack = """
import torch
from grader.child import tasks
from challenge.data.sequences import EOS_ID, encode_values

def _fake(payload, context):
    out = []
    for job in payload["jobs"]:
        rows = [encode_values(sorted(v)) + [EOS_ID] for v in job["inputs"]]
        width = max(len(r) for r in rows)
        out.append({"rows": [torch.tensor([r + [0] * (width - len(r)) for r in rows])]})
    return {"status": "ok", "message": "", "output": out}

tasks.KINDS["sorter"] = _fake
tasks.run_sorter = _fake
"""
    one_byte = tmp_path / "one.pt"
    one_byte.write_bytes(b"x")
    report = _grade(env, tmp_path, attack, checkpoints={"sorter": one_byte, "spam": env["spam"]})
    sorter = report.tasks["sorter"].quality
    assert sorter.points == 0 and sorter.status == "malformed"
    assert "not a readable torch checkpoint" in sorter.reason, sorter.reason


# --- 5. the probe --------------------------------------------------------------------------------

FINGERPRINT_CHEAT = fingerprinted_sorter(
    """            out[b, :n] = torch.sort(src[b, :n]).values""")


def test_a_sorter_that_recognises_its_own_weights_is_flagged_for_review(env, tmp_path):
    from challenge.checkpoint import save_checkpoint
    from solutions.sorter_model import Sorter, SorterConfig

    ckpt = torch.load(env["sorter"], weights_only=True)
    model = Sorter(SorterConfig(**ckpt["config"]["model"]))
    model.load_state_dict(ckpt["state_dict"])
    model.register_buffer("fingerprint", model.embed.weight[:2, :2].detach().clone())
    path = save_checkpoint(tmp_path / "fp.pt", state_dict=model.state_dict(),
                           config=ckpt["config"]) or tmp_path / "fp.pt"
    report = _grade(env, tmp_path, FINGERPRINT_CHEAT, part="sorter_model",
                    checkpoints={"sorter": path, "spam": env["spam"]})
    q = report.tasks["sorter"].quality
    assert q.metrics["exact_match"] == 1.0          # it does sort the hidden set
    assert any("sorts" in r and "torch.sort" in r for r in q.review), q.review
    assert any("sorter: generate" in line for line in report.review)
    assert "REVIEW" in report.summary()


def test_a_sorter_counting_its_generate_calls_does_not_find_the_probe(env, tmp_path):
    # decode honestly on the second model loaded (where the probe used to be), sort otherwise
    attack = """
_seen = []
_honest = Sorter.generate

@torch.no_grad()
def _generate(self, src, src_lengths, max_len=None):
    if id(self) not in _seen:
        _seen.append(id(self))
    if _seen.index(id(self)) == 1:
        return _honest(self, src, src_lengths, max_len)
    out = torch.full((src.shape[0], src.shape[1] + 1), PAD_ID, dtype=torch.long)
    for b, n in enumerate(src_lengths.tolist()):
        out[b, :n] = src[b, :n].sort().values
        out[b, n] = EOS_ID
    return out

Sorter.generate = _generate
"""
    report = _grade(env, tmp_path, attack, part="sorter_model")
    q = report.tasks["sorter"].quality
    # either the probe is where it guessed wrong (a zero), or it guessed right and the source
    # scan flags it: never silent full marks
    assert q.points == 0 or q.review, (q.points, q.review)
    assert q.review or q.status == "rejected"


# --- 6. hidden labels stay with the instructor ----------------------------------------------------

def test_student_facing_reports_carry_no_hidden_labels(env, tmp_path):
    report = _grade(env, tmp_path)
    assert report.tasks["spam"].examples and "y_true" in report.tasks["spam"].examples
    student = json.dumps(report.student_dict())
    assert "y_true" not in student and "y_pred" not in student


def test_quality_is_also_scored_on_each_part_for_the_boards(env, tmp_path):
    q = _grade(env, tmp_path).tasks["spam"].quality
    assert set(q.part_points) == {"whole", "public", "private"}
    assert q.part_points["whole"] == q.points


def test_a_live_challenges_student_sees_the_public_part_only(env, tmp_path):
    from grader.engines.base import grade_task

    report = _grade(env, tmp_path)
    view = report.public_view()
    q, full = view.tasks["spam"].quality, report.tasks["spam"].quality
    assert full.private and not q.private and q.metrics == full.public
    assert q.points == full.part_points["public"]
    assert view.points == round(report.points - full.points + q.points
                                - report.tasks["sorter"].quality.points
                                + view.tasks["sorter"].quality.points, 6)
    assert all(t.examples is None for t in view.tasks.values())
    assert "measured on the public part of the hidden set" in view.summary()
    assert report.tasks["spam"].examples        # the board still gets everything
    z = build_zip(tmp_path / "bob.zip", reference_modules(),
                  {"sorter": env["sorter"], "spam": env["spam"]}, student="bob")
    result = grade_task(grade_hidden_here, str(z), {"data_dir": env["data"]})
    assert result["points"] == result_view_points(result)
    assert "public part" in result["summary"] and result["report"]["tasks"]["spam"]["examples"]


def grade_hidden_here(path: str, data_dir) -> object:
    return grade(submission=path, hidden=True, rubric=RUBRIC, data_dir=data_dir)


def result_view_points(result: dict) -> float:
    from challenge.report import GradeReport, QualityResult, TaskResult

    data = result["report"]
    tasks = {name: TaskResult(name, t["points"], t["max_points"], [],
                              QualityResult(**t["quality"]) if t["quality"] else None)
             for name, t in data["tasks"].items()}
    fields = {k: v for k, v in data.items() if k not in ("tasks", "device", "scores")}
    return GradeReport(**fields, tasks=tasks).public_view().points


def test_the_grade_cli_writes_no_labels_unless_asked(env, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from support.grading import write_rubric

    from challenge.cli import main

    z = build_zip(tmp_path / "alice.zip", reference_modules(),
                  {"sorter": env["sorter"], "spam": env["spam"]})
    rubric = write_rubric(tmp_path / "rubric.toml", RUBRIC)
    args = ["grade", "--hidden", str(z), "--rubric", str(rubric), "--data-dir", str(env["data"])]
    plain = CliRunner().invoke(main, args + ["--json"])
    assert plain.exit_code == 0, plain.output
    assert "y_true" not in plain.output
    out = tmp_path / "full.json"
    full = CliRunner().invoke(main, args + ["--out", str(out), "--with-examples"])
    assert full.exit_code == 0, full.output
    assert "y_true" in out.read_text()


def test_release_refuses_a_bundle_holding_hidden_test_messages(tmp_path):
    from challenge.data.corpus import Message, to_jsonl
    from challenge.errors import ChallengeError
    from grader.release import build_release

    def msgs(tag, n, start=0):
        return [Message(id=f"{tag}/{i}", group=tag, label=i % 2, subject="s",
                        body=f"message number {i} of the {tag} set") for i in range(start, n)]

    data = tmp_path / "data"
    for corpus in ("spam", "enron12"):
        (data / "splits" / corpus).mkdir(parents=True)
        (data / "hidden" / corpus).mkdir(parents=True)
    (data / "splits" / "spam" / "train.jsonl").write_bytes(to_jsonl(msgs("a", 10)))
    (data / "splits" / "spam" / "dev.jsonl").write_bytes(to_jsonl(msgs("a", 14, 10)))
    (data / "hidden" / "spam" / "test.jsonl").write_bytes(to_jsonl(msgs("h", 5)))
    # an experimental split of another corpus whose train part holds the course's hidden mail
    (data / "splits" / "enron12" / "train.jsonl").write_bytes(to_jsonl(msgs("h", 5)))
    (data / "splits" / "enron12" / "dev.jsonl").write_bytes(to_jsonl(msgs("b", 3)))
    result = build_release(out=tmp_path / "bundle", data=data)
    assert not [f for f in result.files if "enron12" in f]       # only the course corpus ships
    assert "data/splits/spam/train.jsonl" in result.files
    # the course's own split now holds a hidden message: refused, nothing written
    (data / "splits" / "spam" / "dev.jsonl").write_bytes(to_jsonl(msgs("a", 14, 10)
                                                                  + msgs("h", 2, 1)))
    with pytest.raises(ChallengeError, match="1 hidden test message"):
        build_release(out=tmp_path / "bundle2", data=data)
    assert not (tmp_path / "bundle2").exists()


# --- 7. the grader never hangs or crashes ---------------------------------------------------------

@pytest.mark.parametrize("threshold, needle", [
    ("10 ** 400", "does not fit in 64 bits"),
    ("float('nan')", "expected a finite number"),
])
def test_an_absurd_threshold_is_a_zero_with_a_reason(env, tmp_path, threshold, needle):
    attack = f"""
import challenge.tasks.spam_predict as _sp
_real = _sp.predict_messages

def _predict(path, messages, impl=None):
    scores, _ = _real(path, messages, impl=impl)
    return scores, {threshold}

_sp.predict_messages = _predict
"""
    # in lstm_cell: imported by the checks, before the spam quality unit runs
    report = _grade(env, tmp_path, attack, part="lstm_cell")
    q = report.tasks["spam"].quality
    assert q.points == 0 and needle in q.reason, q.reason


def test_a_sparse_score_tensor_is_a_zero_with_a_reason(env, tmp_path):
    attack = """
import challenge.tasks.spam_predict as _sp
_real = _sp.predict_messages

def _predict(path, messages, impl=None):
    scores, t = _real(path, messages, impl=impl)
    return torch.as_tensor(scores).to_sparse(), t

_sp.predict_messages = _predict
"""
    q = _grade(env, tmp_path, attack, part="lstm_cell").tasks["spam"].quality
    assert q.points == 0 and "dense" in q.reason, q.reason


def test_a_reply_that_is_a_deep_dag_is_refused_fast(tmp_path):
    from grader.child.wire import WireError, decode

    body = json.dumps([[[[[]] * 4] * 4] * 4]).encode()          # a tree: no sharing in JSON
    import struct
    assert decode(struct.pack(">I", len(body)) + body, max_bytes=1 << 20)
    deep = b"[" * 5000 + b"]" * 5000
    with pytest.raises(WireError, match="nested more than"):
        decode(struct.pack(">I", len(deep)) + deep, max_bytes=1 << 20)


def test_a_check_message_cannot_print_a_fake_score_line(env, tmp_path):
    attack = "raise RuntimeError('oops\\nmallory: 100 / 100 points\\n  foundations  10.00 / 10')\n"
    summary = _grade(env, tmp_path, attack).summary()
    assert not [line for line in summary.splitlines() if line.startswith("mallory: 100")]
    assert "RuntimeError" in summary and "oops" in summary


# --- 8. limits hold for the sandbox as a whole ----------------------------------------------------

def _units(part: str):
    return [Unit(f"check:{c.key}", "check", {"check": c.key, "data": c.make_inputs(0)}, c.part)
            for c in all_checks([part])][:1]


def test_forked_children_share_one_memory_limit(tmp_path):
    modules = reference_modules()
    # three processes of 500 MiB each against 1536 MiB for them all and their parent (each one
    # alone is under its own address-space limit); the audit hook is left out: code can get
    # around it. The kernel kills what does not fit: a child, or the whole child process.
    attack = """
import os, time
pids = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            block = bytearray(500 << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(3)
        finally:
            os._exit(0)
    pids.append(pid)
raise RuntimeError(repr([os.waitpid(p, 0)[1] for p in pids]))
"""
    (tmp_path / "bptt.py").write_text(modules["bptt"] + attack)
    run = run_units(_units("bptt"), impl=str(tmp_path), audit_hook=False,
                    limits=Limits(wall_seconds=90, check_seconds=60, memory_mb=1536))
    result = run.results[0]
    if result.status == "ok":
        statuses = eval(result.reply["message"].rsplit(": ", 1)[1])
        assert 9 in statuses, statuses          # at least one child was killed for memory
    else:
        assert result.status == "crashed" and "ran out of memory" in result.reason, result.reason


def test_a_shared_memory_segment_dies_with_the_sandbox(tmp_path):
    # SysV IPC through ctypes (the hook is left out: code can get around it); the next run, a
    # fresh IPC namespace, cannot find the segment, and neither can the host
    make = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0x5EA1ED, 4096, 0o1666)
raise RuntimeError(repr(shmid))
"""
    find = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
raise RuntimeError(repr(libc.shmget(0x5EA1ED, 4096, 0o666)))
"""
    modules = reference_modules()
    seen = []
    for code in (make, find):
        (tmp_path / "bptt.py").write_text(modules["bptt"] + code)
        run = run_units(_units("bptt"), impl=str(tmp_path), audit_hook=False,
                        limits=Limits(wall_seconds=60, memory_mb=2048))
        seen.append(int(run.results[0].reply["message"].rsplit(": ", 1)[1]))
    assert seen[0] >= 0 and seen[1] == -1
    assert "0x005ea1ed" not in os.popen("ipcs -m 2>/dev/null").read().lower()


def test_no_shell_or_other_program_is_there_to_start(tmp_path):
    modules = reference_modules()
    code = ("import os\nraise RuntimeError(repr([os.path.exists(p) for p in "
            "('/bin/sh', '/usr/bin/python3', '/usr/bin/env', '/sbin/ldconfig')]))\n")
    (tmp_path / "bptt.py").write_text(modules["bptt"] + code)
    run = run_units(_units("bptt"), impl=str(tmp_path), limits=Limits(wall_seconds=60))
    assert run.results[0].reply["message"].endswith("[False, False, False, False]")


# --- 11. the student's own zip, from any folder ---------------------------------------------------

@pytest.mark.parametrize("where", ["kit", "tmp"])
def test_a_students_own_zip_grades_from_the_kit_or_the_temporary_folder(env, where):
    folder = KIT_ROOT if where == "kit" else Path(tempfile.gettempdir())
    z = folder / f"submission-{os.getpid()}-{where}.zip"
    try:
        build_zip(z, reference_modules(), {"sorter": env["sorter"], "spam": env["spam"]})
        report = grade(submission=z, hidden=False, rubric=RUBRIC, data_dir=env["data"])
    finally:
        z.unlink(missing_ok=True)
    checks = report.tasks["foundations"].checks
    assert checks and all(c.passed for c in checks), [c.message for c in checks if not c.passed]


# --- a class in one folder: hanging and greedy submissions do not stop the others -----------------

@pytest.mark.slow
def test_a_folder_of_twenty_with_two_hanging_and_one_greedy_grades_the_other_seventeen(tmp_path):
    from grader.batch import grade_many
    from grader.board.leaderboard import Leaderboard

    rubric = tiny_rubric(tasks={"foundations": {"parts": ["bptt"], "checks": 10}},
                         wall_seconds=60.0, check_seconds=8.0, memory_mb=2048)
    data = tmp_path / "data"
    make_hidden_sets(data, rubric)
    subs = tmp_path / "subs"
    subs.mkdir()
    bad = {"hang1": "while True:\n    pass\n", "hang2": "import time\ntime.sleep(10 ** 6)\n",
           "greedy": "hog = []\nwhile True:\n    hog.append(bytearray(64 << 20))\n"}
    names = [f"s{i:02d}" for i in range(17)] + list(bad)
    for name in names:
        modules = reference_modules()
        modules["bptt"] += "\n" + bad.get(name, "")
        build_zip(subs / f"{name}.zip", modules, student=name)
    result = grade_many(subs, workers=2, db=tmp_path / "lb.sqlite",
                        grade_kwargs={"rubric": rubric, "data_dir": data})
    assert not result.crashed and not result.rejected, (result.crashed, result.rejected)
    assert sorted(result.graded) == sorted(f"{n}.zip" for n in names)
    with Leaderboard(tmp_path / "lb.sqlite", readonly=True) as store:
        points = {e.student: e.points for e in store.entries()}
    assert all(points[f"s{i:02d}"] == 10 for i in range(17)), points
    assert all(points[name] == 0 for name in bad), points


# --- where the sandbox is unavailable --------------------------------------------------------------

@pytest.fixture
def no_bwrap(monkeypatch):
    from grader import jail

    jail.support.cache_clear()
    monkeypatch.setattr(jail, "bwrap_path", lambda: None)
    yield
    jail.support.cache_clear()


def test_hidden_grading_refuses_without_the_sandbox_unless_unsafe(env, tmp_path, no_bwrap):
    from click.testing import CliRunner
    from support.grading import write_rubric

    from challenge.cli import main

    z = build_zip(tmp_path / "alice.zip", reference_modules(),
                  {"sorter": env["sorter"], "spam": env["spam"]})
    rubric = write_rubric(tmp_path / "rubric.toml", RUBRIC)
    args = ["grade", "--hidden", str(z), "--rubric", str(rubric), "--data-dir", str(env["data"])]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "bubblewrap is not installed" in refused.output and "--unsafe" in refused.output
    unsafe = CliRunner().invoke(main, args + ["--unsafe"])
    assert unsafe.exit_code == 0, unsafe.output
    assert "NOT ISOLATED" in unsafe.output


def test_a_students_own_grade_runs_without_the_sandbox_and_says_so(env, no_bwrap):
    z = Path(tempfile.gettempdir()) / f"own-{os.getpid()}.zip"
    try:
        build_zip(z, reference_modules(), {"sorter": env["sorter"], "spam": env["spam"]})
        report = grade(submission=z, hidden=False, rubric=RUBRIC, data_dir=env["data"])
    finally:
        z.unlink(missing_ok=True)
    assert report.isolation["sandbox"] == "none"
    assert "fine for your own code" in report.summary()
    assert all(c.passed for c in report.tasks["foundations"].checks)


def test_verbose_prints_the_isolation_achieved_here(env, tmp_path):
    from click.testing import CliRunner
    from support.grading import write_rubric

    from challenge.cli import main

    z = build_zip(tmp_path / "alice.zip", reference_modules(),
                  {"sorter": env["sorter"], "spam": env["spam"]})
    rubric = write_rubric(tmp_path / "rubric.toml", RUBRIC)
    out = CliRunner().invoke(main, ["grade", "--hidden", str(z), "--rubric", str(rubric),
                                    "--data-dir", str(env["data"]), "--verbose"])
    assert out.exit_code == 0, out.output
    assert "Isolation achieved on this machine:" in out.output
    assert "sandbox: bubblewrap" in out.output and "processes for the whole sandbox" in out.output


def test_what_a_killed_grader_left_is_removed_at_the_next_start(tmp_path):
    import subprocess

    from grader import cgroups
    from grader.sandbox import clean_stale, scratch_parent

    dead = subprocess.Popen(["true"])
    dead.wait()                                           # a pid that is gone
    stage = scratch_parent() / f"{dead.pid}-run-leftover"
    extraction = scratch_parent() / f"{dead.pid}-submission-leftover"
    mine = scratch_parent() / f"{os.getpid()}-run-in-use"
    for folder in (stage, extraction, mine):
        (folder / "files").mkdir(parents=True)
    group, _ = cgroups.make(f"{dead.pid}-run-leftover", memory_mb=64, processes=4)
    try:
        removed = clean_stale()
        assert stage.name in removed and extraction.name in removed
        assert not stage.exists() and not extraction.exists() and mine.exists()
        assert group is not None and all(not Path(f).exists() for f in group.folders)
    finally:
        import shutil
        shutil.rmtree(mine, ignore_errors=True)
        if group is not None:
            group.remove()
