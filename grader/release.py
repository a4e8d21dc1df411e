"""``challenge release OUT/``: the student bundle, built from the instructor's checkout.

The bundle is the student's room only, assembled from an allow-list: the student package
challenge/ with freshly generated stubs (its public checks, rubric and scoring included),
tests/public/, the student README, a pyproject.toml of the student's dependencies alone, the
dataset manifests, the course configuration (data/course.toml), the public train/dev splits
(their split.json without the seed and the test part) and, where the course takes predictions,
the published unlabelled test file (data/public/*.csv). No file of grader/, solutions/, the
split seed, data/hidden/, secrets, runs/ or the instructor's tests can slip in. Before the bundle is moved into place, every file is scanned for code that only occurs
inside solution fences.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from challenge.paths import atomic_dir, data_dir
from challenge.rubric import course_file, load_rubric

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
#: Fenced lines shorter than this are too generic (``return h, c``) to prove a leak.
MIN_LEAK_LINE = 16
#: Files of challenge/ that ship: code, the default rubric, notes.
KIT_SUFFIXES = (".py", ".toml", ".md")
#: Names that never ship, wherever they are.
FORBIDDEN_NAMES = re.compile(r"secret|\.pt$|\.pth$|\.db$|\.sqlite|\.zip$", re.IGNORECASE)
SPLIT_PARTS = ("train.jsonl", "dev.jsonl")
GITIGNORE = ("__pycache__/\n*.pyc\n*.egg-info/\n.venv/\n/data/raw/\n/data/corpora/\n/runs/\n"
             "submission.zip\n")


@dataclass
class ReleaseResult:
    """What went into the bundle: its folder and the relative paths of its files."""

    out: str
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lacks: list[str] = field(default_factory=list)   # what the bundle lacks, and why

    def to_dict(self) -> dict:
        return {"out": self.out, "files": self.files, "warnings": self.warnings,
                "lacks": self.lacks}

    def summary(self) -> str:
        tops: dict[str, int] = {}
        for f in self.files:
            top = f.split("/", 1)[0] + ("/" if "/" in f else "")
            tops[top] = tops.get(top, 0) + 1
        parts = ", ".join(f"{k} ({n} files)" if k.endswith("/") else k for k, n in tops.items())
        lines = [f"wrote the student bundle {self.out}: {parts}"]
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"note: the bundle has no {w}" for w in self.lacks]
        lines.append(f"next: cd {self.out} && pip install -e '.[test]' && challenge check")
        return "\n".join(lines)


def repo_root() -> Path:
    """The instructor's checkout: the folder holding challenge/, grader/ and solutions/."""
    return Path(__file__).resolve().parent.parent


def fenced_lines(source: str) -> tuple[set[str], set[str]]:
    """(stripped code lines inside solution fences, stripped lines outside them) of a module."""
    inside, outside, fenced = set(), set(), False
    for line in source.splitlines():
        s = line.strip()
        if s == BEGIN:
            fenced = True
        elif s == END:
            fenced = False
        elif fenced and s and not s.startswith("#"):
            inside.add(s)
        elif not fenced:
            outside.add(s)
    return inside, outside


def solution_signatures(solutions: Path) -> dict[str, str]:
    """Lines that occur only inside solution fences (long enough to be telling) -> their module.

    Lines that also appear outside the fences of any reference module, or in the kit's own
    shipped code, are left out: they are plumbing, not the answer.
    """
    inside: dict[str, str] = {}
    shared: set[str] = set()
    for name in STUDENT_MODULES:
        path = solutions / f"{name}.py"
        if path.is_file():
            ins, outs = fenced_lines(path.read_text(encoding="utf-8"))
            inside.update({line: name for line in ins if len(line) >= MIN_LEAK_LINE})
            shared |= outs
    return {line: mod for line, mod in inside.items() if line not in shared}


def find_leaks(bundle: Path, signatures: dict[str, str], allowed: set[str] = frozenset()) -> list[str]:
    """``path:line: <text> (from solutions/<m>.py)`` for every signature line found in ``bundle``.

    ``allowed`` holds lines the kit's own shipped code legitimately contains.
    """
    leaks = []
    for path in sorted(bundle.rglob("*.py")):
        for no, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            s = line.strip()
            if s in signatures and s not in allowed:
                leaks.append(f"{path.relative_to(bundle)}:{no}: {s[:80]} "
                             f"(from solutions/{signatures[s]}.py)")
    return leaks


def _copy_tree(src: Path, dst: Path, keep) -> list[Path]:
    """Copy the files under ``src`` for which ``keep(relative path)`` holds; return them."""
    copied = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix == ".pyc":
            continue
        if FORBIDDEN_NAMES.search(path.name) or not keep(rel):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        copied.append(target)
    return copied


def student_pyproject(text: str) -> str:
    """The bundle's pyproject.toml: the student package alone, with the kit's name, version and
    runtime dependencies (what students run) and pytest as the ``test`` extra; no instructor
    extra, no plugin entry point."""
    try:
        project = tomllib.loads(text)["project"]
        deps = [str(d) for d in project["dependencies"]]
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise ChallengeError(f"the kit's pyproject.toml has no readable [project] table with "
                             f"dependencies ({e}); fix it, then release again") from None
    test = [d for d in project.get("optional-dependencies", {}).get("dev", [])
            if str(d).startswith("pytest")] or ["pytest>=7.4"]
    return STUDENT_PYPROJECT.format(
        name=project.get("name", "challenge"), version=project.get("version", "0.1.0"),
        python=project.get("requires-python", ">=3.11"),
        deps="".join(f"    {json.dumps(d)},\n" for d in deps),
        test=", ".join(json.dumps(d) for d in test))


STUDENT_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "The student kit of a recurrent-networks course challenge."
readme = "README.md"
requires-python = "{python}"
dependencies = [
{deps}]

[project.optional-dependencies]
test = [{test}]
dev = [{test}]                   # the same as test: older instructions say .[dev]

[project.scripts]
challenge = "challenge.cli:main"

[tool.setuptools.packages.find]
include = ["challenge*"]

[tool.setuptools.package-data]
challenge = ["*.toml"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""


def public_split_record(path: Path) -> str:
    """``split.json`` without what reveals the hidden part: the seed (with the public corpus it
    rebuilds the test split) and the test part's hash and counts. Training reads the scheme."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ChallengeError(f"{path} is not valid JSON ({e}); make the split again with "
                             f"`challenge hidden make`") from None
    record.pop("seed", None)
    for key in ("sha256", "counts", "fractions"):
        if isinstance(record.get(key), dict):
            record[key] = {k: v for k, v in record[key].items() if k in ("train", "dev")}
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def _check_out(out: Path, root: Path, force: bool) -> None:
    resolved = out.resolve()
    if resolved == root or root.is_relative_to(resolved):
        raise ChallengeError(f"release OUT {out} would replace the kit itself; pick a new folder")
    for inner in ("challenge", "grader", "solutions", "tests", "data"):
        if resolved.is_relative_to(root / inner):
            raise ChallengeError(f"release OUT {out} lies inside the kit's {inner}/ folder; "
                                 f"pick a folder outside it, e.g. ../bundle")
    if out.exists() and not out.is_dir():
        raise ChallengeError(f"release OUT {out} is a file; pass a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ChallengeError(f"release OUT {out} exists and is not empty; pass an empty or new "
                             f"folder, or --force to replace it")


def build_release(*, out: str | os.PathLike, force: bool = False,
                  root: str | os.PathLike | None = None,
                  data: str | os.PathLike | None = None) -> ReleaseResult:
    """Write the student bundle into ``out`` (atomically: all of it, or nothing).

    ``root`` is the instructor's checkout (default: the one this kit runs from); ``data`` the
    data folder whose public splits ship (default: :func:`challenge.paths.data_dir`).
    """
    from grader.stubs import generate_stub

    root = Path(root).resolve() if root is not None else repo_root()
    data = data_dir(data)
    solutions = root / "solutions"
    if not solutions.is_dir():
        raise ChallengeError(f"no reference solutions at {solutions}: `challenge release` runs in "
                             f"the instructor's checkout, not in a student bundle")
    readme = root / "README.students.md"
    if not readme.is_file():
        raise ChallengeError(f"{readme} is missing: the bundle's README comes from it")
    out = Path(out)
    _check_out(out, root, force)
    student_files = {f"{m}.py" for m in STUDENT_MODULES}
    with atomic_dir(out) as tmp:
        shipped = _copy_tree(root / "challenge", tmp / "challenge",
                             lambda rel: rel.as_posix() not in student_files
                             and rel.suffix in KIT_SUFFIXES)
        allowed = set()
        for path in shipped:  # lines of the kit's own code are not leaks
            allowed |= {s.strip() for s in path.read_text(encoding="utf-8").splitlines()}
        for name in STUDENT_MODULES:
            ref = solutions / f"{name}.py"
            if not ref.is_file():
                raise ChallengeError(f"{ref} is missing: every student module needs a reference "
                                     f"to generate its stub from")
            stub = generate_stub(ref.read_text(encoding="utf-8"), filename=f"solutions/{name}.py")
            (tmp / "challenge" / f"{name}.py").write_text(stub, encoding="utf-8")
        _copy_tree(root / "tests" / "public", tmp / "tests" / "public", lambda rel: True)
        _copy_tree(root / "data" / "manifests", tmp / "data" / "manifests", lambda rel: True)
        course = course_corpus(data)
        splits = data / "splits" / course
        if splits.is_dir():      # the course corpus's public parts only, never another's
            _copy_tree(splits, tmp / "data" / "splits" / course,
                       lambda rel: len(rel.parts) == 1 and rel.name in SPLIT_PARTS)
            if (splits / "split.json").is_file() and (tmp / "data" / "splits" / course).is_dir():
                (tmp / "data" / "splits" / course / "split.json").write_text(
                    public_split_record(splits / "split.json"), encoding="utf-8")
        hidden = hidden_in_bundle(tmp / "data" / "splits", data)
        if hidden:
            raise ChallengeError(
                f"the bundle would ship {hidden[0]} hidden test message(s) with their labels "
                f"(first: {hidden[1]}), so nothing was written: the course corpus {course!r} "
                f"was split again after `challenge hidden make`, or overlaps another corpus's "
                f"hidden test set; run `challenge hidden make` again, then release")
        _copy_course(data, tmp / "data")
        shutil.copyfile(readme, tmp / "README.md")
        (tmp / "pyproject.toml").write_text(
            student_pyproject((root / "pyproject.toml").read_text(encoding="utf-8")),
            encoding="utf-8")
        (tmp / ".gitignore").write_text(GITIGNORE, encoding="utf-8")
        signatures = solution_signatures(solutions)
        leaks = find_leaks(tmp, signatures, allowed)
        # The public checks may compute an expected value the way a solution would; that is
        # the checks' authors' call, so it is reported rather than refused.
        warnings = [f"public check shares a line with the solution: {leak}"
                    for leak in leaks if leak.startswith("challenge/checks/")]
        leaks = [leak for leak in leaks if not leak.startswith("challenge/checks/")]
        if leaks:
            raise ChallengeError(f"the bundle would contain solution code, so nothing was written: "
                                 f"{leaks[0]}" + (f" (and {len(leaks) - 1} more)" if len(leaks) > 1
                                                  else ""))
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        for path in tmp.rglob("*"):  # the temporary folder is private; a bundle is for sharing
            path.chmod(0o755 if path.is_dir() else 0o644)
        tmp.chmod(0o755)
    return ReleaseResult(out=str(out), files=files, warnings=warnings, lacks=_lacks(files))


def course_corpus(data: Path) -> str:
    """The corpus the course grades: the one the hidden sets were made from, else the
    course configuration's."""
    from grader.hidden import hidden_corpus

    return hidden_corpus(data) or load_rubric(data_dir=data).hidden.spam_corpus


def _copy_course(data: Path, out: Path) -> None:
    """The course configuration, and the published unlabelled test file where the course takes
    predictions (a code-only course ships none: those texts are the hidden test set's)."""
    course = course_file(data)
    if course.is_file():
        out.mkdir(parents=True, exist_ok=True)
        text = course.read_text(encoding="utf-8")
        band = _measured_band(data)
        if band is not None:
            text = with_band(text, band["floor"], band["full"], band["corpus"])
        (out / course.name).write_text(text, encoding="utf-8")
    if load_rubric(data_dir=data).hidden.predictions and (data / "public").is_dir():
        _copy_tree(data / "public", out / "public",
                   lambda rel: len(rel.parts) == 1 and rel.suffix == ".csv")


def _measured_band(data: Path) -> dict | None:
    """The spam band `challenge hidden make` measured (its values only: floor, full, corpus),
    refused where the rubric changed what it depends on since."""
    from challenge.data.lineage import hidden_meta
    from grader.bands import stale

    spam = hidden_meta(data)[1].get("spam")
    measured = spam.get("bands") if isinstance(spam, dict) else None
    rub = load_rubric(data_dir=data)
    task = rub.task("spam")
    if not measured or task is None or task.quality is None:
        return None
    stale(measured, task.quality, rub)
    return {"floor": measured["floor"], "full": measured["full"], "corpus": spam["corpus"]}


def with_band(text: str, floor: float, full: float, corpus: str) -> str:
    """The course file ``text`` with its ``[tasks.spam.quality]`` table fixing ``floor`` and
    ``full`` for ``corpus`` (the measured band's values, for the students' own grade). tomllib
    cannot write, so the three keys are written here, every other line kept as it was."""
    lines, out, inside, done = text.splitlines(), [], False, False
    for line in lines:
        bare = line.split("#", 1)[0].strip()
        if bare.startswith("["):
            inside = bare.replace(" ", "") == "[tasks.spam.quality]"
            out.append(line)
            if inside:
                out += ["# the band `challenge hidden make` measured on the hidden set",
                        f"floor = {floor!r}", f"full = {full!r}", f"corpus = {json.dumps(corpus)}"]
                done = True
            continue
        if inside and bare.split("=", 1)[0].strip() in ("floor", "full", "corpus") and "=" in bare:
            continue
        out.append(line)
    if not done:
        raise ChallengeError("the course file has no [tasks.spam.quality] table to carry the "
                             "measured band; write the spam quality band as that table")
    return "\n".join(out) + "\n"


def hidden_in_bundle(folder: Path, data: Path) -> tuple[int, str] | None:
    """How many messages of the labelled files under ``folder`` have the (normalised, non-empty)
    body of a message of any hidden test set under ``data/hidden/``, and the first one; None
    when there are none."""
    from challenge.data.corpus import normalise_body

    def bodies(path: Path):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                body = row.get("body", "") if isinstance(row, dict) else ""
                if isinstance(body, str) and body.strip():
                    yield number, row.get("id", "?"), normalise_body(body)

    secret = {b for test in sorted((data / "hidden").glob("*/test.jsonl"))
              for _, _, b in bodies(test)}
    found, first = 0, ""
    for path in sorted(folder.rglob("*.jsonl")) if secret and folder.is_dir() else []:
        for number, mid, body in bodies(path):
            if body in secret:
                found += 1
                first = first or f"{path.relative_to(folder.parent.parent).as_posix()} line " \
                                 f"{number}, message {mid}"
    return (found, first) if found else None


def _lacks(files: list[str]) -> list[str]:
    """What a student will look for and not find in the bundle, and what would put it there."""
    lacks = []
    if not any(f.startswith("data/splits/") and f.endswith("/train.jsonl") for f in files):
        lacks.append("public train/dev split (data/splits/), so students cannot train the spam "
                     "model: run `challenge hidden make` (or `challenge data split`), then "
                     "release again")
    if not any(f.startswith("data/public/") for f in files):
        lacks.append("unlabelled test file (data/public/spam_test_unlabelled.csv), so students "
                     "cannot hand in predictions: `challenge hidden make` writes it; run it, "
                     "then release again, if your course takes predictions")
    return lacks
