"""Reading a submission's source in the grader's process, where its code never ran: evidence that
confirms (or contradicts) what the sandboxed child reported.

- :func:`read_source`: the text exactly as Python will read it (PEP 263: a coding line other
  than UTF-8 is refused, so a ``# -*- coding: utf-7 -*-`` cannot show the scan other code than
  the interpreter runs).
- :func:`refused`: what no student module may do at all: import the grader (``grader.*``, the
  child's own code included), by statement or by name.
- :func:`recurrent_kernels`: uses of torch's recurrent layers and kernels (``torch.nn.LSTM``,
  ``torch.lstm_cell``, ``torch._VF``, ``torch.ops.aten.lstm``...) or of dynamic code that would
  hide them (``eval``, ``exec``, ``getattr`` with a computed name or under another name,
  ``__import__``, ``__builtins__[...]``, ``importlib``), following aliases: names assigned from
  torch, modules passed to functions or kept in containers, attributes set from torch. The
  in-process operator watch of the ``lstm_cell`` checks is a hint; this makes its verdict count.
- :func:`autograd_calls`: the same for autograd in ``bptt.py`` (``.backward()``,
  ``torch.autograd.grad``, ``torch.func``, ``requires_grad``): the gradients must be written out.
- :func:`sorting_calls`: calls that sort or select by order (``sorted``, ``sort``, ``argsort``,
  ``msort``, ``topk``, ``kthvalue``, ``heapq``, ``bisect``) in the sorter's ``generate`` and the
  functions it calls: grounds for a review, not a zero.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

RECURRENT = frozenset({
    "LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell", "RNNBase", "RNNCellBase", "lstm",
    "lstm_cell", "gru", "gru_cell", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell",
    "_VF", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "mkldnn_rnn_layer",
    "quantized_lstm_cell", "quantized_gru_cell", "_cudnn_rnn", "miopen_rnn", "_lstm_mps", "rnn",
    "quantized_lstm", "quantized_gru"})
#: torch's operator tables: every kernel by name, beyond what the scan can follow
OPERATOR_TABLES = frozenset({"ops", "_C", "_VF", "_ops", "_refs", "_prims", "_decomp", "library"})
PRIVATE_TABLES = frozenset({"_C", "_VF", "_ops"})       # flagged whatever they hang on
DYNAMIC_CALLS = frozenset({"eval", "exec", "compile", "__import__", "getattr", "vars", "globals",
                           "locals", "setattr", "delattr"})
DYNAMIC_ATTRS = frozenset({"__getattr__", "__getattribute__", "__dict__", "__builtins__",
                           "__import__", "__globals__", "__code__", "__subclasses__", "import_module",
                           "modules"})
DYNAMIC_NAMES = frozenset({"__builtins__", "__import__", "__loader__", "__spec__"})
OUTSIDE = ("torch", "solutions", "challenge", "importlib", "builtins", "sys", "ctypes",
           "functorch", "grader", "numpy", "operator", "functools", "types", "inspect")
#: autograd under any name: a bptt written with it computes no gradient itself
AUTOGRAD_ANYWHERE = frozenset({"backward", "grad", "requires_grad", "requires_grad_", "grad_fn",
                               "autograd", "functorch", "_functorch", "vjp", "jvp", "jacrev",
                               "jacfwd", "hessian", "enable_grad", "set_grad_enabled"})
AUTOGRAD_FROM_TORCH = frozenset({"func", "vmap"})
AUTOGRAD_MODULES = frozenset({"autograd", "func", "functorch", "_functorch", "jax"})
SORTS = frozenset({"sorted", "sort", "argsort", "msort", "topk", "kthvalue", "sort_values",
                   "nsmallest", "nlargest", "heappush", "heappop", "heapify", "heappushpop",
                   "heapreplace", "bisect", "bisect_left", "bisect_right", "insort",
                   "insort_left", "insort_right"})
SORT_MODULES = frozenset({"heapq", "bisect"})
_GRADER = re.compile(r"grader(\.[A-Za-z_][\w.]*)?")


class Unreadable(ValueError):
    """The source is not what Python would read as UTF-8; the message says why and the fix."""


def read_source(raw: bytes) -> str:
    """``raw`` decoded exactly as Python decodes a module (PEP 263 coding line, UTF-8 BOM), or
    :class:`Unreadable` for any encoding but UTF-8, or bytes that are not UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    except SyntaxError as e:
        raise Unreadable(f"it is not valid UTF-8 ({e.msg}); save it as UTF-8 without a "
                         f"coding line") from None
    if encoding not in ("utf-8", "utf-8-sig"):
        raise Unreadable(f"it declares the source encoding {encoding!r}; the grader reads "
                         f"modules as UTF-8 only: save it as UTF-8 and remove the coding line")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise Unreadable(f"it is not valid UTF-8 (byte {e.start}); save it as UTF-8") from None


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def _chain(node: ast.AST) -> list[str]:
    """The attribute names along ``node``'s chain (``self.t.nn.LSTM`` -> [t, nn, LSTM])."""
    out = []
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        if isinstance(node, ast.Attribute):
            out.append(node.attr)
        node = node.value if not isinstance(node, ast.Call) else node.func
    return out[::-1]


def _stored(target: ast.AST) -> tuple[set[str], set[str]]:
    """Names and attribute names a binding target writes (a container's name for ``d[k] = v``)."""
    names, attrs = set(), set()
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attrs.add(node.attr)
    return names, attrs


def _bindings(node: ast.AST, functions: dict[str, list]) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs bound by ``node``: assignments, loops, ``with``, walrus, defaults,
    a function's name to what it returns, and a local function's parameters to its arguments."""
    if isinstance(node, ast.Assign):
        return [(t, node.value) for t in node.targets]
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)) and node.value is not None:
        return [(node.target, node.value)]
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [(node.target, node.iter)]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [(i.optional_vars, i.context_expr) for i in node.items if i.optional_vars]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        a = node.args
        params = [*a.posonlyargs, *a.args]
        pairs = [(ast.Name(p.arg), d) for p, d in zip(params[len(params) - len(a.defaults):],
                                                      a.defaults)]
        pairs += [(ast.Name(p.arg), d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d]
        if isinstance(node, ast.Lambda):
            return pairs
        return pairs + [(ast.Name(node.name), r.value) for r in ast.walk(node)
                        if isinstance(r, (ast.Return, ast.Yield)) and r.value is not None]
    if isinstance(node, ast.Call):
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
            node.func.id if isinstance(node.func, ast.Name) else None
        given = [*node.args, *(k.value for k in node.keywords)]
        return [(ast.Name(p.arg), value) for fn in functions.get(callee, [])
                for p in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs,
                          *filter(None, (fn.args.vararg, fn.args.kwarg))]
                for value in given]
    return []


def _outside(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names, and the attribute names, that may hold something from outside the student's
    file (torch, sys, builtins...): bound by import, then by any binding from such a name,
    until nothing changes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names
                      if a.name.split(".")[0] in OUTSIDE}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OUTSIDE:
            names |= {a.asname or a.name for a in node.names}
    functions: dict[str, list] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
    pairs = [p for node in ast.walk(tree) for p in _bindings(node, functions)]
    attrs: set[str] = set()
    changed = True
    while changed:
        changed = False
        for target, value in pairs:
            if _touches(value, names, attrs):
                more_names, more_attrs = _stored(target)
                if not (more_names <= names and more_attrs <= attrs):
                    names, attrs, changed = names | more_names, attrs | more_attrs, True
    return names, attrs


def _touches(value: ast.AST, names: set[str], attrs: set[str]) -> bool:
    return any((isinstance(n, ast.Name) and n.id in names) or
               (isinstance(n, ast.Attribute) and n.attr in attrs) for n in ast.walk(value))


def _from_outside(node: ast.AST, names: set[str], attrs: set[str]) -> bool:
    return _root(node) in names or bool(attrs & set(_chain(node)[:-1]))


def _import_findings(tree: ast.Module, forbidden: frozenset, modules: frozenset) -> list[str]:
    """Imports that bring in a ``forbidden`` name or a module of ``modules``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if (forbidden | modules) & set(parts) or parts[0] in modules:
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            for alias in node.names:
                if alias.name in forbidden or (forbidden | modules) & set(parts) \
                        or parts[0] in modules:
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return found


def _dynamic_findings(tree: ast.Module, names: set[str], attrs: set[str],
                      readable: frozenset) -> list[str]:
    """Code the grader cannot read: dynamic attributes and builtins, ``getattr`` (or ``eval``...)
    under another name or with a computed name, builtins reached by subscript."""
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRS:
            found.append(f"line {node.lineno}: .{node.attr} (code the grader cannot read)")
        elif isinstance(node, ast.Name) and node.id in DYNAMIC_NAMES:
            found.append(f"line {node.lineno}: {node.id} (code the grader cannot read)")
        elif isinstance(node, ast.Name) and node.id in DYNAMIC_CALLS and id(node) not in called:
            found.append(f"line {node.lineno}: {node.id} under another name (code the grader "
                         f"cannot read)")
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC_CALLS \
                and _from_outside(node, names, attrs):
            found.append(f"line {node.lineno}: {ast.unparse(node)} (code the grader cannot read)")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in DYNAMIC_CALLS:
            name = node.args[1] if node.func.id in ("getattr", "setattr") and len(node.args) > 1 \
                else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) \
                    and name.value not in readable and not name.value.startswith("__"):
                continue                               # getattr(obj, "weight"): readable
            found.append(f"line {node.lineno}: {node.func.id}(...) (code the grader cannot "
                         f"read)")
    return found


def _sorted_findings(found: list[str]) -> list[str]:
    return sorted(set(found), key=lambda s: (int(s.split()[1].rstrip(":")), s))


def recurrent_kernels(source: str) -> list[str]:
    """Where ``source`` reaches torch's recurrent kernels, or code the grader cannot read (one
    line each, ``line 12: torch.nn.LSTMCell``); [] when it does neither."""
    tree = _parse(source)
    if tree is None:
        return ["the module cannot be parsed"]
    names, attrs = _outside(tree)
    found = _import_findings(tree, RECURRENT | OPERATOR_TABLES,
                             frozenset({"solutions", "importlib", "ctypes", "grader"}))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
                node.attr in PRIVATE_TABLES or ((node.attr in RECURRENT or node.attr in
                                                 OPERATOR_TABLES)
                                                and _from_outside(node, names, attrs))):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    found += _dynamic_findings(tree, names, attrs, RECURRENT | OPERATOR_TABLES)
    return _sorted_findings(found)


def autograd_calls(source: str) -> list[str]:
    """Where ``source`` (``bptt.py``) uses autograd under any name (``loss.backward()``,
    ``torch.autograd.grad``, ``torch.func``, ``requires_grad=True``), torch's recurrent kernels,
    or code the grader cannot read; [] when it does none of these."""
    tree = _parse(source)
    if tree is None:
        return ["the module cannot be parsed"]
    names, attrs = _outside(tree)
    found = _import_findings(tree, AUTOGRAD_ANYWHERE | RECURRENT | OPERATOR_TABLES,
                             AUTOGRAD_MODULES | {"solutions", "importlib", "ctypes", "grader"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (
                node.attr in AUTOGRAD_ANYWHERE or node.attr in PRIVATE_TABLES or (
                    node.attr in AUTOGRAD_FROM_TORCH | RECURRENT | OPERATOR_TABLES
                    and _from_outside(node, names, attrs))):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.keyword) and node.arg in AUTOGRAD_ANYWHERE and not (
                isinstance(node.value, ast.Constant) and node.value.value is False):
            found.append(f"line {node.value.lineno}: {node.arg}=...")
    found += _dynamic_findings(tree, names, attrs,
                               AUTOGRAD_ANYWHERE | AUTOGRAD_FROM_TORCH | OPERATOR_TABLES)
    return _sorted_findings(found)


def refused(source: str) -> list[str]:
    """What no student module may do: import the grader's own code (``import grader...``,
    ``from grader.child import ...``, or the name ``"grader..."`` given to ``__import__``,
    ``importlib`` or ``sys.modules``); one line each, [] when it does not."""
    tree = _parse(source)
    if tree is None:
        return []                   # a syntax error: the module fails to import in the child
    found = _import_findings(tree, frozenset(), frozenset({"grader"}))
    found += [f"line {node.lineno}: the name {node.value!r}" for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _GRADER.fullmatch(node.value.strip())]
    return _sorted_findings(found)


def sorting_calls(source: str, entry: str = "generate") -> list[str]:
    """Calls that sort or select by order, in function ``entry`` and every function of the
    module it calls by name (``self.helper(...)``, ``helper(...)``), under any name bound to
    one (``_pick = torch.topk``): ``line 88 in generate: sorted(...)``; imports of ``heapq`` and
    ``bisect`` anywhere."""
    tree = _parse(source)
    if tree is None:
        return []
    functions: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
    seen, todo = set(), [entry]
    found = _import_findings(tree, SORTS, SORT_MODULES)
    aliases = set()
    for node in ast.walk(tree):          # Sorter.generate = _mine (or a lambda) replaces it
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == entry for t in node.targets):
            if isinstance(node.value, ast.Name):
                todo.append(node.value.id)
            else:
                functions.setdefault(f"<{entry} at line {node.lineno}>", []).append(node.value)
                todo.append(f"<{entry} at line {node.lineno}>")
        if isinstance(node, ast.Assign) and _names_sort(node.value):
            aliases |= _stored(ast.Tuple(node.targets))[0] | _stored(ast.Tuple(node.targets))[1]
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for fn in functions[name]:
            found += _sorts_in(fn, name, aliases, todo)
    return _sorted_findings(found)


def _names_sort(node: ast.AST) -> bool:
    return any((isinstance(n, ast.Attribute) and n.attr in SORTS) or
               (isinstance(n, ast.Name) and n.id in SORTS) or
               (isinstance(n, ast.Constant) and n.value in SORTS) for n in ast.walk(node))


def _sorts_in(fn: ast.AST, name: str, aliases: set[str], todo: list[str]) -> list[str]:
    """The sorting calls and references in ``fn``; the names it calls go on ``todo``."""
    found = []
    called = {id(n.func) for n in ast.walk(fn) if isinstance(n, ast.Call)}
    for node in ast.walk(fn):
        if id(node) in called:
            continue                                   # its call is reported
        if isinstance(node, ast.Call):
            callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
                node.func.id if isinstance(node.func, ast.Name) else None
            if callee in SORTS or callee in aliases:
                found.append(f"line {node.lineno} in {name}: {ast.unparse(node.func)}(...)")
            elif callee:
                todo.append(callee)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value in SORTS:
            found.append(f"line {node.lineno} in {name}: the name {node.value!r}")
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load) \
                and (node.attr if isinstance(node, ast.Attribute) else node.id) in SORTS:
            found.append(f"line {node.lineno} in {name}: {ast.unparse(node)}")
    return found


def read_modules(folder: Path, names) -> tuple[dict[str, str], dict[str, str]]:
    """The text of each module ``folder/<name>.py`` that exists, as Python reads it, and the
    modules the grader refuses, with why: one it cannot read as Python would
    (:func:`read_source`) or one that imports the grader (:func:`refused`)."""
    sources: dict[str, str] = {}
    refusals: dict[str, str] = {}
    for name in names:
        try:
            raw = (folder / f"{name}.py").read_bytes()
        except OSError:
            continue
        try:
            sources[name] = read_source(raw)
        except Unreadable as e:
            refusals[name] = f"your {name}.py is refused: {e}"
            continue
        lines = refused(sources[name])
        if lines:
            refusals[name] = (f"your {name}.py imports the grader ({'; '.join(lines[:3])}): "
                              f"student modules may use the kit (challenge.*), torch and the "
                              f"standard library, never grader.*; remove it")
    return sources, refusals
