"""The adversarial suite: a hostile or broken submission is a zero with a named reason, and the
grader stays alive and goes on with the rest of the submission.

Each case builds its submission in tmp_path from the reference modules plus one attack, and
grades it on tiny hidden sets (a tiny rubric keeps the suite fast: small sets, short limits).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile

import pytest
import torch
from support.grading import (
    ATTACK_TASKS,
    attack_env,
    build_zip,
    grade_attack,
    reference_modules,
    tiny_rubric,
)

from grader.grade import grade

TASKS = ATTACK_TASKS
RUBRIC = tiny_rubric(tasks=TASKS, check_seconds=20.0, unit_seconds=8.0)
FAST_TIMEOUT = tiny_rubric(tasks=TASKS, check_seconds=3.0)
LINUX_ROOT = sys.platform.startswith("linux") and os.geteuid() == 0


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return attack_env(tmp_path_factory.mktemp("adv"), RUBRIC)


def _grade(env, tmp_path, attack: str = "", part: str = "lstm_cell", checkpoints=None,
           rubric=RUBRIC, **kw):
    return grade_attack(env, tmp_path / "alice.zip", attack, part, checkpoints=checkpoints,
                        rubric=rubric, **kw)


def _part(report, part: str):
    return [c for c in report.tasks["foundations"].checks if c.part == part]


def _zero_with_reason(report, needle: str, part: str = "lstm_cell", others: bool = True) -> None:
    """Every check of ``part`` is zero with a reason containing ``needle``; bptt is untouched."""
    assert report.status == "ok"
    checks = _part(report, part)
    assert checks and all(not c.passed and c.points == 0 for c in checks)
    assert all(needle in c.message for c in checks), checks[0].message
    if others:  # the grader goes on with the other parts
        assert [c.message for c in _part(report, "bptt") if not c.passed] == []


def test_infinite_loop_is_a_timeout(env, tmp_path):
    report = _grade(env, tmp_path, "while True:\n    pass\n", rubric=FAST_TIMEOUT)
    _zero_with_reason(report, "timed out after 3 s", others=False)


def test_memory_bomb_is_stopped(env, tmp_path):
    report = _grade(env, tmp_path, "hog = [bytes(1 << 30) for _ in range(1000)]\n")
    _zero_with_reason(report, "MemoryError")


def test_fork_bomb_is_refused(env, tmp_path):
    _zero_with_reason(_grade(env, tmp_path, "import os\nwhile True:\n    os.fork()\n"),
                      "refuses starting processes")


@pytest.mark.skipif(not LINUX_ROOT, reason="the pids cgroup needs Linux and root")
def test_thread_bomb_hits_the_kernel_process_cap(env, tmp_path):
    attack = ("import threading, time\n"
              "for _ in range(500):\n"
              "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    report = _grade(env, tmp_path, attack)
    _zero_with_reason(report, "can't start new thread")
    assert "processes for the whole sandbox" in report.isolation["limits"]


def test_crash_is_a_zero_for_that_part(env, tmp_path):
    _zero_with_reason(_grade(env, tmp_path, "import os\nos.abort()\n"), "crashed")


def test_hidden_labels_cannot_be_read_by_guessing_paths(env, tmp_path):
    data = env["data"]
    attack = f"""
import os
found = []
for guess in [{str(data / 'hidden' / 'hidden.json')!r}, {str(data / 'hidden' / 'spam' / 'test.jsonl')!r},
              {str(data / 'corpora' / 'spam' / 'messages.jsonl')!r}, "../../data/hidden/hidden.json"]:
    try:
        found.append("LEAKED " + open(guess).read(200))
    except OSError as e:
        found.append(type(e).__name__)
for root, dirs, files in os.walk(".."):   # the whole scratch folder
    for name in files:
        try:
            if b'"lab' + b'el"' in open(os.path.join(root, name), "rb").read():
                found.append("LABELS IN SCRATCH " + name)
        except OSError:
            pass
raise RuntimeError("; ".join(found))
"""
    report = _grade(env, tmp_path, attack)
    _zero_with_reason(report, "RuntimeError")
    text = json.dumps(report.to_dict())
    assert "LEAKED" not in text and "LABELS IN SCRATCH" not in text and "spam-1/" not in text


def test_score_file_cannot_be_written(env, tmp_path):
    targets = [tmp_path / "report.json", env["data"] / "leaderboard.sqlite", env["data"] / "scores.json"]
    attack = "".join(f"open({str(t)!r}, 'w').write('100 points')\n" for t in targets)
    report = _grade(env, tmp_path, attack)
    _zero_with_reason(report, "PermissionError")
    assert not any(t.exists() for t in targets)


def test_socket_is_refused(env, tmp_path):
    report = _grade(env, tmp_path, "import socket\nsocket.socket().connect(('127.0.0.1', 9))\n")
    _zero_with_reason(report, "no network")
    if LINUX_ROOT:
        assert report.isolation["network"].startswith("none")


def test_pickle_payload_in_a_checkpoint_never_runs(env, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "config": {"task": "sorter"}, "x": Payload()}, evil)
    report = _grade(env, tmp_path, checkpoints={"sorter": evil, "spam": env["spam"]})
    q = report.tasks["sorter"].quality
    assert q.points == 0 and q.status in ("error", "malformed")
    assert "cannot be loaded safely" in q.reason or "cannot be read" in q.reason
    assert not marker.exists()
    assert report.tasks["foundations"].points == 10


def test_pickle_payload_in_an_output_never_runs(env, tmp_path):
    marker = tmp_path / "pwned"
    attack = f"""
import os

class _Evil(torch.Tensor):
    def __reduce_ex__(self, protocol):
        return (os.system, ("touch {marker}",))

def _generate(self, src, lengths, max_len=None):
    return torch.zeros(len(src), 3, dtype=torch.long).as_subclass(_Evil)

Sorter.generate = _generate
"""
    report = _grade(env, tmp_path, attack, part="sorter_model")
    q = report.tasks["sorter"].quality
    assert q.points == 0        # sent as a plain tensor of zeros: no pickle crosses
    assert not marker.exists()


@pytest.mark.parametrize("generate, needle", [
    ("torch.full((len(src), 3), float('nan'))", "expected integer token ids"),
    ("torch.zeros(len(src), dtype=torch.long)", "expected (B, L)"),
    ("torch.zeros(len(src) - 1, 3, dtype=torch.long)", "rows for"),
    ("'sorted!'", "returned str"),
])
def test_bad_sorter_outputs_are_malformed(env, tmp_path, generate, needle):
    attack = f"Sorter.generate = lambda self, src, lengths, max_len=None: {generate}\n"
    q = _grade(env, tmp_path, attack, part="sorter_model").tasks["sorter"].quality
    assert q.points == 0 and q.status == "malformed" and needle in q.reason


def test_nan_spam_scores_are_malformed(env, tmp_path):
    attack = ("_forward = SpamClassifier.forward\n"
              "def _nan(self, ids, lengths):\n"
              "    return _forward(self, ids, lengths) * float('nan')\n"
              "SpamClassifier.forward = _nan\n")
    report = _grade(env, tmp_path, attack, part="spam_model")
    q = report.tasks["spam"].quality
    assert q.points == 0 and q.status == "malformed" and "NaN" in q.reason
    assert report.tasks["sorter"].quality.status == "ok"


def test_sorter_that_hangs_is_a_quality_timeout(env, tmp_path):
    attack = "def _hang(self, *a, **k):\n    while True:\n        pass\nSorter.generate = _hang\n"
    report = _grade(env, tmp_path, attack, part="sorter_model")
    q = report.tasks["sorter"].quality
    assert q.points == 0 and q.status == "timeout" and "timed out after 8 s" in q.reason
    assert report.tasks["foundations"].points == 10


def test_nan_and_wrong_shapes_in_checks_are_named(env, tmp_path):
    attack = ("_forward = LSTMCell.forward\n"
              "def _nan(self, x, state=None):\n"
              "    h, c = _forward(self, x, state)\n"
              "    return h * float('nan'), c[:, :1]\n"
              "LSTMCell.forward = _nan\n")
    checks = {c.name: c for c in _part(_grade(env, tmp_path, attack), "lstm_cell")}
    messages = " ".join(c.message for c in checks.values() if not c.passed)
    assert not checks["forward_matches_torch"].passed
    assert "NaN" in messages or "shape" in messages


@pytest.mark.parametrize("entry, needle", [
    ("../../evil.py", "zip slip"),
    ("/etc/evil.py", "absolute path"),
])
def test_zip_slip_is_a_failed_submission(env, tmp_path, entry, needle):
    report = _grade(env, tmp_path, extra={entry: b"x = 1"})
    assert report.status == "failed" and needle in report.reason and report.points == 0
    assert not (tmp_path.parent / "evil.py").exists()


def test_zip_bomb_is_a_failed_submission(env, tmp_path):
    report = _grade(env, tmp_path, extra={"checkpoints/bomb.bin": b"\0" * (300 << 20)})
    assert report.status == "failed" and "more than" in report.reason


def test_symlink_entry_is_a_failed_submission(env, tmp_path):
    info = zipfile.ZipInfo("modules/link.py")
    info.create_system, info.external_attr = 3, (0o120777 << 16)
    z = build_zip(tmp_path / "bob.zip", reference_modules())
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(info, str(env["data"] / "hidden" / "hidden.json"))
    report = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.status == "failed" and "symlink" in report.reason
    assert report.student == "bob" and all(t.points == 0 for t in report.tasks.values())


def test_edited_file_after_submit_is_a_failed_submission(env, tmp_path):
    z = build_zip(tmp_path / "carol.zip", reference_modules(),
                  manifest={"student": "carol", "files": {"modules/bptt.py": "0" * 64}})
    report = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.status == "failed" and "manifest" in report.reason


def test_the_secret_behind_the_hidden_sets_cannot_be_read(env, tmp_path):
    secret = env["root"] / "secret-s3cret.txt"     # where make_hidden_sets put it
    attack = f"raise RuntimeError('read ' + repr(open({str(secret)!r}).read()))\n"
    report = _grade(env, tmp_path, attack)
    _zero_with_reason(report, "No such file or directory")      # not even there
    assert "s3cret" not in json.dumps(report.to_dict()).replace("secret-s3cret.txt", "")


def test_hidden_sets_that_do_not_name_their_secret_get_a_warning(env, tmp_path):
    report = _grade(env, tmp_path)
    assert report.isolation["secret"] == "hidden" and "WARNING: the hidden sets" not in report.summary()
    old = tmp_path / "old-data"               # hidden sets made before the secret's path was kept
    shutil.copytree(env["data"], old)
    meta_path = old / "hidden" / "hidden.json"
    meta = json.loads(meta_path.read_text())
    del meta["secret_file"]
    meta_path.write_text(json.dumps(meta))
    report = _grade(dict(env, data=old), tmp_path)
    assert report.isolation["secret"].startswith("not recorded")
    assert "WARNING: the hidden sets do not record which file holds their secret" in report.summary()
    assert report.points == _grade(env, tmp_path).points     # the grade itself is the same


def test_forged_frames_on_the_reply_pipe_buy_no_time(env, tmp_path):
    # the child's reply pipe is writable by the student's code: marks and replies for other
    # units, and "started" frames, must not move the grader on or reset a unit's clock
    attack = """
import os, struct, sys, time
def _stall(self, x, state=None):
    fd = int(sys.argv[-1])
    while True:
        for unit in range(1000, 1100):
            os.write(fd, struct.pack(">cII", b"M", unit, 0))
            os.write(fd, struct.pack(">cII", b"S", 0, 0))
        time.sleep(0.05)
LSTMCell.forward = _stall
"""
    report = _grade(env, tmp_path, attack, rubric=FAST_TIMEOUT)
    timed_out = [c for c in _part(report, "lstm_cell") if c.status == "timeout"]
    assert timed_out and all("timed out after 3 s" in c.message for c in timed_out)
    assert [c.message for c in _part(report, "bptt") if not c.passed] == []


def test_an_expanded_output_is_malformed_not_a_memory_bomb(env, tmp_path):
    # 1 KB on disk, 8 GB as a list: a view with stride 0 must not reach tolist() in the grader
    attack = ("Sorter.generate = lambda self, src, lengths, max_len=None: "
              "torch.zeros(1, 10, dtype=torch.long).expand(10 ** 8, 10)\n")
    report = _grade(env, tmp_path, attack, part="sorter_model")
    q = report.tasks["sorter"].quality
    assert q.points == 0 and q.status in ("malformed", "error") and "MiB an output may" in q.reason


def test_a_deeply_nested_manifest_is_a_failed_submission(env, tmp_path):
    z = tmp_path / "dave.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", "[" * 200_000)
    report = grade(submission=z, hidden=True, rubric=RUBRIC, data_dir=env["data"])
    assert report.status == "failed" and "nested too deeply" in report.reason


def test_terminal_escapes_in_messages_are_printed_as_text(env, tmp_path):
    attack = "raise RuntimeError('\\x1b[2J\\x1b[H100/100 points\\x08\\u202eZ')\n"
    summary = _grade(env, tmp_path, attack).summary()
    assert "\x1b" not in summary and "\x08" not in summary and "\u202e" not in summary
    assert "\\x1b[2J\\x1b[H100/100 points\\x08\\u202eZ" in summary


def test_filling_the_disk_is_stopped(env, tmp_path):
    # many files, each under the per-file limit: the scratch folder is a size-capped tmpfs (the
    # attack stops at 100 MiB and then waits, so that a broken allowance is a timeout, not a
    # full disk)
    attack = """
import time
def _fill(self, x, state=None):
    block = bytes(2 << 20)
    for i in range(50):
        with open(f"fill-{i}", "wb") as f:
            f.write(block)
    while True:
        time.sleep(1)
LSTMCell.forward = _fill
"""
    rubric = tiny_rubric(tasks=TASKS, check_seconds=20.0, max_scratch_mb=32)
    report = _grade(env, tmp_path, attack, rubric=rubric)
    stopped = [c for c in _part(report, "lstm_cell") if "No space left on device" in c.message]
    assert stopped and all(c.points == 0 for c in stopped)
    assert [c.message for c in _part(report, "bptt") if not c.passed] == []
