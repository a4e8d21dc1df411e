"""A class in one folder (issue #30, "done when"): twenty submissions, twelve of them the attacks
of issue #30 (outputs of 64 MiB and of the wrong dtype and shape, a stride-0 checkpoint,
hand-made reply frames, a crash late in the wall clock, autograd in bptt, a UTF-7 cookie, the
child's task table replaced, a fingerprinted sorter, an endless loop, a memory hog, a reader of
the host's processes, a name that imitates another student's), graded together by two workers:
every other student gets the same points as when graded alone, every attack but the look-alike
ends in a row of the board, and the look-alike alone is held back."""

from __future__ import annotations

import os

import pytest
import torch
from support.grading import (
    ATTACK_TASKS,
    AUTOGRAD_BACKWARD,
    build_zip,
    fingerprinted_sorter,
    make_hidden_sets,
    reference_modules,
    sorter_checkpoint,
    spam_checkpoint,
    tiny_rubric,
)

RUBRIC = tiny_rubric(tasks=ATTACK_TASKS, wall_seconds=90.0, check_seconds=10.0,
                     unit_seconds=40.0, memory_mb=3072)

#: (module, what is appended to it; a coding line replaces the module's first line)
ATTACKS = {
    "huge": ("lstm_cell", """
from challenge.checks import all_checks as _all
for _c in _all():
    object.__setattr__(_c, "run", lambda module, data: torch.zeros(16 << 20))
"""),
    "wrong": ("lstm_cell", """
_honest_forward = LSTMCell.forward
LSTMCell.forward = lambda self, x, state=None: tuple(
    t.to(torch.int64) for t in _honest_forward(self, x, state))
"""),
    "frames": ("bptt", """
import os as _os, struct as _struct, sys as _sys
_os.write(int(_sys.argv[-1]), _struct.pack(">cII", b"R", 0, 2 ** 31) + b"not json!")
"""),
    "late_crash": ("lstm_cell", """
import os as _os, time as _time
_time.sleep(80)
_os.abort()
"""),
    "autograd": ("bptt", AUTOGRAD_BACKWARD),
    "utf7": ("bptt", "# -*- coding: utf-7 -*-\n"),
    "table": ("sorter_model", """
import grader.child.tasks as _tasks
_tasks.KINDS["sorter"] = lambda payload, context: {"status": "ok", "message": "", "output": []}
"""),
    "fingerprint": ("sorter_model", fingerprinted_sorter(
        """            out[b, :n] = torch.topk(src[b, :n], n, largest=False).values""")),
    "hang": ("bptt", "while True:\n    pass\n"),
    "greedy": ("lstm_cell", "_hog = []\nwhile True:\n    _hog.append(bytearray(64 << 20))\n"),
    "procs": ("bptt", """
import os as _os
_seen = {p: open(f"/proc/{p}/cmdline", "rb").read() for p in _os.listdir("/proc") if p.isdigit()}
"""),
    "stride0": ("", ""),          # its sorter checkpoint: views of one value, a terabyte
    "a1ice": ("", ""),            # honest code under a name that imitates alice's: held back
}


def _module(modules: dict, part: str, attack: str) -> dict:
    if attack.startswith("# -*- coding"):
        return {**modules, part: attack + modules[part]}
    return {**modules, part: modules[part] + "\n" + attack} if part else modules


def _checkpoints(root, env: dict) -> dict:
    from challenge.checkpoint import save_checkpoint
    from solutions.sorter_model import Sorter, SorterConfig

    ckpt = torch.load(env["sorter"], weights_only=True)
    model = Sorter(SorterConfig(**ckpt["config"]["model"]))
    model.load_state_dict(ckpt["state_dict"])
    model.register_buffer("fingerprint", model.embed.weight[:2, :2].detach().clone())
    save_checkpoint(root / "fp.pt", state_dict=model.state_dict(), config=ckpt["config"])
    torch.save({"state_dict": {"w": torch.zeros(1).expand(2 ** 20, 2 ** 20)},
                "config": ckpt["config"]}, root / "stride0.pt")
    return {"fingerprint": root / "fp.pt", "stride0": root / "stride0.pt"}


@pytest.mark.slow
def test_every_attack_of_issue_30_in_one_folder_leaves_the_others_their_points(tmp_path):
    from grader.batch import grade_many
    from grader.board.leaderboard import Leaderboard
    from grader.grade import grade

    data = tmp_path / "data"
    make_hidden_sets(data, RUBRIC)
    env = {"sorter": sorter_checkpoint(tmp_path / "sorter.pt", RUBRIC, steps=200),
           "spam": spam_checkpoint(tmp_path / "spam.pt", data)}
    special = _checkpoints(tmp_path, env)
    subs = tmp_path / "subs"
    subs.mkdir()
    honest = ["alice", *(f"s{i:02d}" for i in range(1, 20 - len(ATTACKS)))]
    for name in honest:
        build_zip(subs / f"{name}.zip", reference_modules(),
                  {"sorter": env["sorter"], "spam": env["spam"]}, student=name)
    for name, (part, attack) in ATTACKS.items():
        build_zip(subs / f"{name}.zip", _module(reference_modules(), part, attack),
                  {"sorter": special.get(name, env["sorter"]), "spam": env["spam"]},
                  student=name)
    alone = grade(submission=subs / "alice.zip", hidden=True, rubric=RUBRIC, data_dir=data)
    assert alone.status == "ok" and alone.points > 0.5 * alone.max_points, alone.summary()

    result = grade_many(subs, workers=2, db=tmp_path / "lb.sqlite",
                        grade_kwargs={"rubric": RUBRIC, "data_dir": data})
    attacks = [name for name in ATTACKS if name != "a1ice"]
    assert not result.crashed, result.crashed
    assert [f for f, _ in result.rejected] == ["a1ice.zip"], result.rejected
    assert sorted(result.graded) == sorted(f"{n}.zip" for n in [*honest, *attacks])
    with Leaderboard(tmp_path / "lb.sqlite", readonly=True) as store:
        entries = {e.student: e for e in store.entries(checks=True)}
    points = {name: e.points for name, e in entries.items()}
    assert set(points) == {*honest, *attacks}, points
    differ = {name: points[name] for name in honest if points[name] != pytest.approx(alone.points)}
    # why, where it happens: the failed checks and quality reasons of each, and the load
    why = {name: ([c.get("message", "")[:200] for c in entries[name].checks if not c.get("passed")],
                  {t: e.quality_reason[:200] for t, e in entries[name].tasks.items()
                   if e.quality_reason}) for name in differ}
    assert not differ, (f"honest students off their alone grade ({alone.points}): {differ}; "
                        f"why: {why}; load average {os.getloadavg()}")
    # none earns more than an honest student; the fingerprinted sorter may sort perfectly (it is
    # flagged for review, not scored lower), the replaced task table changes nothing the grader
    # reads, and reading the processes it can see finds nothing: the others lose points
    assert all(points[name] <= alone.points for name in attacks), points
    lower = [name for name in attacks if name not in ("fingerprint", "procs", "table")]
    assert {n: points[n] for n in lower if points[n] >= alone.points} == {}, (alone.points,
                                                                               points)
