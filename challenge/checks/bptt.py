"""Public checks of the ``bptt`` part: the vanilla RNN's loss and each gradient (dU, dW, dV, db,
dc) against PyTorch autograd on the same weights, global-norm clipping, and a tiny training run.
A wrong gradient is compared with the usual mistakes (no sum over time, tanh's derivative, the
gradient from step t+1 dropped, ...) and the message names the one it matches.
"""

from __future__ import annotations

import numpy as np
import torch

from challenge.checks.base import Check, CheckFailure, declare, expect_close, expect_equal
from challenge.checks.outputs import BOOL, INT, NAME, NUMBER, Map, OneOf, Seq, Tensor

PART = "bptt"
I, H, O, T = 6, 5, 4, 8
SHAPES = {"U": (H, I), "W": (H, H), "V": (O, H), "b": (H,), "c": (O,)}
TOL = {"atol": 1e-8, "rtol": 1e-6}
MAX_NORM = 5.0
LR = 0.1                  # the training check's SGD step
PATTERN = [0, 1, 2, 3, 4, 5] * 3
FORMULA = {
    "dV": "dV = sum_t do_t h_t^T with do_t = y_hat_t - y_t (y_t one-hot)",
    "dc": "dc = sum_t (y_hat_t - y_t)",
    "dW": "dW = sum_t da_t h_{t-1}^T with da_t = (1 - h_t^2) * (V^T do_t + W^T da_{t+1})",
    "dU": "dU = sum_t da_t x_t^T: add da_t to column xs[t]",
    "db": "db = sum_t da_t with da_t = (1 - h_t^2) * (V^T do_t + W^T da_{t+1})",
}
MISTAKES = [  # (variant options, what the student's gradient then matches)
    ({"sign": -1.0}, "the sign is flipped: do_t = y_hat_t - y_t, the gradient of the loss"),
    ({"keep": "first"}, "the first time step alone: the loop overwrites the gradient (=) instead of "
                        "adding to it (+=); the weights are shared by every step, so sum over t"),
    ({"keep": "last"}, "the last time step alone: sum the contributions of all T steps"),
    ({"carry": False}, "a backward pass that drops the gradient from step t+1: "
                       "dh_t = V^T do_t + W^T da_{t+1}"),
    ({"deriv": "a"}, "tanh's derivative taken as 1 - a_t^2; it is 1 - tanh(a_t)^2 = 1 - h_t^2"),
    ({"deriv": "none"}, "no tanh derivative: da_t = (1 - h_t^2) * dh_t"),
    ({"h_prev": False}, "dW built from h_t; the product is W h_{t-1}, so dW gets da_t h_{t-1}^T "
                        "(h0 at the first step)"),
    ({"overwrite_u": True}, "a repeated token's column overwritten: add into dU[:, xs[t]] (+=)"),
]


def make_inputs(seed: int) -> dict:
    g = torch.Generator().manual_seed(2000 + seed)

    def n(*shape: int, scale: float) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * scale

    params = {"U": n(H, I, scale=0.8), "W": n(H, H, scale=0.6), "V": n(O, H, scale=0.8),
              "b": n(H, scale=0.3), "c": n(O, scale=0.3)}
    xs = torch.randint(0, I, (T,), generator=g)
    xs[5] = xs[1]                                  # a repeated token, for dU's accumulation
    big = {"d" + k: n(*s, scale=3.0) for k, s in SHAPES.items()}
    total = torch.sqrt(sum((v ** 2).sum() for v in big.values()))
    return {"params": params, "xs": xs, "ys": torch.randint(0, O, (T,), generator=g),
            "h0": n(H, scale=0.5), "big": big,
            "small": {k: v * (2.0 / total) for k, v in big.items()}}


# --- run side ----------------------------------------------------------------------------

def _numpy(d: dict) -> dict:
    return {k: v.numpy().copy() for k, v in d.items()}


def _tensor_or_name(v) -> torch.Tensor | str:
    if isinstance(v, (np.ndarray, np.floating, float, int, list)):
        return torch.from_numpy(np.array(v, dtype=np.float64))
    return f"a {type(v).__name__}"


def run_gradients(module, data: dict) -> dict:
    loss, cache = module.rnn_forward(data["xs"].tolist(), data["ys"].tolist(),
                                     _numpy(data["params"]), data["h0"].numpy().copy())
    grads = module.rnn_backward(cache)
    if not isinstance(grads, dict):
        return {"loss": _tensor_or_name(loss), "grads": f"a {type(grads).__name__}"}
    return {"loss": _tensor_or_name(loss), "grads": {k: _tensor_or_name(v) for k, v in grads.items()}}


def run_forward(module, data: dict) -> dict:
    loss, _ = module.rnn_forward(data["xs"].tolist(), data["ys"].tolist(),
                                 _numpy(data["params"]), data["h0"].numpy().copy())
    return {"loss": _tensor_or_name(loss)}


def run_clip(module, data: dict) -> dict:
    big, small = _numpy(data["big"]), _numpy(data["small"])
    out = {"big": module.clip_gradients(big, MAX_NORM), "small": module.clip_gradients(small, MAX_NORM)}
    out = {k: {n: _tensor_or_name(a) for n, a in v.items()} if isinstance(v, dict)
           else f"a {type(v).__name__}" for k, v in out.items()}
    return {**out, "input_after": {n: torch.from_numpy(a) for n, a in big.items()}}


def run_training(module, data: dict) -> dict:
    """Next-token prediction on a repeating pattern: 60 steps of forward, backward, clip, SGD."""
    pattern = PATTERN
    params = module.init_params(6, 16, 6, seed=0)
    again = module.init_params(6, 16, 6, seed=0)
    shapes = {k: list(np.shape(v)) for k, v in params.items()}
    same = all(np.array_equal(params[k], again[k]) for k in params)
    losses, first = [], {}
    for step in range(60):
        loss, cache = module.rnn_forward(pattern[:-1], pattern[1:], params, None)
        raw = module.rnn_backward(cache)
        grads = module.clip_gradients(raw, MAX_NORM)
        if step == 0:   # to tell which function holds training back when the loss stays up
            first = {"params": _arrays(params), "raw": _arrays(raw), "clipped": _arrays(grads)}
        params = module.sgd_step(params, grads, LR)
        if step == 0:
            first["after"] = _arrays(params)
        losses.append(float(loss))
    return {"shapes": shapes, "same_seed_same_params": same, "losses": losses, "first": first}


def _arrays(d) -> dict:
    return ({k: _tensor_or_name(v) for k, v in d.items()} if isinstance(d, dict)
            else f"a {type(d).__name__}")


# --- verify side -------------------------------------------------------------------------

def _autograd(data: dict, classes: int = I) -> tuple[torch.Tensor, dict]:
    p = {k: v.clone().double().requires_grad_() for k, v in data["params"].items()}
    h, loss = data["h0"], torch.zeros((), dtype=torch.float64)
    for x, y in zip(data["xs"].tolist(), data["ys"].tolist()):
        x1 = torch.nn.functional.one_hot(torch.tensor(x), classes).double()
        h = torch.tanh(p["W"] @ h + p["U"] @ x1 + p["b"])
        loss = loss - torch.log_softmax(p["V"] @ h + p["c"], dim=0)[y]
    loss.backward()
    return loss.detach(), {"d" + k: v.grad for k, v in p.items()}


def _variant(data: dict, keep="all", carry=True, deriv="h", h_prev=True, overwrite_u=False,
             sign=1.0) -> dict:
    """BPTT with one known mistake, to name the likely cause of a wrong gradient."""
    U, W, V, b, c = (data["params"][k].numpy() for k in "UWVbc")
    xs, ys = data["xs"].tolist(), data["ys"].tolist()
    hs, As, ps = [data["h0"].numpy()], [], []
    for x in xs:
        As.append(W @ hs[-1] + U[:, x] + b)
        hs.append(np.tanh(As[-1]))
        e = np.exp(V @ hs[-1] + c)
        ps.append(e / e.sum())
    parts, da_next = [], np.zeros(H)
    for t in reversed(range(T)):
        do = sign * (ps[t] - np.eye(O)[ys[t]])
        dh = V.T @ do + (W.T @ da_next if carry else 0)
        da = {"h": 1 - hs[t + 1] ** 2, "a": 1 - As[t] ** 2, "none": 1.0}[deriv] * dh
        dU = np.zeros_like(U)
        dU[:, xs[t]] = da
        parts.append({"dV": np.outer(do, hs[t + 1]), "dc": do, "db": da, "dU": dU,
                      "dW": np.outer(da, hs[t] if h_prev else hs[t + 1]), "da": da})
        da_next = da
    parts.reverse()                                          # parts[t] is step t's contribution
    chosen = {"all": parts, "first": parts[:1], "last": parts[-1:]}[keep]
    grads = {k: sum(p[k] for p in chosen) for k in FORMULA}
    if overwrite_u:
        for t in reversed(range(T)):
            grads["dU"][:, xs[t]] = parts[t]["da"]
    return grads


def _diagnose(data: dict, key: str, got: torch.Tensor) -> str:
    for options, why in MISTAKES:
        v = torch.from_numpy(np.asarray(_variant(data, **options)[key], dtype=np.float64))
        if got.shape == v.shape and torch.allclose(got, v, **TOL):
            return f"your {key} matches {why}"
    return FORMULA[key]


def _loss_ok(output: dict, ref: torch.Tensor) -> torch.Tensor:
    loss = output["loss"]
    if isinstance(loss, str) or loss.numel() != 1:
        raise CheckFailure(f"rnn_forward must return (loss, cache) with loss a float, got "
                           f"{loss if isinstance(loss, str) else f'an array of shape {tuple(loss.shape)}'}")
    return loss.reshape(())


def verify_forward(data: dict, output: dict) -> None:
    ref, _ = _autograd(data)
    loss = _loss_ok(output, ref)
    hint = ("L = sum over t of -log(softmax(o_t)[ys[t]]) with natural log, starting from the given "
            "h0; a_t = W h_{t-1} + U x_t + b, h_t = tanh(a_t), o_t = V h_t + c")
    if torch.isclose(loss * T, ref, **TOL):
        hint = "your loss is the MEAN over time; the loss is the SUM over time"
    expect_close(loss, ref, "loss returned by rnn_forward", hint=hint, **TOL)


def _verify_gradient(key: str):
    def verify(data: dict, output: dict) -> None:
        ref_loss, ref = _autograd(data)
        if not torch.isclose(_loss_ok(output, ref_loss), ref_loss, **TOL):
            raise CheckFailure(f"{key} not compared: the loss of rnn_forward already differs from "
                               f"autograd's (fix forward_loss first)")
        grads = output["grads"]
        if isinstance(grads, str):
            raise CheckFailure(f"rnn_backward must return a dict of arrays, got {grads}")
        if key not in grads:
            raise CheckFailure(f"rnn_backward returned no {key!r} (keys: {sorted(grads)})")
        got = grads[key]
        if isinstance(got, str):
            raise CheckFailure(f"{key}: expected a NumPy array, got {got}")
        shape = SHAPES[key[1:]]
        hint = f"{key} has the shape of {key[1:]}: {shape}" if tuple(got.shape) != shape else ""
        hint = hint or ("" if got.shape == ref[key].shape and torch.allclose(got, ref[key], **TOL)
                        else _diagnose(data, key, got))
        expect_close(got, ref[key], f"{key} from rnn_backward (vs autograd)", hint=hint, **TOL)
    return verify


def verify_clip(data: dict, output: dict) -> None:
    big, small = data["big"], data["small"]
    for name, arrays in (("large", output["big"]), ("small", output["small"])):
        if isinstance(arrays, str):
            raise CheckFailure(f"clip_gradients must return a dict of arrays, got {arrays}")
        expect_equal(sorted(arrays), sorted(big), f"keys returned by clip_gradients ({name} gradients)")
    total = torch.sqrt(sum((v ** 2).sum() for v in big.values())).item()
    norms = {k: v.norm().item() for k, v in output["big"].items() if not isinstance(v, str)}
    hint = (f"scale EVERY array by max_norm / total_norm, where total_norm = sqrt of the sum of "
            f"squares of all entries of all arrays ({total:.4g} here)")
    if all(abs(n - min(big[k].norm().item(), MAX_NORM)) < 1e-6 for k, n in norms.items()):
        hint = "each array was clipped on its own; use one norm over all arrays together. " + hint
    for k, v in big.items():
        expect_close(output["big"][k], v * (MAX_NORM / total),
                     f"clip_gradients(grads with total norm {total:.4g}, max_norm={MAX_NORM:g})[{k!r}]",
                     hint=hint, **TOL)
    for k, v in small.items():
        expect_close(output["small"][k], v, f"clip_gradients(grads with total norm 2, "
                     f"max_norm={MAX_NORM:g})[{k!r}]", hint="gradients within max_norm stay as they are",
                     **TOL)
    for k, v in big.items():
        expect_close(output["input_after"][k], v, f"the input grads[{k!r}] after clip_gradients",
                     hint="return new arrays (g * scale) and leave the input dict as it was", **TOL)


def verify_training(data: dict, output: dict) -> None:
    expect_equal(output["shapes"], {"U": [16, 6], "W": [16, 16], "V": [6, 16], "b": [16], "c": [6]},
                 "shapes from init_params(input_size=6, hidden_size=16, output_size=6)")
    if not output["same_seed_same_params"]:
        raise CheckFailure("init_params gave different weights for the same seed; draw them "
                           "from np.random.default_rng(seed)")
    losses = output["losses"]
    if not np.all(np.isfinite(losses)) or losses[-1] > 0.3 * losses[0]:
        raise CheckFailure(f"60 steps of SGD (lr {LR:g}, clipping at {MAX_NORM:g}) on a repeating "
                           f"pattern took the loss from {losses[0]:.4g} to {losses[-1]:.4g}; "
                           f"expected below 30% of the start. {_training_cause(output['first'])}")


def _training_cause(first: dict) -> str:
    """Which function held training back, judged on its first step: the gradients against
    autograd, then clipping, then the SGD update; init_params' scale when all three are right."""
    def wrong(got, want: torch.Tensor) -> str:
        if isinstance(got, str) or tuple(got.shape) != tuple(want.shape):
            return f"got {got if isinstance(got, str) else f'shape {tuple(got.shape)}'}"
        bad = ~torch.isclose(got, want, **TOL)
        if not bad.any():
            return ""
        idx = tuple(torch.nonzero(bad)[0].tolist())
        return f"first differs at index {idx}: expected {want[idx].item():.6g}, got {got[idx].item():.6g}"

    parts = {k: first.get(k) for k in ("params", "raw", "clipped", "after")}
    if any(not isinstance(v, dict) or any(isinstance(a, str) for a in v.values())
           for v in parts.values()):
        return ("init_params, rnn_backward, clip_gradients and sgd_step must each return a dict "
                "of NumPy arrays")
    params = parts["params"]
    if set(params) != set(SHAPES):
        return f"init_params must return the arrays {sorted(SHAPES)}, got {sorted(params)}"
    _, ref = _autograd({"params": params, "xs": torch.tensor(PATTERN[:-1]),
                        "ys": torch.tensor(PATTERN[1:]),
                        "h0": torch.zeros(params["W"].shape[0], dtype=torch.float64)},
                       classes=params["U"].shape[1])
    for key in FORMULA:
        why = wrong(parts["raw"].get(key, "nothing"), ref[key])
        if why:
            return (f"The cause is rnn_backward: on the first step its {key} is not autograd's "
                    f"({why}); the gradient_{key} check names the likely mistake")
    raw = parts["raw"]
    total = torch.sqrt(sum((v ** 2).sum() for v in raw.values()))
    scale = min(1.0, MAX_NORM / total.item())
    for key in FORMULA:
        why = wrong(parts["clipped"].get(key, "nothing"), raw[key] * scale)
        if why:
            return (f"The cause is clip_gradients: on the first step its {key!r} is not the "
                    f"gradient scaled by {scale:.4g} ({why})")
    for k in SHAPES:
        why = wrong(parts["after"].get(k, "nothing"), params[k] - LR * parts["clipped"]["d" + k])
        if why:
            return (f"The cause is sgd_step: after the first step {k!r} is not "
                    f"params - lr * grads ({why})")
    return ("The gradients, clipping and update are right on the first step, so look at "
            "init_params' scale (about 1/sqrt(fan_in)) and zero biases")


CHECKS: list[Check] = [
    Check(PART, "forward_loss", 1.0, make_inputs, run_forward, verify_forward,
          "the summed cross-entropy equals autograd's forward"),
    *[Check(PART, f"gradient_{key}", 1.0, make_inputs, run_gradients, _verify_gradient(key),
            f"{key} from rnn_backward equals autograd's") for key in ("dV", "dc", "dW", "dU", "db")],
    Check(PART, "clip_gradients", 1.0, make_inputs, run_clip, verify_clip,
          "global-norm clipping scales large gradients to max_norm, leaves small ones"),
    Check(PART, "training_reduces_loss", 1.0, make_inputs, run_training, verify_training,
          "init_params, forward, backward, clipping and sgd_step learn a repeating pattern"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "forward_loss": ('params', 'xs', 'ys', 'h0'),
    "gradient_dV": ('params', 'xs', 'ys', 'h0'),
    "gradient_dc": ('params', 'xs', 'ys', 'h0'),
    "gradient_dW": ('params', 'xs', 'ys', 'h0'),
    "gradient_dU": ('params', 'xs', 'ys', 'h0'),
    "gradient_db": ('params', 'xs', 'ys', 'h0'),
    "clip_gradients": ('big', 'small'),
    "training_reduces_loss": (),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------
# The run steps turn every array into a float64 tensor (or into words for anything else), so a
# reply of another dtype did not come from them.

F64 = (torch.float64,)
LOSS = OneOf((Tensor((), F64), Tensor((1,), F64), NAME))
ANY_ARRAY = OneOf((Tensor(None, F64, 4096), NAME))
GRAD_NAMES = tuple("d" + k for k in SHAPES)


def _grads(*names: str) -> OneOf:
    """A dict of arrays by name (``names`` of their exact shapes, any other bounded), or words."""
    return OneOf((NAME, Map({n: OneOf((Tensor(SHAPES[n[1:]], F64), NAME)) for n in names},
                            others=ANY_ARRAY, max_len=16)))


def _gradient(key: str):
    """A gradient check's output: its own array's shape exact (a wrong dW fails gradient_dW
    alone), the others bounded."""
    return lambda data: Map({"loss": LOSS, "grads": _grads(key)})


EXPECTS = {
    "forward_loss": lambda data: Map({"loss": LOSS}),
    **{f"gradient_d{k}": _gradient(f"d{k}") for k in SHAPES},
    "clip_gradients": lambda data: Map({"big": _grads(*GRAD_NAMES), "small": _grads(*GRAD_NAMES),
                                        "input_after": Map({"d" + k: Tensor(s, F64)
                                                            for k, s in SHAPES.items()})}),
    "training_reduces_loss": lambda data: Map({
        "shapes": Map(others=Seq(INT, 8), max_len=16), "same_seed_same_params": BOOL,
        "losses": Seq(NUMBER, 60),
        "first": Map({k: OneOf((NAME, Map(others=ANY_ARRAY, max_len=16)))
                      for k in ("params", "raw", "clipped", "after")})}),
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
