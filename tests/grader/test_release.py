"""``challenge release``: what the student bundle holds, what it must never hold, refusals, and
the bundle installed in a fresh virtual environment as a student would use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.bundle import HIDDEN_MARKER, SECRET, make_data

from challenge.cli import main
from challenge.data.corpus import Message, to_jsonl
from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from grader.release import build_release, repo_root
from grader.stubs import generate_stub

ROOT = repo_root()


def bundle_text(bundle: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in bundle.rglob("*") if p.is_file())


def fenced_code(source: str) -> list[str]:
    """Code lines between the solution fences (the test's own reading of the fences)."""
    lines, inside = [], False
    for line in source.splitlines():
        s = line.strip()
        if s in ("# BEGIN SOLUTION", "# END SOLUTION"):
            inside = s == "# BEGIN SOLUTION"
        elif inside and s and not s.startswith("#"):
            lines.append(s)
    return lines


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("release")
    out = tmp / "bundle"
    build_release(out=out, data=make_data(tmp / "data"))
    return out


def test_bundle_layout(bundle):
    assert (bundle / "README.md").read_text() == (ROOT / "README.students.md").read_text()
    for name in STUDENT_MODULES:
        ref = (ROOT / "solutions" / f"{name}.py").read_text()
        assert (bundle / "challenge" / f"{name}.py").read_text() == generate_stub(ref)
    assert (bundle / "challenge" / "checks" / "__init__.py").is_file()
    assert not (bundle / "grader").exists()                # the student's room only
    assert (bundle / "tests" / "public" / "test_parts.py").is_file()
    assert (bundle / "data" / "splits" / "spam" / "train.jsonl").is_file()
    assert (bundle / "data" / "splits" / "spam" / "dev.jsonl").is_file()
    record = json.loads((bundle / "data" / "splits" / "spam" / "split.json").read_text())
    assert record == {"scheme": "random", "sha256": {"train": "aa", "dev": "bb"},
                      "counts": {"train": {"messages": 12}, "dev": {"messages": 6}}}
    assert (bundle / "data" / "public" / "spam_test_unlabelled.csv").is_file()
    manifests = sorted(p.name for p in (ROOT / "data" / "manifests").iterdir())
    assert sorted(p.name for p in (bundle / "data" / "manifests").iterdir()) == manifests
    pyproject = (bundle / "pyproject.toml").read_text()
    assert '"solutions' not in pyproject and '"challenge*"' in pyproject
    assert "grader" not in pyproject and "challenge.commands" not in pyproject
    for instructor in ("fastapi", "uvicorn", "multipart", "distributed", "dask", "selenium",
                       "import-linter"):
        assert instructor not in pyproject, instructor
    assert 'test = ["pytest' in pyproject


def test_bundle_holds_nothing_of_the_instructor(bundle):
    files = [p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()]
    assert not [f for f in files if f.startswith(("solutions/", "runs/", "data/hidden/",
                                                  "data/raw/", "data/corpora/", "grader/"))]
    assert not [f for f in files if f.startswith("tests/") and not f.startswith("tests/public/")]
    assert not [f for f in files if f.endswith((".pt", ".db", ".sqlite", ".zip"))]
    assert not [f for f in files if "__pycache__" in f or "secret" in f.lower()]
    text = bundle_text(bundle)
    assert HIDDEN_MARKER not in text
    assert SECRET not in text
    assert "123456789" not in text                      # the split seed of split.json


def test_the_bundle_ships_only_what_students_run_and_no_check_shares_a_solution_line(tmp_path):
    result = build_release(out=tmp_path / "out", data=make_data(tmp_path / "data"))
    assert "challenge/release.py" not in result.files and "challenge/stubs.py" not in result.files
    assert "challenge/cli/term.py" in result.files
    assert result.warnings == [] and result.lacks == []
    assert "warning" not in result.summary() and "note" not in result.summary()


def test_release_says_what_the_bundle_lacks_and_why(tmp_path):
    data = make_data(tmp_path / "data")
    shutil.rmtree(data / "public")
    shutil.rmtree(data / "splits")
    result = build_release(out=tmp_path / "out", data=data)
    notes = [ln for ln in result.summary().splitlines() if ln.startswith("note: ")]
    assert len(notes) == 2
    assert "no public train/dev split (data/splits/), so students cannot train the spam model: " \
           "run `challenge hidden make`" in notes[0]
    assert "no unlabelled test file (data/public/spam_test_unlabelled.csv), so students cannot " \
           "hand in predictions: `challenge hidden make` writes it" in notes[1]


@pytest.mark.parametrize("command", ["serve", "hidden", "release", "stubs", "leaderboard"])
def test_without_the_grader_the_instructor_commands_do_not_exist(command):
    # the student's CLI as the bundle builds it: no plugin registered
    from challenge.cli import _Group, student_commands

    student = _Group("challenge")
    for cmd in student_commands():
        student.add_command(cmd)
    assert command not in student.commands
    result = CliRunner().invoke(student, [command])
    assert result.exit_code == 2 and f"No such command '{command}'" in result.output


def test_without_the_grader_grade_and_status_have_no_instructor_option():
    from challenge.cli import _Group, main, student_commands

    student = _Group("challenge")
    for cmd in student_commands():
        student.add_command(cmd)
    for command, instructor in (("grade", ("--hidden", "--dask", "--db", "--roster", "--unsafe",
                                           "--with-examples", "--on-hidden", "--workers")),
                                ("status", ("--reveal", "--regrade-all"))):
        alone = CliRunner().invoke(student, [command, "--help"]).output
        kit = CliRunner().invoke(main, [command, "--help"]).output
        for option in instructor:
            assert option not in alone, (command, option)
            assert option in kit, (command, option)     # the grader's plugin adds them


def test_no_solution_body_in_the_stubs_or_public_tests(bundle):
    """Every code line that occurs only inside a fence is absent from the student's files."""
    outside = set()
    fenced = set()
    for name in STUDENT_MODULES:
        source = (ROOT / "solutions" / f"{name}.py").read_text()
        body = set(fenced_code(source))
        fenced |= body
        outside |= {line.strip() for line in source.splitlines()} - body
    telling = {line for line in fenced - outside if len(line) >= 20}
    assert len(telling) > 20                              # the scan has something to find
    student_files = [bundle / "challenge" / f"{m}.py" for m in STUDENT_MODULES]
    student_files += list((bundle / "tests").rglob("*.py"))
    for path in student_files:
        found = telling & {line.strip() for line in path.read_text().splitlines()}
        assert not found, f"{path.relative_to(bundle)} holds solution code: {sorted(found)[:3]}"
    for name in STUDENT_MODULES:                          # no solution file anywhere, renamed
        ref = (ROOT / "solutions" / f"{name}.py").read_bytes()
        assert not [p for p in bundle.rglob("*.py") if p.read_bytes() == ref]


def test_stubs_come_from_solutions_even_if_the_checkout_holds_solved_modules(tmp_path):
    root = copy_kit(tmp_path / "kit")
    shutil.copyfile(root / "solutions" / "bptt.py", root / "challenge" / "bptt.py")
    build_release(out=tmp_path / "out", root=root, data=tmp_path / "nodata")
    stub = (tmp_path / "out" / "challenge" / "bptt.py").read_text()
    assert stub == generate_stub((root / "solutions" / "bptt.py").read_text())


def copy_kit(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("challenge", "grader", "solutions", "data/manifests"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    shutil.copytree(ROOT / "tests" / "public", dest / "tests" / "public", ignore=ignore)
    for name in ("pyproject.toml", "README.students.md"):
        shutil.copyfile(ROOT / name, dest / name)
    return dest


def test_solution_code_in_a_shipped_file_refuses_the_release(tmp_path):
    root = copy_kit(tmp_path / "kit")
    leaked = max(fenced_code((root / "solutions" / "lstm_cell.py").read_text()), key=len)
    (root / "tests" / "public" / "test_mine.py").write_text(f"def f(self, x, h):\n    {leaked}\n")
    out = tmp_path / "out"
    with pytest.raises(ChallengeError, match=r"tests/public/test_mine\.py:2: .*solutions/lstm_cell"):
        build_release(out=out, root=root, data=tmp_path / "nodata")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["kit"]      # no temporary folder left


def test_non_empty_out_is_refused_unless_forced(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(main, ["release", str(out)])
    assert result.exit_code == 1
    assert "exists and is not empty" in result.output and "--force" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    result = CliRunner().invoke(main, ["release", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert not (out / "keep.txt").exists() and (out / "README.md").is_file()
    assert "wrote the student bundle" in result.output


@pytest.mark.parametrize("where", [".", "..", "challenge/bundle", "data/bundle"])
def test_out_inside_or_over_the_kit_is_refused(tmp_path, where):
    root = copy_kit(tmp_path / "kit")          # a copy: a bug here must not cost the real kit
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ChallengeError, match="kit"):
        build_release(out=root / where, force=True, root=root, data=tmp_path / "nodata")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_release_needs_the_solutions(tmp_path):
    root = copy_kit(tmp_path / "kit")
    shutil.rmtree(root / "solutions")
    with pytest.raises(ChallengeError, match="instructor's checkout, not in a student bundle"):
        build_release(out=tmp_path / "out", root=root)


def _fresh_venv(folder: Path) -> Path:
    """A venv whose own site-packages is empty but which sees this environment's packages
    (torch, click, ...) through a path entry, so installing the bundle needs no network."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    import site
    [own] = list(folder.glob("lib/python*/site-packages"))
    (own / "kit_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return folder / "bin"


@pytest.mark.slow
def test_bundle_installs_and_runs_as_a_student_would(bundle, tmp_path):
    student = tmp_path / "student"
    shutil.copytree(bundle, student)
    bin_dir = _fresh_venv(tmp_path / "venv")
    env = {**os.environ, "CHALLENGE_QUIET": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    for key in ("CHALLENGE_DATA_DIR", "CHALLENGE_RUNS_DIR", "CHALLENGE_IMPL", "PYTHONPATH"):
        env.pop(key, None)
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-e", "."], cwd=student, env=env,
                   check=True, capture_output=True)

    def run(*args):
        return subprocess.run([str(bin_dir / "challenge"), *args], cwd=student, env=env,
                              capture_output=True, text=True, timeout=300)

    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import challenge, importlib.util as u; print(challenge.__file__); "
                            "print(u.find_spec('solutions'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.split() == [str(student / "challenge" / "__init__.py"), "None"]

    check = run("check", "--json")
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["points"] == 0 and report["max_points"] > 0
    for part in report["parts"]:
        assert part["status"] == "not_implemented", part
    table = run("check")
    assert table.returncode == 0 and "not implemented yet: " in table.stdout
    assert "Traceback" not in table.stdout + table.stderr

    grade = run("grade", "--json")
    assert "Traceback" not in grade.stdout + grade.stderr, grade.stderr
    assert grade.returncode == 0, grade.stdout + grade.stderr
    report = json.loads(grade.stdout)
    assert report["points"] == 0 and report["max_points"] > 0
    for name, task in report["tasks"].items():            # zero, and every zero has a reason
        assert task["points"] == 0, name
        assert all(c["message"].startswith("not implemented yet: ") for c in task["checks"])
        if task.get("quality"):
            assert task["quality"]["status"] != "ok" and task["quality"]["reason"], name
    table = run("grade")
    assert table.returncode == 0 and "Traceback" not in table.stdout + table.stderr

    for task, module in (("spam", "tokenizer"), ("sorter", "sorter_model")):  # no --impl: theirs
        train = run("train", task)
        assert train.returncode == 1 and "Traceback" not in train.stderr
        assert f"{module}.py in 'challenge' is not finished" in train.stderr, train.stderr
        assert "--impl solutions" not in train.stderr          # the bundle has no reference

    pytest_run = subprocess.run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p",
                                 "no:cacheprovider", "tests/public"], cwd=student, env=env,
                                capture_output=True, text=True, timeout=300)
    assert pytest_run.returncode == 1                      # unwritten parts fail, with the hint
    assert "not implemented yet" in pytest_run.stdout
