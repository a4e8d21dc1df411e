"""Finds the student modules of an implementation: the reference ``solutions``, the student's
``challenge`` stubs, or a folder of modules from a submission.

Every task imports student code through :func:`load_module`, so the same training and grading
code runs on any of the three; :func:`require` and :func:`build_model` turn the usual mismatches
(a module that fails to import, a renamed name, a config that refuses the task's settings) into
one-line errors that name them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from challenge.errors import ChallengeError, StudentCodeError

#: The modules a student writes; each exists in solutions/ and, as a stub, in challenge/.
STUDENT_MODULES = ("tokenizer", "batching", "spam_model", "sorter_model", "lstm_cell", "bptt")
IMPLS = ("solutions", "challenge")


def default_impl() -> str:
    """Whose modules ``challenge train`` uses when none is named: the reference ("solutions")
    in the instructor's kit, the student's own ("challenge") in the student bundle, which has
    no reference."""
    return "solutions" if importlib.util.find_spec("solutions") is not None else "challenge"


def load_module(impl: str, name: str) -> ModuleType:
    """Import student module ``name`` from ``impl`` ("solutions", "challenge" or a folder path)."""
    if name not in STUDENT_MODULES:
        raise ChallengeError(f"unknown student module {name!r}; expected one of "
                             f"{', '.join(STUDENT_MODULES)}")
    if impl in IMPLS:
        try:
            return importlib.import_module(f"{impl}.{name}")
        except ModuleNotFoundError as e:
            if e.name in (impl, f"{impl}.{name}"):
                hint = (" (the student bundle has no reference solutions; use --impl challenge)"
                        if impl == "solutions" else "")
                raise ChallengeError(f"implementation {impl!r} has no module {name!r}{hint}") from None
            raise
    folder = Path(impl)
    path = folder / f"{name}.py"
    if not path.is_file():
        raise ChallengeError(f"implementation {impl!r}: expected 'solutions', 'challenge' or a "
                             f"folder containing {name}.py; {path} does not exist")
    mod_name = f"_impl_{abs(hash(str(folder.resolve())))}_{name}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def import_error(e: BaseException) -> str:
    """``SyntaxError: invalid syntax at batching.py:122``: what went wrong and where, in the
    student's file rather than in the importer."""
    if isinstance(e, SyntaxError):
        return f"{type(e).__name__}: {e.msg} at {Path(e.filename or '?').name}:{e.lineno}"
    frames = traceback.extract_tb(e.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}{': ' + text if text else ''}{where}"


def unfinished(impl: str, err: NotImplementedError) -> ChallengeError:
    """A one-line error for a stub not written yet: the student module whose function raised
    ``err`` (the innermost one in its traceback) and the stub's hint."""
    where = "a student module"
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        stem = Path(frame.filename).stem
        if stem in STUDENT_MODULES:
            where = f"{stem}.py"
            break
    hint = str(err).strip().splitlines()[0] if str(err).strip() else "see its docstrings"
    reference = " or use --impl solutions" if default_impl() == "solutions" else ""
    return ChallengeError(f"{where} in {impl!r} is not finished: {hint}; complete it "
                          f"(`challenge check` lists what is missing){reference}")


def student_failure(impl: str, err: BaseException, doing: str) -> StudentCodeError | None:
    """A short report of ``err`` raised inside ``impl``'s student modules while ``doing``
    something: the error, the student's innermost frames (file, line, code) first, and the
    shapes of the tensors in the innermost one; None when no student frame is involved (then
    the error is the kit's, and keeps its traceback)."""
    tb = err.__traceback__
    mine = []
    while tb is not None:
        stem = Path(tb.tb_frame.f_code.co_filename).stem
        if stem in STUDENT_MODULES and _in_impl(impl, tb.tb_frame.f_code.co_filename):
            mine.append(tb)
        tb = tb.tb_next
    if not mine:
        return None
    text = str(err).strip().splitlines()[0][:300] if str(err).strip() else ""
    lines = [f"your code raised {type(err).__name__} while {doing}" + (f": {text}" if text else "")]
    for t in mine[-3:][::-1]:           # innermost first: where it happened, then its callers
        summary = traceback.extract_tb(t, limit=1)[0]
        lines.append(f"  {Path(summary.filename).name}:{summary.lineno} in {summary.name}: "
                     f"{(summary.line or '').strip()}")
    shapes = [f"{k} {tuple(v.shape)}" for k, v in mine[-1].tb_frame.f_locals.items()
              if hasattr(v, "shape") and hasattr(v, "dtype") and not k.startswith("_")]
    if shapes:
        lines.append("  tensors there: " + ", ".join(shapes[:8]))
    lines.append("  (the full traceback: run the same command with --traceback)")
    return StudentCodeError("\n".join(lines), err)


def _in_impl(impl: str, filename: str) -> bool:
    """Whether ``filename`` is one of ``impl``'s modules (not a same-named file elsewhere)."""
    spec = importlib.util.find_spec(impl) if impl in IMPLS else None
    folder = Path(spec.origin).parent if spec and spec.origin else Path(impl)
    return Path(filename).resolve().parent == folder.resolve()


def require(impl: str, name: str, *names: str) -> ModuleType:
    """Student module ``name`` of ``impl`` (:func:`load_module`), once it has every one of
    ``names`` ("Tokenizer.encode" looks inside a class); a ChallengeError listing what is missing
    otherwise, so that a renamed stub name is one line, not a traceback from the task using it."""
    try:
        module = load_module(impl, name)
    except ChallengeError:
        raise
    except Exception as e:       # the student's module-level code: a syntax error, a bad import
        raise ChallengeError(f"{name} in {impl!r} failed to import: {import_error(e)}; fix it "
                             f"(`challenge check {name}` runs its checks)") from None
    missing: dict[str, None] = {}                     # in order, each once
    for dotted in names:
        target, parts = module, dotted.split(".")
        for i, part in enumerate(parts):
            target = getattr(target, part, None)
            if target is None:                        # "Tokenizer", not each of its methods
                missing[".".join(parts[:i + 1])] = None
                break
    if missing:
        raise ChallengeError(f"{name} in {impl!r} has no {', '.join(missing)}; keep the names "
                             f"and signatures the stub gives (`challenge check` lists them)")
    return module


def build_model(impl: str, name: str, model_class: str, config_class: str, settings: dict,
                unfinished: Callable[[str, NotImplementedError], ChallengeError],
                uses: tuple[str, ...] = ()) -> Any:
    """A fresh ``model_class(config_class(**settings))`` from student module ``name`` of ``impl``
    (which must also have ``uses``, as in :func:`require`).

    A missing class, or a config class that refuses ``settings`` (a field renamed or removed,
    a value its checks reject), is a ChallengeError naming it; a stub's NotImplementedError
    becomes ``unfinished(impl, error)``. Anything else the model's constructor raises is a bug in
    the student's code and keeps its traceback.
    """
    module = require(impl, name, model_class, config_class, *uses)
    try:
        config = getattr(module, config_class)(**settings)
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
    except (TypeError, ValueError) as e:
        raise ChallengeError(f"{name} in {impl!r} rejected the model config {settings} ({e}); "
                             f"keep {config_class}'s fields as in the stub's docstring") from None
    try:
        return getattr(module, model_class)(config)
    except NotImplementedError as e:
        raise unfinished(impl, e) from None
