"""The student bundle on its own: built by `challenge release`, installed by its README's command
in a fresh virtual environment that sees nothing of the kit, then used as a student would
(check, pytest, train, grade, submit, grading one's own zip). Needs the package index (the
bundle's dependencies are installed for real), hence `network`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.bundle import make_data

from challenge.impl import STUDENT_MODULES
from grader.release import build_release, repo_root

#: What only an instructor's server or cluster needs: none of it may reach a student's venv.
INSTRUCTOR_ONLY = {"fastapi", "starlette", "uvicorn", "python-multipart", "distributed", "dask",
                   "selenium", "import-linter"}
INSTRUCTOR_VERBS = ("serve", "hidden", "release", "stubs", "leaderboard")

pytestmark = [pytest.mark.network, pytest.mark.slow]


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> tuple[Path, dict]:
    """The bundle installed in a fresh venv: (its folder, the environment to run it with)."""
    tmp = tmp_path_factory.mktemp("fresh-bundle")
    bundle = tmp / "bundle"
    build_release(out=bundle, data=make_data(tmp / "data"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CHALLENGE_DATA_DIR", "CHALLENGE_RUNS_DIR", "CHALLENGE_IMPL",
                        "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", CHALLENGE_QUIET="1",
               OMP_WAIT_POLICY="PASSIVE")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    # the CPU build of torch first, as the README says for a machine without a GPU
    subprocess.run(pip + ["torch==2.13.0"], env=env, check=True, capture_output=True,
                   timeout=900)
    install = subprocess.run(pip + ["-e", ".[test]"], cwd=bundle, env=env, capture_output=True,
                             text=True, timeout=900)   # the bundle README's install command
    assert install.returncode == 0, install.stderr[-3000:]
    return bundle, env


def run(student, *args, timeout=600) -> subprocess.CompletedProcess:
    bundle, env = student
    return subprocess.run(list(args), cwd=bundle, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_bundle_installs_nothing_an_instructor_needs(student):
    listed = run(student, "python", "-m", "pip", "list", "--format", "json")
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert installed & INSTRUCTOR_ONLY == set()
    assert {"torch", "click", "pandas", "scikit-learn", "pytest"} <= installed
    where = run(student, "python", "-c", "import challenge, importlib.util as u; "
                "print(challenge.__file__, u.find_spec('grader'), u.find_spec('solutions'))")
    path, grader, solutions = where.stdout.split()
    assert Path(path) == student[0] / "challenge" / "__init__.py"
    assert (grader, solutions) == ("None", "None")


def test_the_students_cli_has_student_verbs_only(student):
    help_text = run(student, "challenge", "--help").stdout
    for verb in ("check", "train", "grade", "submit", "status", "data", "evaluate"):
        assert f"\n  {verb} " in help_text, verb
    for verb in INSTRUCTOR_VERBS:
        assert f"\n  {verb} " not in help_text, verb
        assert run(student, "challenge", verb).returncode == 2
    grade_help = run(student, "challenge", "grade", "--help").stdout
    for option in ("--hidden", "--dask", "--db", "--roster", "--unsafe", "--with-examples",
                   "--on-hidden", "--workers"):
        assert option not in grade_help, option


def test_the_readme_loop_works_once_the_parts_are_written(student):
    bundle, _ = student
    for name in STUDENT_MODULES:      # a student who has written every part
        shutil.copyfile(repo_root() / "solutions" / f"{name}.py",
                        bundle / "challenge" / f"{name}.py")
    check = run(student, "challenge", "check", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["points"] == \
        json.loads(check.stdout)["max_points"]
    tests = run(student, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert tests.returncode == 0, tests.stdout[-2000:]
    for args in (("train", "spam", "--epochs", "1"), ("train", "sorter", "--minutes", "0.05")):
        trained = run(student, "challenge", *args)
        assert trained.returncode == 0, trained.stderr[-2000:]
    grade = run(student, "challenge", "grade", "--json")
    assert grade.returncode == 0, grade.stderr[-2000:]
    report = json.loads(grade.stdout)
    assert report["sets"] == "dev" and report["status"] == "ok"
    for task in report["tasks"].values():     # every check passes; each model was measured
        assert all(c["passed"] for c in task["checks"])
        assert task["quality"] is None or task["quality"]["status"] == "ok"
    submitted = run(student, "challenge", "submit", "--student", "alice", "--out", "alice.zip")
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    mine = run(student, "challenge", "grade", "--submission", "alice.zip", "--json")
    assert mine.returncode == 0, mine.stderr[-2000:]
    zipped = json.loads(mine.stdout)
    assert (zipped["mode"], zipped["student"]) == ("code", "alice")
    assert zipped["points"] == pytest.approx(report["points"], abs=1e-3)
