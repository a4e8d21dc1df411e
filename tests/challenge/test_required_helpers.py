"""Each stub says which of its functions the checks call (required) and which are the
reference's optional helpers; every function a student writes is one or the other, every
required one is exercised by the part's checks, and every optional one says so where it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from challenge.impl import STUDENT_MODULES

ROOT = Path(__file__).resolve().parents[2]


def _written_by_students(module: str) -> dict[str, str]:
    """``Class.method`` or ``function`` -> its docstring, for every function whose body is a
    solution (fenced in solutions/)."""
    source = (ROOT / "solutions" / f"{module}.py").read_text()
    lines = source.splitlines()
    found: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str = "") -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{child.name}.")
            elif isinstance(child, ast.FunctionDef):
                body = "\n".join(lines[child.lineno - 1:child.end_lineno])
                if "# BEGIN SOLUTION" in body:
                    found[prefix + child.name] = ast.get_docstring(child) or ""

    visit(ast.parse(source))
    return found


def _declared(module: str) -> tuple[list[str], list[str]]:
    doc = ast.get_docstring(ast.parse((ROOT / "challenge" / f"{module}.py").read_text())) or ""
    flat = " ".join(doc.split())
    required = re.search(r"Required \(the checks call each of them\): (.*?)\.(?: |$)", flat)
    assert required, f"challenge/{module}.py does not say which functions are required"
    optional = re.search(r"Optional helpers \([^)]*\): (.*?)\.(?: |$)", flat)
    names = lambda text: re.findall(r"``([\w.]+)``", text)  # noqa: E731
    return names(required.group(1)), names(optional.group(1)) if optional else []


@pytest.mark.parametrize("module", STUDENT_MODULES)
def test_every_function_a_student_writes_is_required_or_an_optional_helper(module):
    required, optional = _declared(module)
    assert not set(required) & set(optional)
    assert sorted(required + optional) == sorted(_written_by_students(module))


@pytest.mark.parametrize("module", STUDENT_MODULES)
def test_every_required_function_is_called_by_the_checks(module):
    checks = (ROOT / "challenge" / "checks" / f"{module}.py").read_text()
    required, _ = _declared(module)
    for name in required:
        owner, _, method = name.rpartition(".")
        called = owner if method.startswith("__") else method   # a constructor, iteration, len
        assert re.search(rf"\b{re.escape(called)}\b", checks), (module, name)


@pytest.mark.parametrize("module", STUDENT_MODULES)
def test_every_optional_helper_says_so_in_its_docstring(module):
    docs = _written_by_students(module)
    for name in _declared(module)[1]:
        assert "Optional helper" in docs[name], (module, name)
