"""From scratch means from scratch: every form a clever student uses to reach torch's kernels,
autograd, the grader's own code or a sort without the scan seeing it, each as a module's source
(:mod:`grader.scan`), and the source read exactly as Python reads it."""

from __future__ import annotations

import pytest
from support.grading import REPO

from challenge.impl import STUDENT_MODULES
from grader import scan

# --- the source as Python reads it --------------------------------------------------------

HIDDEN_BY_UTF7 = (b"# -*- coding: utf-7 -*-\nimport torch\n"
                  b"x = 1  # +AAo-_k = torch._VF.lstm_cell\n")


def test_a_utf7_cookie_hides_code_from_a_utf8_reader_and_is_refused():
    as_utf8 = HIDDEN_BY_UTF7.decode("utf-8")
    assert scan.recurrent_kernels(as_utf8) == []                # what the old reader saw
    assert "torch._VF.lstm_cell" in HIDDEN_BY_UTF7.decode("utf-7")  # what Python runs
    with pytest.raises(scan.Unreadable, match="declares the source encoding 'utf-7'"):
        scan.read_source(HIDDEN_BY_UTF7)


@pytest.mark.parametrize("cookie", [b"latin-1", b"cp1252", b"utf-16", b"rot13"])
def test_any_encoding_but_utf8_is_refused(cookie):
    with pytest.raises(scan.Unreadable, match="UTF-8"):
        scan.read_source(b"#!/usr/bin/env python\n# coding: " + cookie + b"\nx = 1\n")


def test_utf8_with_a_cookie_or_a_bom_reads_as_python_does_and_bad_bytes_are_refused():
    assert scan.read_source(b"# coding: utf-8\nx = '\xc3\xa9'\n").endswith("x = '\u00e9'\n")
    assert scan.read_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    with pytest.raises(scan.Unreadable, match="not valid UTF-8"):
        scan.read_source(b"x = '\xff'\n")


# --- torch's recurrent kernels under any name ---------------------------------------------

KERNEL_FORMS = {
    "module attribute chain": "_o = torch.ops\n_k = _o.aten.lstm_cell\n",
    "module alias": "t = torch\n_k = t.lstm_cell\n",
    "module in a container": "m = [torch]\n_k = m[0].nn.LSTMCell\n",
    "module passed to a function": "def f(m):\n    return m.lstm_cell\n_k = f(torch)\n",
    "module as a default": "def f(m=torch.nn):\n    return m.LSTMCell\n",
    "module returned": "def m():\n    return torch.nn\n_k = m().LSTMCell\n",
    "module on self": ("class A:\n    def __init__(self):\n        self.t = torch\n"
                       "    def f(self):\n        return self.t.nn.LSTMCell\n"),
    "torch._C": "_k = torch._C._VariableFunctions\n",
    "torch.ops table": "_a = torch.ops.aten\n",
    "builtins by subscript": "_e = __builtins__['ex' + 'ec']\n",
    "getattr under another name": "_g = getattr\n_k = _g(torch, 'lstm_' + 'cell')\n",
    "builtins.getattr": "import builtins\n_k = builtins.getattr(torch, 'lstm_cell')\n",
    "from torch import ops": "from torch import ops\n",
    "walrus": "if (t := torch):\n    _k = t.nn.LSTM\n",
}


@pytest.mark.parametrize("body", KERNEL_FORMS.values(), ids=KERNEL_FORMS.keys())
def test_recurrent_kernels_are_found_under_any_name(body):
    found = scan.recurrent_kernels("import torch\n" + body)
    assert found, body
    assert all(line.startswith("line ") for line in found)


# --- autograd in bptt ---------------------------------------------------------------------

AUTOGRAD_FORMS = {
    "loss.backward()": "def rnn_backward(c):\n    loss = torch.tensor(1.0)\n    loss.backward()\n",
    "autograd.grad by alias": "_g = torch.autograd\ndef rnn_backward(c):\n    return _g.grad(1, 2)\n",
    "from torch.autograd import grad": "from torch.autograd import grad as g\n",
    "torch.func": "def rnn_backward(c):\n    return torch.func.grad(len)(c)\n",
    "from torch.func": "from torch.func import vjp\n",
    "functorch": "import functorch\n",
    "requires_grad=True": "x = torch.zeros(3, requires_grad=True)\n",
    "requires_grad_()": "x = torch.zeros(3).requires_grad_()\n",
    "torch.autograd.functional": "j = torch.autograd.functional.jacobian\n",
    "getattr with a computed name": "b = getattr(torch.zeros(1), 'back' + 'ward')\n",
}


@pytest.mark.parametrize("body", AUTOGRAD_FORMS.values(), ids=AUTOGRAD_FORMS.keys())
def test_autograd_is_found_under_any_name(body):
    assert scan.autograd_calls("import torch\n" + body), body


# --- the grader's own code ----------------------------------------------------------------

GRADER_FORMS = {
    "import": "import grader.child.tasks as t\n",
    "from import": "from grader.child import tasks\n",
    "sys.modules": "import sys\nsys.modules['grader.child.tasks'].KINDS.clear()\n",
    "__import__": "m = __import__('grader.child')\n",
    "importlib": "import importlib\nm = importlib.import_module('grader')\n",
}


@pytest.mark.parametrize("body", GRADER_FORMS.values(), ids=GRADER_FORMS.keys())
def test_importing_the_grader_is_refused(body):
    assert scan.refused(body), body


def test_a_module_importing_the_grader_or_in_utf7_is_refused_by_name(tmp_path):
    (tmp_path / "tokenizer.py").write_text("from grader.child import tasks\n")
    (tmp_path / "lstm_cell.py").write_bytes(HIDDEN_BY_UTF7)
    (tmp_path / "batching.py").write_text("import torch\n")
    sources, refusals = scan.read_modules(tmp_path, STUDENT_MODULES)
    assert set(sources) == {"tokenizer", "batching"} and set(refusals) == {"tokenizer",
                                                                          "lstm_cell"}
    assert refusals["tokenizer"].startswith("your tokenizer.py imports the grader (line 1: from "
                                            "grader.child import tasks)")
    assert refusals["lstm_cell"].startswith("your lstm_cell.py is refused: it declares the "
                                            "source encoding 'utf-7'")


# --- sorting in generate ------------------------------------------------------------------

SORT_FORMS = {
    "topk": "    return torch.topk(src, 3, largest=False)\n",
    "kthvalue": "    return src.kthvalue(1)\n",
    "msort": "    return torch.msort(src)\n",
    "sorted": "    return sorted(src)\n",
    "alias": "    return _pick(src, 1)\n",
    "heapq": "    return heapq.nsmallest(3, src)\n",
    "bisect": "    return bisect.insort([], 1)\n",
    "by name": "    return getattr(torch, 'argsort')(src)\n",
    "passed as a key": "    return max(src, key=torch.sort)\n",
}


@pytest.mark.parametrize("body", SORT_FORMS.values(), ids=SORT_FORMS.keys())
def test_sorting_calls_in_generate_are_found_under_any_name(body):
    source = ("import torch\nimport heapq\nimport bisect\n_pick = torch.topk\n\n"
              "def generate(src):\n" + body)
    assert any("in generate" in line for line in scan.sorting_calls(source)), body


def test_importing_heapq_or_bisect_anywhere_is_reported():
    assert scan.sorting_calls("from heapq import nsmallest\n") == [
        "line 1: from heapq import nsmallest"]


# --- honest code stays clean --------------------------------------------------------------

@pytest.mark.parametrize("folder", ["solutions", "challenge"])
def test_the_reference_and_the_stubs_break_no_rule(folder):
    sources, refusals = scan.read_modules(REPO / folder, STUDENT_MODULES)
    assert refusals == {} and set(sources) == set(STUDENT_MODULES)
    assert scan.recurrent_kernels(sources["lstm_cell"]) == []
    assert scan.autograd_calls(sources["bptt"]) == []
    assert scan.sorting_calls(sources["sorter_model"]) == []
