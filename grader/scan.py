"""Reading a submission's source in the grader's process, where its code never ran: evidence that
confirms (or contradicts) what the sandboxed child reported.

- :func:`recurrent_kernels`: uses of torch's recurrent layers and kernels (``torch.nn.LSTM``,
  ``torch.lstm_cell``, ``torch._VF``, ``torch.ops.aten.lstm``...) or of dynamic code that would
  hide them (``eval``, ``exec``, ``getattr`` with a computed name, ``__import__``,
  ``importlib``). The in-process operator watch of the ``lstm_cell`` checks is a hint; this is
  what makes its verdict count.
- :func:`sorting_calls`: calls of ``sorted``, ``.sort``, ``argsort`` or ``torch.sort`` in the
  sorter's ``generate`` and the functions it calls: grounds for a review, not a zero.
"""

from __future__ import annotations

import ast

RECURRENT = frozenset({
    "LSTM", "LSTMCell", "GRU", "GRUCell", "RNN", "RNNCell", "RNNBase", "RNNCellBase", "lstm",
    "lstm_cell", "gru", "gru_cell", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell",
    "_VF", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell", "mkldnn_rnn_layer",
    "quantized_lstm_cell", "quantized_gru_cell", "_cudnn_rnn", "miopen_rnn", "_lstm_mps", "rnn",
    "quantized_lstm", "quantized_gru"})
DYNAMIC_CALLS = frozenset({"eval", "exec", "compile", "__import__", "getattr", "vars", "globals",
                           "locals", "setattr", "delattr"})
DYNAMIC_ATTRS = frozenset({"__getattr__", "__getattribute__", "__dict__", "__builtins__",
                           "__import__", "__globals__", "__code__", "__subclasses__", "import_module",
                           "modules"})
OUTSIDE = ("torch", "solutions", "challenge", "importlib", "builtins", "sys", "ctypes")
SORTS = frozenset({"sorted", "sort", "argsort", "msort"})


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def recurrent_kernels(source: str) -> list[str]:
    """Where ``source`` reaches torch's recurrent kernels, or code the grader cannot read (one
    line each, ``line 12: torch.nn.LSTMCell``); [] when it does neither."""
    tree = _parse(source)
    if tree is None:
        return ["the module cannot be parsed"]
    found: list[str] = []
    modules: set[str] = set()          # names bound to modules from outside the student's file
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in OUTSIDE:
                    modules.add(alias.asname or parts[0])
                if parts[0] in OUTSIDE and (RECURRENT & set(parts) or parts[0] in
                                            ("solutions", "importlib", "ctypes")):
                    found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".")
            if parts[0] in OUTSIDE:
                for alias in node.names:
                    modules.add(alias.asname or alias.name)
                    if alias.name in RECURRENT or RECURRENT & set(parts) or \
                            parts[0] in ("solutions", "importlib", "ctypes"):
                        found.append(f"line {node.lineno}: from {node.module} import "
                                     f"{alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if node.attr in DYNAMIC_ATTRS:
                found.append(f"line {node.lineno}: .{node.attr} (code the grader cannot read)")
            elif node.attr in RECURRENT and _root(node) in modules:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in DYNAMIC_CALLS:
            name = node.args[1] if node.func.id in ("getattr", "setattr") and len(node.args) > 1 \
                else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) \
                    and name.value not in RECURRENT and not name.value.startswith("__"):
                continue                               # getattr(obj, "weight"): readable
            found.append(f"line {node.lineno}: {node.func.id}(...) (code the grader cannot "
                         f"read)")
    return sorted(set(found), key=lambda s: int(s.split()[1].rstrip(":")))


def sorting_calls(source: str, entry: str = "generate") -> list[str]:
    """Calls that sort, in function ``entry`` and every function of the module it calls by name
    (``self.helper(...)``, ``helper(...)``): ``line 88 in generate: sorted(...)``."""
    tree = _parse(source)
    if tree is None:
        return []
    functions: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.setdefault(node.name, []).append(node)
    seen, todo, found = set(), [entry], []
    for node in ast.walk(tree):          # Sorter.generate = _mine (or a lambda) replaces it
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == entry for t in node.targets):
            if isinstance(node.value, ast.Name):
                todo.append(node.value.id)
            else:
                functions.setdefault(f"<{entry} at line {node.lineno}>", []).append(node.value)
                todo.append(f"<{entry} at line {node.lineno}>")
    while todo:
        name = todo.pop()
        if name in seen or name not in functions:
            continue
        seen.add(name)
        for fn in functions[name]:
            for node in ast.walk(fn):
                if not isinstance(node, ast.Call):
                    continue
                callee = node.func.attr if isinstance(node.func, ast.Attribute) else \
                    node.func.id if isinstance(node.func, ast.Name) else None
                if callee in SORTS:
                    found.append(f"line {node.lineno} in {name}: {ast.unparse(node.func)}(...)")
                elif callee:
                    todo.append(callee)
    return sorted(set(found), key=lambda s: int(s.split()[1]))
