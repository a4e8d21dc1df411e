"""The student stubs in challenge/ are generated from the reference modules in solutions/.

Every block fenced by ``# BEGIN SOLUTION`` / ``# END SOLUTION`` inside a function becomes
``raise NotImplementedError(<hint>)`` at the fence's indentation, the hint being the function's
name and the fence's ``# HINT:`` lines (else "implement <function>: see the docstring"), which
``challenge check`` shows as "not implemented yet: <hint>". Everything outside the
fences - imports, signatures, docstrings, dataclasses, plumbing - is kept verbatim, so the stub
and the reference cannot drift apart unnoticed (``challenge stubs --check``).
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from challenge.paths import atomic_write

BEGIN, END, HINT = "# BEGIN SOLUTION", "# END SOLUTION", "# HINT:"
HEADER = ("# Your module: generated from the reference solution by `challenge stubs`. Replace each\n"
          "# `raise NotImplementedError(...)` with your code; keep the signatures and docstrings.\n")


@dataclass(frozen=True)
class _Fence:
    begin: int          # 1-based line of "# BEGIN SOLUTION"
    end: int            # 1-based line of "# END SOLUTION"
    indent: str
    hints: tuple[str, ...]


def _fences(source: str, filename: str) -> list[_Fence]:
    """The fences of ``source``, found among real comments (never inside strings)."""
    fences: list[_Fence] = []
    open_at: tuple[int, str] | None = None
    hints: list[str] = []
    lines = source.splitlines()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError) as e:
        raise ChallengeError(f"{filename}: cannot be tokenized ({e}); fix the Python syntax") from None
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        line_no, col = tok.start
        text = tok.string.strip()
        alone = lines[line_no - 1].strip() == tok.string.strip()
        if text == BEGIN and alone:
            if open_at is not None:
                raise ChallengeError(f"{filename}:{line_no}: nested {BEGIN!r} (the fence opened at "
                                     f"line {open_at[0]} is not closed); close it with {END!r} first")
            open_at, hints = (line_no, lines[line_no - 1][:col]), []
        elif text == END and alone:
            if open_at is None:
                raise ChallengeError(f"{filename}:{line_no}: {END!r} without a {BEGIN!r} before it")
            if lines[line_no - 1][:col] != open_at[1]:
                raise ChallengeError(f"{filename}:{line_no}: {END!r} is indented differently from "
                                     f"its {BEGIN!r} at line {open_at[0]}; indent both at body level")
            fences.append(_Fence(open_at[0], line_no, open_at[1], tuple(hints)))
            open_at = None
        elif text.startswith(HINT) and open_at is not None:
            hints.append(text[len(HINT):].strip())
        elif text.startswith(("# BEGIN", "# END")) and "SOLUTION" in text:
            raise ChallengeError(f"{filename}:{line_no}: malformed fence {text!r}; write exactly "
                                 f"{BEGIN!r} or {END!r} on a line of its own")
    if open_at is not None:
        raise ChallengeError(f"{filename}:{open_at[0]}: {BEGIN!r} has no matching {END!r}")
    return fences


def _functions(tree: ast.AST, lines: list[str]) -> list[tuple[str, ast.AST, int]]:
    """(qualified name, node, last line) of every function, methods included.

    The last line runs past the last statement over the blank and comment lines that follow
    it, so that an ``# END SOLUTION`` after a function's final statement still belongs to it.
    """
    found: list[tuple[str, ast.AST, int]] = []

    def extended_end(node: ast.AST) -> int:
        last = node.end_lineno
        while last < len(lines) and (not lines[last].strip() or lines[last].lstrip().startswith("#")):
            last += 1
        return last

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child, extended_end(child)))
                walk(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                walk(child, prefix + child.name + ".")
            else:
                walk(child, prefix)

    walk(tree, "")
    return found


def _enclosing(functions, fence: _Fence, filename: str) -> str:
    """Qualified name of the innermost function whose body holds the fence."""
    best = None
    for name, node, last in functions:
        if node.lineno < fence.begin <= last and len(fence.indent) > node.col_offset:
            if best is None or node.lineno > best[1].lineno:
                best = (name, node, last)
    if best is None:
        raise ChallengeError(f"{filename}:{fence.begin}: {BEGIN!r} is outside any function body; "
                             f"fences may only wrap statements inside a function or method")
    if fence.end > best[2]:
        raise ChallengeError(f"{filename}:{fence.end}: {END!r} lies past the end of {best[0]}, "
                             f"where its {BEGIN!r} (line {fence.begin}) is; close it inside")
    return best[0]


def generate_stub(source: str, filename: str = "<source>") -> str:
    """The student stub of reference module ``source``: fenced blocks become NotImplementedError.

    ``filename`` only names the file in error messages. A fence without its end, nested fences,
    a fence outside a function, or a result that does not compile is a ChallengeError.
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        raise ChallengeError(f"{filename}:{e.lineno}: syntax error ({e.msg}); fix the module") from None
    fences = _fences(source, filename)
    functions = _functions(tree, source.splitlines())
    lines = source.splitlines(keepends=True)
    out: list[str] = [HEADER]
    line = 1
    for fence in fences:
        name = _enclosing(functions, fence, filename)
        hint = (f"{name}: " + " ".join(fence.hints) if fence.hints
                else f"implement {name}: see the docstring")
        out.extend(lines[line - 1:fence.begin - 1])
        out.append(f"{fence.indent}raise NotImplementedError({hint!r})\n")
        line = fence.end + 1
    out.extend(lines[line - 1:])
    stub = "".join(out)
    try:
        compile(stub, filename, "exec")
    except SyntaxError as e:
        raise ChallengeError(f"{filename}: the generated stub does not compile at line {e.lineno} "
                             f"({e.msg}); check the fences around it") from None
    return stub


def repo_root() -> Path:
    """The checkout that holds ``challenge/`` (and, on the instructor side, ``solutions/``)."""
    return Path(__file__).resolve().parent.parent


def write_stubs(check: bool = False, root: str | Path | None = None) -> list[Path]:
    """Regenerate ``challenge/<m>.py`` from ``solutions/<m>.py`` for every student module present.

    Returns the stub files that differed from their reference (with ``check``, nothing is
    written: the caller reports the drift). Missing ``solutions/`` is a ChallengeError.
    """
    root = Path(root) if root is not None else repo_root()
    solutions = root / "solutions"
    if not solutions.is_dir():
        raise ChallengeError(f"no reference solutions at {solutions}: `challenge stubs` runs in the "
                             f"instructor's checkout, not in the student bundle")
    stubs: dict[Path, str] = {}
    for name in STUDENT_MODULES:     # generate every stub before writing any
        ref = solutions / f"{name}.py"
        if ref.is_file():
            stubs[root / "challenge" / f"{name}.py"] = generate_stub(
                ref.read_text(encoding="utf-8"), filename=f"solutions/{name}.py")
    changed = [target for target, stub in stubs.items()
               if not target.is_file() or target.read_bytes() != stub.encode("utf-8")]
    if not check:
        for target in changed:
            with atomic_write(target, "w", encoding="utf-8", newline="") as f:
                f.write(stubs[target])
            target.chmod(0o644)   # atomic_write's temporary file is private (0600)
    return changed
