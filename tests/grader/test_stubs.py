"""The stub generator: challenge/'s student modules are solutions/ with the fenced code removed."""

from __future__ import annotations

import importlib
import inspect
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader.stubs
from challenge.cli import main
from challenge.errors import ChallengeError
from challenge.impl import STUDENT_MODULES
from grader.stubs import HEADER, generate_stub, write_stubs

ROOT = Path(__file__).resolve().parents[2]
PRESENT = [m for m in STUDENT_MODULES if (ROOT / "solutions" / f"{m}.py").is_file()]


# --- the real modules --------------------------------------------------------------------

@pytest.mark.parametrize("name", PRESENT)
def test_committed_stub_is_generated_from_its_solution(name):
    source = (ROOT / "solutions" / f"{name}.py").read_text(encoding="utf-8")
    stub = (ROOT / "challenge" / f"{name}.py").read_bytes().decode("utf-8")
    assert stub == generate_stub(source), (f"challenge/{name}.py drifted from solutions/{name}.py; "
                                           f"run `challenge stubs`")


def _public(module):
    """name -> object of the functions, classes and their methods defined by ``module``."""
    found = {}
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "__wrapped__"):
            found[name] = obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) or isinstance(member, (classmethod, staticmethod,
                                                                     property)):
                    found[f"{name}.{attr}"] = member
    return found


def _signature(obj):
    if isinstance(obj, property):
        return None
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return str(inspect.signature(obj))


@pytest.mark.parametrize("name", PRESENT)
def test_stub_keeps_every_signature_and_docstring(name):
    ref = importlib.import_module(f"solutions.{name}")
    stub = importlib.import_module(f"challenge.{name}")
    assert stub.__doc__ == ref.__doc__
    ref_api, stub_api = _public(ref), _public(stub)
    assert ref_api and sorted(stub_api) == sorted(ref_api)
    for key, obj in ref_api.items():
        assert _signature(stub_api[key]) == _signature(obj), key
        assert inspect.getdoc(stub_api[key]) == inspect.getdoc(obj), key


def test_stubbed_functions_raise_not_implemented_with_their_hint():
    from challenge import batching, tokenizer

    with pytest.raises(NotImplementedError, match=r"^pad_batch: truncate each sequence"):
        batching.pad_batch([[1]])
    with pytest.raises(NotImplementedError, match=r"^Tokenizer\.tokenize: html\.unescape"):
        tokenizer.Tokenizer().tokenize("hi")
    # plumbing outside the fences still works in the stub
    assert tokenizer.Tokenizer().get_vocab_size() == 4


# --- the generator on small sources ------------------------------------------------------

SOURCE = textwrap.dedent('''\
    """Module doc mentioning # BEGIN SOLUTION in text."""
    import math

    X = 1


    def area(r: float) -> float:
        """Area of a circle."""
        # BEGIN SOLUTION
        # HINT: pi r squared,
        # HINT: use math.pi
        return math.pi * r * r
        # END SOLUTION


    class Box:
        """A box."""

        def __len__(self) -> int:
            # BEGIN SOLUTION
            return 3
            # END SOLUTION

        def size(self):
            """Kept whole."""
            def helper():
                return 1
            if True:
                # BEGIN SOLUTION
                return helper()
                # END SOLUTION
            return 0

        async def later(self):
            text = """
    # BEGIN SOLUTION
    """
            # BEGIN SOLUTION
            return text
            # END SOLUTION
    ''')


def test_generate_stub_replaces_fences_and_keeps_the_rest():
    stub = generate_stub(SOURCE)
    assert stub.startswith(HEADER)
    assert "# BEGIN SOLUTION\n    # HINT" not in stub and "math.pi * r" not in stub
    assert "raise NotImplementedError('area: pi r squared, use math.pi')" in stub
    assert "        raise NotImplementedError('implement Box.__len__: see the docstring')" in stub
    assert "            raise NotImplementedError('implement Box.size: see the docstring')" in stub
    assert '"""Module doc mentioning # BEGIN SOLUTION in text."""' in stub   # strings untouched
    assert '    text = """\n# BEGIN SOLUTION\n"""\n' in stub
    namespace: dict = {}
    exec(compile(stub, "<stub>", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="area: pi r squared"):
        namespace["area"](1.0)
    with pytest.raises(NotImplementedError, match="Box.__len__"):
        len(namespace["Box"]())
    assert namespace["area"].__doc__ == "Area of a circle." and namespace["X"] == 1


@pytest.mark.parametrize("source, line, message", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", 2, "no matching"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n",
     3, "nested"),
    ("def f():\n    return 1\n    # END SOLUTION\n", 3, "without"),
    ("# BEGIN SOLUTION\nX = 1\n# END SOLUTION\n", 1, "outside any function"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n  # END SOLUTION\n", 4, "indented differently"),
    ("def f():\n    # BEGIN SOLUTION\n    return 1\nX = 2\n    # END SOLUTION\n", 5, "past the end"),
    ("def f():\n    # BEGIN SOLUTIONS\n    return 1\n", 2, "malformed fence"),
    ("def f(:\n    pass\n", 1, "syntax error"),
])
def test_malformed_fences_name_file_and_line(source, line, message):
    with pytest.raises(ChallengeError, match=rf"^solutions/mod\.py:{line}: .*{message}"):
        generate_stub(source, filename="solutions/mod.py")


def test_a_stub_that_would_not_compile_is_an_error():
    source = "def f(x):\n    if x:\n        # BEGIN SOLUTION\n        return 1\n        # END SOLUTION\n    else:\n        return 2\n"
    assert "raise NotImplementedError" in generate_stub(source)      # fine: the if keeps a body
    bad = "def f():\n    return [\n        # BEGIN SOLUTION\n        1,\n        # END SOLUTION\n    ]\n"
    with pytest.raises(ChallengeError, match="does not compile"):
        generate_stub(bad, filename="solutions/mod.py")


# --- write_stubs and the CLI on a scratch checkout ---------------------------------------

@pytest.fixture
def checkout(tmp_path, monkeypatch):
    for name in ("tokenizer", "batching"):
        (tmp_path / "solutions").mkdir(exist_ok=True)
        (tmp_path / "challenge").mkdir(exist_ok=True)
        shutil.copy(ROOT / "solutions" / f"{name}.py", tmp_path / "solutions" / f"{name}.py")
    monkeypatch.setattr(grader.stubs, "repo_root", lambda: tmp_path)
    return tmp_path


def test_write_stubs_checks_then_writes(checkout):
    targets = [checkout / "challenge" / "tokenizer.py", checkout / "challenge" / "batching.py"]
    assert write_stubs(check=True) == targets and not targets[0].exists()
    assert write_stubs() == targets
    assert targets[0].read_text(encoding="utf-8") == (ROOT / "challenge" / "tokenizer.py").read_text(
        encoding="utf-8")
    assert write_stubs() == [] and write_stubs(check=True) == []
    targets[1].write_text("# edited by hand\n", encoding="utf-8")
    assert write_stubs(check=True) == [targets[1]]


def test_a_broken_solution_writes_nothing(checkout):
    (checkout / "solutions" / "batching.py").write_text("def f():\n    # BEGIN SOLUTION\n",
                                                         encoding="utf-8")
    with pytest.raises(ChallengeError, match="solutions/batching.py:2"):
        write_stubs()
    assert not (checkout / "challenge" / "tokenizer.py").exists()


def test_cli_stubs_and_check(checkout):
    runner = CliRunner()
    result = runner.invoke(main, ["stubs", "--check"])
    assert result.exit_code == 1 and "challenge/tokenizer.py" in result.output
    assert "Traceback" not in result.output and not (checkout / "challenge" / "tokenizer.py").exists()
    result = runner.invoke(main, ["stubs"])
    assert result.exit_code == 0 and "wrote challenge/tokenizer.py, challenge/batching.py" in result.output
    result = runner.invoke(main, ["stubs", "--check"])
    assert result.exit_code == 0 and "up to date" in result.output


def test_cli_without_solutions_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(grader.stubs, "repo_root", lambda: tmp_path)
    result = CliRunner().invoke(main, ["stubs"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no reference solutions") and "Traceback" not in result.output
