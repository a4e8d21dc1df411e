"""Public checks of the ``lstm_cell`` part: parameter names and initialisation, forward and
gradients equal to torch.nn.LSTMCell with copied weights (float64), the unrolled layer equal to
torch.nn.LSTM, and no torch LSTM used inside (by the operators it runs, see
:mod:`challenge.checks.torch_rnn`). A mismatch names a likely cause when the output
matches a known mistake (another gate order, a missing bias, ...).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from challenge.checks.base import Check, CheckFailure, declare, expect_close, expect_equal
from challenge.checks.outputs import FLOATS, INT, NAME, NONE, NUMBER, Map, OneOf, Seq, Tensor, Text
from challenge.checks.torch_rnn import Watch, watch_torch_rnn

PART = "lstm_cell"
I, H, B, T = 5, 4, 3, 6
NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
TOL = {"atol": 1e-7, "rtol": 1e-7}   # float64, as torch.testing.assert_close
RULE = ("; this part asks for the gate equations written out with matrix products, torch.sigmoid "
        "and torch.tanh - torch.nn.LSTM, torch.nn.LSTMCell and torch's lstm functions are not allowed")
EQUATIONS = ("compare with the equations in LSTMCell's docstring: gate order i, f, g, o, both "
             "biases, sigmoid for i, f, o and tanh for g, c' = f*c + i*g, h' = o*tanh(c')")


def make_inputs(seed: int) -> dict:
    g = torch.Generator().manual_seed(1000 + seed)

    def u(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale

    weights = {"weight_ih": u(4 * H, I, scale=0.8), "weight_hh": u(4 * H, H, scale=0.8),
               "bias_ih": u(4 * H, scale=0.5), "bias_hh": u(4 * H, scale=0.5)}
    return {"weights": weights, "x": u(B, I, scale=1.5), "h0": u(B, H), "c0": u(B, H, scale=2.0),
            "x1": u(I), "h1": u(H), "c1": u(H), "gh": u(B, H), "gc": u(B, H),
            "xs": u(B, T, I, scale=1.5)}


# --- run side: calls student code, returns plain data ------------------------------------

def _torch_lstm_problem(model: nn.Module, watch: Watch) -> str | None:
    inside = [f"uses a torch.nn.{type(m).__name__} " + (f"submodule {name!r}" if name else "base class")
              for name, m in model.named_modules() if isinstance(m, (nn.RNNBase, nn.RNNCellBase))]
    found = ", ".join(inside) if inside else watch.problem()
    return f"your {type(model).__name__} {found}" if found else None


def _load(model: nn.Module, weights: dict, prefix: str = "") -> str | None:
    params = dict(model.named_parameters())
    for name, w in weights.items():
        p = params.get(prefix + name)
        if p is None:
            return (f"{type(model).__name__} has no parameter {prefix + name!r} (it has "
                    f"{sorted(params)}); use torch.nn.LSTMCell's names {', '.join(NAMES)}")
        if tuple(p.shape) != tuple(w.shape):
            return f"parameter {prefix + name} has shape {tuple(p.shape)}, expected {tuple(w.shape)}"
    with torch.no_grad():
        for name, w in weights.items():
            params[prefix + name].copy_(w)
    return None


def _plain(x) -> torch.Tensor | str:
    return x.detach().clone() if isinstance(x, torch.Tensor) else f"a {type(x).__name__}"


def _pair(out, what: str) -> tuple | str:
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return tuple(out)
    return f"{what} must return a pair, got a {type(out).__name__}"


def _run_watched(module, data: dict, call, layer: bool = False) -> dict:
    """Build the float64 cell (or layer) with the check's weights, apply ``call`` under the watch."""
    with watch_torch_rnn() as watch:
        model = (module.LSTM(I, H, batch_first=True) if layer else module.LSTMCell(I, H)).double()
        problem = _load(model, data["weights"], "cell." if layer else "")
        result = {"problem": problem} if problem else call(model)
    found = _torch_lstm_problem(model, watch)
    return {"problem": found + RULE} if found else result


def _forward(cell, x, state) -> dict:
    out = _pair(cell(x, state), "LSTMCell.forward")
    return {"problem": out} if isinstance(out, str) else {"h": _plain(out[0]), "c": _plain(out[1])}


def run_parameters(module, data: dict) -> dict:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cell, plain = module.LSTMCell(I, H), module.LSTMCell(I, H, bias=False)
    params = dict(cell.named_parameters())
    return {"shapes": {n: list(p.shape) for n, p in params.items()},
            "range": {n: [p.min().item(), p.max().item()] for n, p in params.items()},
            "no_bias": sorted(n for n, _ in plain.named_parameters())}


def run_forward(module, data: dict) -> dict:
    return _run_watched(module, data, lambda cell: _forward(cell, data["x"], (data["h0"], data["c0"])))


def run_defaults(module, data: dict) -> dict:
    def call(cell):
        outs = {"given": _forward(cell, data["x"], (data["h0"], data["c0"])),
                "zero": _forward(cell, data["x"], None),
                "single": _forward(cell, data["x1"], (data["h1"], data["c1"]))}
        return {"problem": next((o["problem"] for o in outs.values() if "problem" in o), None), **outs}
    return _run_watched(module, data, call)


def run_gradients(module, data: dict) -> dict:
    def call(cell):
        x, h0, c0 = (data[k].clone().requires_grad_() for k in ("x", "h0", "c0"))
        out = _pair(cell(x, (h0, c0)), "LSTMCell.forward")
        if isinstance(out, str):
            return {"problem": out}
        ((out[0] * data["gh"]).sum() + (out[1] * data["gc"]).sum()).backward()
        grads = {"x": x.grad, "h": h0.grad, "c": c0.grad,
                 **{n: p.grad for n, p in cell.named_parameters()}}
        return {"h": _plain(out[0]), "c": _plain(out[1]),
                "grads": {k: "no gradient" if g is None else _plain(g) for k, g in grads.items()}}
    return _run_watched(module, data, call)


def run_unrolled(module, data: dict) -> dict:
    def call(lstm):
        result = {"step": _forward(lstm.cell, data["x"], (data["h0"], data["c0"]))}
        for key, state in (("zero", None), ("given", (data["h0"], data["c0"]))):
            out = _pair(lstm(data["xs"], state), "LSTM.forward")
            hc = out if isinstance(out, str) else _pair(out[1], "the state (h, c) of LSTM.forward")
            if isinstance(hc, str):
                return {"problem": hc}
            result[key] = {"out": _plain(out[0]), "h": _plain(hc[0]), "c": _plain(hc[1])}
        return result
    return _run_watched(module, data, call, layer=True)


def run_from_scratch(module, data: dict) -> dict:
    found = []
    for build, args in ((module.LSTMCell, (data["x"],)), (module.LSTM, (data["xs"],))):
        with watch_torch_rnn() as watch:
            model = build(I, H).double()
            model(*args)
        found.append(_torch_lstm_problem(model, watch))
    return {"problem": None, "found": [f for f in found if f]}


# --- verify side: grader process ---------------------------------------------------------

def _check_problem(output: dict) -> None:
    if output.get("problem"):
        raise CheckFailure(output["problem"])


def _torch_cell(data: dict) -> nn.LSTMCell:
    ref = nn.LSTMCell(I, H).double()
    with torch.no_grad():
        for name, w in data["weights"].items():
            getattr(ref, name).copy_(w)
    return ref


def _forward_ok(data: dict, out: dict) -> nn.LSTMCell:
    """The torch reference cell, once the student's one-step output is known to match it."""
    ref = _torch_cell(data)
    with torch.no_grad():
        h, c = ref(data["x"], (data["h0"], data["c0"]))
    if not (_close(out.get("h"), h) and _close(out.get("c"), c)):
        raise CheckFailure("not compared: LSTMCell(x, (h, c)) already differs from torch.nn.LSTMCell "
                           "(fix forward_matches_torch first)")
    return ref


def _tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, str):
        raise CheckFailure(f"{what}: expected a tensor, got {x}")
    return x


def _close(a, e) -> bool:
    return (isinstance(a, torch.Tensor) and a.shape == e.shape
            and torch.allclose(a.double(), e, atol=TOL["atol"], rtol=TOL["rtol"]))


def _variant(data: dict, order="ifgo", bias_ih=True, bias_hh=True, g_act=torch.tanh,
             tanh_c=True) -> tuple[torch.Tensor, torch.Tensor]:
    """The cell with one known mistake, to name the likely cause of a mismatch."""
    w, x, h, c = data["weights"], data["x"], data["h0"], data["c0"]
    z = x @ w["weight_ih"].T + h @ w["weight_hh"].T                 # (B, 4H)
    z = z + (w["bias_ih"] if bias_ih else 0) + (w["bias_hh"] if bias_hh else 0)
    gate = dict(zip(order, z.chunk(4, dim=1)))
    c2 = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * g_act(gate["g"])
    return torch.sigmoid(gate["o"]) * (torch.tanh(c2) if tanh_c else c2), c2


def _diagnose(data: dict, h, c) -> str:
    mistakes = [({"order": "".join(p)}, f"the four chunks of the pre-activations are read as "
                 f"{', '.join(p)} instead of i, f, g, o. torch.nn.LSTMCell stacks the gates by rows: "
                 f"0:H input gate i, H:2H forget gate f, 2H:3H cell candidate g, 3H:4H output gate o, "
                 f"and weights copied from torch only mean the same thing in that order")
                for p in itertools.permutations("ifgo") if "".join(p) != "ifgo"]
    mistakes += [({"bias_hh": False}, "bias_hh is not added: both bias_ih and bias_hh go into every gate"),
                 ({"bias_ih": False}, "bias_ih is not added: both bias_ih and bias_hh go into every gate"),
                 ({"bias_ih": False, "bias_hh": False}, "no bias is added: add bias_ih and bias_hh"),
                 ({"g_act": torch.sigmoid}, "the cell candidate g uses sigmoid; it uses tanh"),
                 ({"tanh_c": False}, "h' = o * c'; it should be h' = o * tanh(c')")]
    for kwargs, why in mistakes:
        vh, vc = _variant(data, **kwargs)
        if _close(h, vh) and _close(c, vc):
            return f"your output matches a cell where {why}"
    ref_h, ref_c = _variant(data)
    if _close(h, ref_c) and _close(c, ref_h):
        return "h' and c' are swapped: forward returns (h', c') in this order"
    return EQUATIONS


def _verify_cell_output(data: dict, h, c, ref_h, ref_c, what: str) -> None:
    h, c = _tensor(h, f"h' of {what}"), _tensor(c, f"c' of {what}")
    hint = "" if _close(h, ref_h) and _close(c, ref_c) else _diagnose(data, h, c)
    expect_close(h, ref_h, f"h' of {what}", hint=hint, **TOL)
    expect_close(c, ref_c, f"c' of {what}", hint=hint, **TOL)


def verify_parameters(data: dict, output: dict) -> None:
    shapes = {"weight_ih": [4 * H, I], "weight_hh": [4 * H, H], "bias_ih": [4 * H], "bias_hh": [4 * H]}
    expect_equal(sorted(output["shapes"]), sorted(NAMES), f"parameter names of LSTMCell({I}, {H})",
                 hint="register exactly torch.nn.LSTMCell's four nn.Parameters")
    for name, shape in shapes.items():
        expect_equal(output["shapes"][name], shape, f"shape of {name} in LSTMCell(input_size={I}, "
                     f"hidden_size={H})", hint="4 * hidden_size rows: the four gates stacked")
    expect_equal(output["no_bias"], ["weight_hh", "weight_ih"], "parameters of LSTMCell(bias=False)",
                 hint='register_parameter("bias_ih", None) and the same for bias_hh')
    k = 1 / H ** 0.5
    for name, (lo, hi) in output["range"].items():
        if lo < -k - 1e-6 or hi > k + 1e-6 or hi - lo < k:
            raise CheckFailure(f"initial values of {name} lie in [{lo:.3g}, {hi:.3g}]; expected "
                               f"uniform(-k, k) with k = 1/sqrt(hidden_size) = {k:g}, as torch "
                               f"(reset_parameters, biases included)")


def verify_forward(data: dict, output: dict) -> None:
    _check_problem(output)
    ref_h, ref_c = _torch_cell(data)(data["x"], (data["h0"], data["c0"]))
    _verify_cell_output(data, output["h"], output["c"], ref_h.detach(), ref_c.detach(),
                        "LSTMCell(x, (h, c))")


def verify_defaults(data: dict, output: dict) -> None:
    _check_problem(output)
    ref = _forward_ok(data, output["given"])
    zh, zc = (t.detach() for t in ref(data["x"]))
    sh, sc = (t.detach() for t in ref(data["x1"], (data["h1"], data["c1"])))
    hints = {"zero": "state=None means h = c = zeros of shape (B, H), with x's dtype and device",
             "single": "an unbatched x (I,) with h, c (H,) gives h', c' of shape (H,), as torch"}
    for key, what, ref_out in (("zero", "LSTMCell(x) with state=None", (zh, zc)),
                               ("single", "LSTMCell(x, (h, c)) for an unbatched x (I,)", (sh, sc))):
        for i, name in enumerate(("h'", "c'")):
            expect_close(_tensor(output[key][name[0]], f"{name} of {what}"), ref_out[i],
                         f"{name} of {what}", hint=hints[key], **TOL)


def verify_gradients(data: dict, output: dict) -> None:
    _check_problem(output)
    ref = _forward_ok(data, output)
    x, h0, c0 = (data[k].clone().requires_grad_() for k in ("x", "h0", "c0"))
    h, c = ref(x, (h0, c0))
    ((h * data["gh"]).sum() + (c * data["gc"]).sum()).backward()
    expected = {"x": x.grad, "h": h0.grad, "c": c0.grad,
                **{n: p.grad for n, p in ref.named_parameters()}}
    for name, grad in expected.items():
        kind = " (input)" if name == "x" else " (state)" if len(name) == 1 else ""
        what = f"gradient w.r.t. {name}{kind}"
        got = output["grads"].get(name, "nothing")
        if isinstance(got, str):
            raise CheckFailure(f"{what}: no gradient reached it; use it in forward through torch "
                               f"operations (no .data, .detach(), .item() or NumPy in between)")
        expect_close(got, grad, what, hint="gradients come from autograd through your forward: "
                     "avoid .data, .detach() and in-place changes of tensors autograd needs", **TOL)


def verify_unrolled(data: dict, output: dict) -> None:
    _check_problem(output)
    _forward_ok(data, output["step"])
    ref = nn.LSTM(I, H, batch_first=True).double()
    with torch.no_grad():
        for name, w in data["weights"].items():
            getattr(ref, name + "_l0").copy_(w)
    for key, state in (("zero", None), ("given", (data["h0"][None], data["c0"][None]))):
        with torch.no_grad():
            out, (h, c) = ref(data["xs"], state)             # (B, T, H), (1, B, H)
        got = output[key]
        what = "LSTM(x)" if state is None else "LSTM(x, (h0, c0))"
        o = _tensor(got["out"], f"outputs of {what}")
        hint = "outputs[:, t] is h after step t, stacked along dim 1 (batch_first)"
        if o.shape == out.shape and _close(o[:, :1], out[:, :1]) and not _close(o, out):
            hint = ("the first step matches but later ones do not: give each step the (h, c) "
                    "returned by the previous one")
        expect_close(o, out, f"outputs (B, T, H) of {what}", hint=hint, **TOL)
        for name, ref_state in (("h", h[0]), ("c", c[0])):
            expect_close(_tensor(got[name], f"{name}_T of {what}"), ref_state, f"{name}_T of {what}",
                         hint="the state after the LAST step, shape (B, H), no num_layers dimension",
                         **TOL)


def verify_from_scratch(data: dict, output: dict) -> None:
    _check_problem(output)
    if output["found"]:
        raise CheckFailure("; ".join(output["found"]) + RULE)


CHECKS: list[Check] = [
    Check(PART, "parameters", 1.0, make_inputs, run_parameters, verify_parameters,
          "parameter names, shapes and initialisation as torch.nn.LSTMCell"),
    Check(PART, "forward_matches_torch", 2.0, make_inputs, run_forward, verify_forward,
          "h', c' equal torch.nn.LSTMCell's with the same weights (float64)"),
    Check(PART, "default_state_and_unbatched", 1.0, make_inputs, run_defaults, verify_defaults,
          "state=None is zeros; an unbatched input (I,) works"),
    Check(PART, "gradients_match_torch", 2.0, make_inputs, run_gradients, verify_gradients,
          "gradients w.r.t. input, state and every parameter equal torch's"),
    Check(PART, "unrolled_matches_torch_lstm", 2.0, make_inputs, run_unrolled, verify_unrolled,
          "LSTM over a sequence equals torch.nn.LSTM(batch_first=True)"),
    Check(PART, "from_scratch", 1.0, make_inputs, run_from_scratch, verify_from_scratch,
          "no torch.nn.LSTM / LSTMCell or torch lstm function inside"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "parameters": (),
    "forward_matches_torch": ('weights', 'x', 'h0', 'c0'),
    "default_state_and_unbatched": ('weights', 'x', 'h0', 'c0', 'x1', 'h1', 'c1'),
    "gradients_match_torch": ('weights', 'x', 'h0', 'c0', 'gh', 'gc'),
    "unrolled_matches_torch_lstm": ('weights', 'x', 'h0', 'c0', 'xs'),
    "from_scratch": ('x', 'xs'),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------

def _t(*shape: int) -> OneOf:
    """A float tensor of ``shape``, or the run step's words for what came back instead."""
    return OneOf((Tensor(shape, FLOATS), NAME))


PROBLEM = OneOf((NONE, Text(4000)))
STEP = Map({"problem": PROBLEM, "h": _t(B, H), "c": _t(B, H)})
LAYER = Map({"out": _t(B, T, H), "h": _t(B, H), "c": _t(B, H)})
GRADS = Map({"x": _t(B, I), "h": _t(B, H), "c": _t(B, H), "weight_ih": _t(4 * H, I),
             "weight_hh": _t(4 * H, H), "bias_ih": _t(4 * H), "bias_hh": _t(4 * H)},
            others=OneOf((Tensor(None, FLOATS, 4096), NAME)), max_len=32)
EXPECTS = {
    "parameters": lambda data: Map({"shapes": Map(others=Seq(INT, 4), max_len=32),
                                    "range": Map(others=Seq(NUMBER, 2), max_len=32),
                                    "no_bias": Seq(NAME, 32)}),
    "forward_matches_torch": lambda data: STEP,
    "default_state_and_unbatched": lambda data: Map({
        "problem": PROBLEM, "given": STEP, "zero": STEP,
        "single": Map({"problem": PROBLEM, "h": _t(H), "c": _t(H)})}),
    "gradients_match_torch": lambda data: Map({"problem": PROBLEM, "h": _t(B, H), "c": _t(B, H),
                                               "grads": GRADS}),
    "unrolled_matches_torch_lstm": lambda data: Map({"problem": PROBLEM, "step": STEP,
                                                     "zero": LAYER, "given": LAYER}),
    "from_scratch": lambda data: Map({"problem": PROBLEM, "found": Seq(Text(4000), 2)}),
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
