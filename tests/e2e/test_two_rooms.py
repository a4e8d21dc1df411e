"""The two rooms, checked by tools: the import contracts (import-linter), no path from challenge/
to grader/ (not even through importlib), short functions, and a tests/ that mirrors the
packages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB_MODULES = {"tokenizer", "batching", "spam_model", "sorter_model", "lstm_cell", "bptt"}
IMPORTERS = {"import_module", "__import__", "find_spec", "spec_from_file_location"}


def python_files(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_import_contracts_hold():
    # the contracts live in pyproject.toml ([tool.importlinter]); lint-imports exits 1 on a break
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports; "
                          "raise SystemExit(lint_imports())"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "4 kept, 0 broken" in run.stdout


def grader_references(source: str) -> list[str]:
    """Every import of grader/ in ``source``: by statement, or by a call of an importer
    (importlib.import_module, __import__, find_spec, ...) with such a string. (challenge.impl
    names the package "solutions" by design: it loads the implementation a command is told
    to use; the import contract keeps any static import of it out.)"""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in IMPORTERS:
                names = [a.value for a in node.args if isinstance(a, ast.Constant)
                         and isinstance(a.value, str)]
        found += [n for n in names if n.split(".")[0] == "grader"]
    return found


def test_no_file_of_the_students_package_imports_the_grader():
    offenders = {str(p.relative_to(ROOT)): refs for p in python_files("challenge")
                 if (refs := grader_references(p.read_text(encoding="utf-8")))}
    assert offenders == {}


def test_the_scan_sees_an_import_through_importlib():
    # the scan above must be able to fail: each way of reaching the grader is seen
    assert grader_references("import grader.hidden") == ["grader.hidden"]
    assert grader_references("from grader import hidden") == ["grader"]
    assert grader_references("import importlib\nimportlib.import_module('grader.board')") == \
        ["grader.board"]
    assert grader_references("__import__('grader.child')") == ["grader.child"]
    assert grader_references("from importlib.util import find_spec\nfind_spec('grader')") == \
        ["grader"]
    assert grader_references("import challenge.checks") == []


def long_functions(path: Path, max_lines: int = 80, max_params: int = 10) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        a = node.args
        params = [*a.posonlyargs, *a.args, *a.kwonlyargs] + [x for x in (a.vararg, a.kwarg) if x]
        params = [p for p in params if p.arg not in ("self", "cls")]
        lines = node.end_lineno - node.lineno + 1
        if lines > max_lines or len(params) > max_params:
            out.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines, "
                       f"{len(params)} parameters")
    return out


@pytest.mark.parametrize("package", ["challenge", "grader"])
def test_functions_stay_short(package):
    files = [p for p in python_files(package)
             if not (p.parent == ROOT / "challenge" and p.stem in STUB_MODULES)]
    assert [f for p in files for f in long_functions(p)] == []


def test_tests_mirror_the_packages():
    tests = ROOT / "tests"
    assert sorted(p.name for p in tests.glob("test_*.py")) == []
    for room in ("challenge", "grader", "serve", "security", "e2e", "public", "support"):
        assert (tests / room).is_dir(), room
    assert not list((tests / "support").glob("test_*.py"))   # helpers are not tests


def test_the_childs_contract_names_every_other_part_of_the_grader():
    # import-linter cannot say "only"; the child's forbidden list must grow with grader/
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [child] = [c for c in contracts["contracts"] if c.get("source_modules") == ["grader.child"]]
    parts = {p.stem if p.is_file() else p.name for p in (ROOT / "grader").iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").is_file()) and p.stem != "__init__"}
    missing = {f"grader.{p}" for p in parts - {"child"}} - set(child["forbidden_modules"])
    assert missing == set()
