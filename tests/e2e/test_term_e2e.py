"""A whole term, end to end, as subprocesses the way people run them, on a tiny setting.

Instructor: a small synthetic spam corpus, `challenge hidden make` from a fresh secret with a
tiny rubric, `challenge release`. Students, each in a fresh virtual environment with the bundle
installed: alice copies the reference modules into her challenge/ (she "solved" it), trains
briefly and submits; bob submits the untouched bundle. Instructor: `challenge grade --hidden`
of each zip, then the class folder in batch into the leaderboard, `challenge leaderboard`.
No network: the corpus is written here, the venvs see this environment's packages.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from challenge.data.corpus import Message, write_corpus
from challenge.impl import STUDENT_MODULES
from grader.release import repo_root

pytestmark = pytest.mark.slow

ROOT = repo_root()
KIT_BIN = Path(sys.executable).parent
HAM_WORDS = "meeting agenda notes project report lunch schedule review draft team".split()
SPAM_WORDS = "winner free money offer click prize cash viagra credit urgent".split()


def tiny_corpus(n: int = 240, seed: int = 0) -> list[Message]:
    """Messages whose words say their label, with noise, so a tiny model learns something."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 3 == 0
        own, other = (SPAM_WORDS, HAM_WORDS) if label else (HAM_WORDS, SPAM_WORDS)
        words = rng.choices(own, k=rng.randint(6, 20)) + rng.choices(other, k=rng.randint(0, 3))
        rng.shuffle(words)
        out.append(Message(id=f"{'spam' if label else 'ham'}/{i:05d}", group="synthetic",
                           label=int(label), subject=" ".join(words[:3]), body=" ".join(words)))
    return out


def tiny_rubric(path: Path) -> Path:
    """The shipped rubric with small hidden sets and values 0..9, lengths 1..5 (6..8 longer)."""
    text = (ROOT / "challenge" / "rubric.toml").read_text(encoding="utf-8")
    for key, value in {"high": 9, "max_len": 5, "long_min_len": 6, "long_max_len": 8,
                       "hidden_size": 100, "dev_size": 50}.items():
        text, n = re.subn(rf"(?m)^{key}\s*=\s*\d+", f"{key} = {value}", text)
        assert n == 1, key
    path.write_text(text, encoding="utf-8")
    return path


def run(cmd: list, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    return done


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, (done.args, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def student_venv(bundle: Path, folder: Path, env: dict) -> Path:
    """A fresh venv with ``bundle`` installed editable (no network: packages via a path entry)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    [own] = list(folder.glob("lib/python*/site-packages"))
    (own / "kit_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    ok(run([folder / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps",
            "--no-build-isolation", "--no-index", "-e", "."], bundle, env))
    return folder / "bin"


def test_a_whole_term(tmp_path):
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("CHALLENGE_") and k != "PYTHONPATH"}
    base_env.update(CHALLENGE_QUIET="1", OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS="1")

    # --- instructor: corpus, hidden sets, bundle ------------------------------------------
    desk = tmp_path / "instructor"
    desk.mkdir()
    idata = desk / "data"
    teacher = {**base_env, "CHALLENGE_DATA_DIR": str(idata), "CHALLENGE_RUNS_DIR": str(desk / "runs")}
    write_corpus("spam", tiny_corpus(), {"source": "synthetic", "licence": "test data"},
                 data_dir=idata)
    rubric = tiny_rubric(desk / "rubric.toml")
    secret = desk / "secret.txt"
    ok(run([KIT_BIN / "challenge", "hidden", "make", "--secret-file", secret, "--new",
            "--rubric", rubric], desk, teacher))
    bundle = tmp_path / "bundle"
    ok(run([KIT_BIN / "challenge", "release", bundle], desk, teacher))
    assert (bundle / "data" / "splits" / "spam" / "train.jsonl").is_file()
    assert not (bundle / "solutions").exists() and not (bundle / "data" / "hidden").exists()
    assert secret.read_text().strip() not in "".join(
        p.read_text(errors="replace") for p in bundle.rglob("*") if p.is_file())

    # --- students ---------------------------------------------------------------------------
    subs = tmp_path / "submissions"
    subs.mkdir()
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    shutil.copytree(bundle, alice)
    shutil.copytree(bundle, bob)
    for name in STUDENT_MODULES:          # alice "solves" every part
        shutil.copyfile(ROOT / "solutions" / f"{name}.py", alice / "challenge" / f"{name}.py")

    a_bin = student_venv(alice, tmp_path / "venv-alice", base_env)
    check = json.loads(ok(run([a_bin / "challenge", "check", "--json"], alice, base_env)))
    assert check["points"] == check["max_points"] > 0, check
    ok(run([a_bin / "challenge", "train", "spam", "--impl", "challenge", "--epochs", "3"],
           alice, base_env))
    ok(run([a_bin / "challenge", "train", "sorter", "--impl", "challenge", "--max-len", "5",
            "--vocab", "10", "--minutes", "0.15"], alice, base_env))
    out = ok(run([a_bin / "challenge", "submit", "--student", "alice", "--out",
                  subs / "alice.zip"], alice, base_env))
    assert "checkpoints/spam.pt" in out and "checkpoints/sorter.pt" in out, out
    assert "warning" not in out
    mine = json.loads(ok(run([a_bin / "challenge", "grade", "--submission", subs / "alice.zip",
                              "--json"], alice, base_env)))     # her zip on the public dev sets
    assert mine["status"] == "ok" and mine["points"] > 0, mine

    b_bin = student_venv(bob, tmp_path / "venv-bob", base_env)
    out = ok(run([b_bin / "challenge", "submit", "--student", "bob", "--out", subs / "bob.zip"],
                 bob, base_env))
    assert out.count("quality part will score zero") == 2, out

    # --- instructor: grade each, then the class into the leaderboard -------------------------
    def grade(zip_name: str) -> dict:
        return json.loads(ok(run([KIT_BIN / "challenge", "grade", "--hidden", subs / zip_name,
                                  "--rubric", rubric, "--json"], desk, teacher)))

    a = grade("alice.zip")
    assert a["status"] == "ok" and a["student"] == "alice", a
    for name, task in a["tasks"].items():
        assert all(c["passed"] for c in task["checks"]), (name, task["checks"])
        if task.get("quality"):
            assert task["quality"]["status"] == "ok", (name, task["quality"])
    assert a["tasks"]["spam"]["quality"]["metrics"]["f1"] > 0.5
    assert a["points"] > 0

    b = grade("bob.zip")
    assert b["student"] == "bob" and b["points"] == 0, b
    for name, task in b["tasks"].items():         # zero, with a reason for every part
        assert task["points"] == 0
        assert all(c["message"].startswith("not implemented yet") for c in task["checks"])
        if task.get("quality"):
            assert task["quality"]["status"] != "ok" and task["quality"]["reason"], name

    ok(run([KIT_BIN / "challenge", "grade", "--hidden", subs, "--workers", "1",
            "--rubric", rubric], desk, teacher))
    board = ok(run([KIT_BIN / "challenge", "leaderboard", "--format", "csv"], desk, teacher))
    rows = list(csv.DictReader(io.StringIO(board)))
    assert [r["student"] for r in rows] == ["alice", "bob"], board
    # the (public) board scores quality on the public part of the hidden sets only
    public = a["points"] - sum(t["quality"]["part_points"]["whole"]
                               - t["quality"]["part_points"]["public"]
                               for t in a["tasks"].values() if t["quality"]
                               and "public" in t["quality"]["part_points"])
    assert float(rows[0]["points (public part)"]) == pytest.approx(public, abs=0.005)  # 2 decimals
    assert float(rows[1]["points (public part)"]) == 0
