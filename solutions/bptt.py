"""A vanilla RNN and backpropagation through time in NumPy, from the lecture's equations; no
autograd. The checks compare every gradient with PyTorch autograd on the same weights.

Model, for one sequence of T steps (no batch dimension), with x_t the one-hot vector of token
xs[t] and y_t the one-hot vector of target ys[t]:

    a_t     = W h_{t-1} + U x_t + b        (H,)
    h_t     = tanh(a_t)                    (H,)
    o_t     = V h_t + c                    (O,)
    y_hat_t = softmax(o_t)                 (O,)
    L       = sum_t -log y_hat_t[ys[t]]    cross-entropy, SUMMED over time (natural log)

Shapes: U (H, I), W (H, H), V (O, H), b (H,), c (O,), where I is the input vocabulary size, H the
hidden size and O the number of output classes.

Required (the checks call each of them): ``init_params``, ``rnn_forward``, ``rnn_backward``,
``clip_gradients``, ``sgd_step``. There are no optional helpers in this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PARAM_NAMES = ("U", "W", "V", "b", "c")


def init_params(input_size: int, hidden_size: int, output_size: int,
                seed: int = 0) -> dict[str, np.ndarray]:
    """Small random weights and zero biases: {"U": (H, I), "W": (H, H), "V": (O, H), "b": (H,),
    "c": (O,)}, float64, drawn from ``np.random.default_rng(seed)`` (same seed, same weights).

    Scale the weights by about 1/sqrt(fan_in) so tanh starts in its linear range.
    """
    # BEGIN SOLUTION
    # HINT: rng = np.random.default_rng(seed); U = rng.normal(size=(H, I)) / np.sqrt(I), etc.; b, c zeros
    rng = np.random.default_rng(seed)
    return {
        "U": rng.normal(size=(hidden_size, input_size)) / np.sqrt(input_size),
        "W": rng.normal(size=(hidden_size, hidden_size)) / np.sqrt(hidden_size),
        "V": rng.normal(size=(output_size, hidden_size)) / np.sqrt(hidden_size),
        "b": np.zeros(hidden_size),
        "c": np.zeros(output_size),
    }
    # END SOLUTION


def rnn_forward(xs: Any, ys: Any, params: dict[str, np.ndarray],
                h0: np.ndarray | None = None) -> tuple[float, dict[str, Any]]:
    """Run the RNN over one sequence and return (loss, cache).

    xs: T integer token ids in [0, I) (a list or an int array); x_t is their one-hot vector, so
        U x_t is simply the column U[:, xs[t]] - no need to build the one-hot vectors.
    ys: T integer target ids in [0, O).
    h0: the initial hidden state (H,); None means zeros.
    Returns the summed cross-entropy L as a float and a cache: a dict holding whatever
    rnn_backward needs (the params, xs, ys, h0 and, per step, h_t and y_hat_t).

    Pitfall: softmax(o) overflows for large o; subtract o.max() before exponentiating (the
    result is the same).
    """
    xs, ys = np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64)
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) == 0:
        raise ValueError(f"rnn_forward: xs and ys must be non-empty 1-D sequences of the same "
                         f"length, got shapes {xs.shape} and {ys.shape}")
    for name, ids, n in (("xs", xs, params["U"].shape[1]), ("ys", ys, params["V"].shape[0])):
        if ids.min() < 0 or ids.max() >= n:
            raise ValueError(f"rnn_forward: {name} must hold ids in [0, {n}), got "
                             f"{int(ids.min())}..{int(ids.max())}")
    # BEGIN SOLUTION
    # HINT: loop t = 0..T-1: a = W @ h + U[:, xs[t]] + b; h = tanh(a); p = softmax(V @ h + c);
    # HINT: loss -= log(p[ys[t]]); keep h0, every h and p (and params, xs, ys) in the cache
    U, W, V, b, c = (params[k] for k in PARAM_NAMES)
    h = np.zeros(W.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    h_init = h
    hs, probs, loss = [], [], 0.0
    for t in range(len(xs)):
        h = np.tanh(W @ h + U[:, xs[t]] + b)                     # (H,)
        o = V @ h + c                                            # (O,)
        e = np.exp(o - o.max())
        p = e / e.sum()                                          # (O,)
        loss -= float(np.log(p[ys[t]]))
        hs.append(h)
        probs.append(p)
    cache = {"params": params, "xs": xs, "ys": ys, "h0": h_init,
             "hs": np.array(hs), "probs": np.array(probs)}
    return loss, cache
    # END SOLUTION


def rnn_backward(cache: dict[str, Any]) -> dict[str, np.ndarray]:
    """Backpropagation through time: the gradients of the summed loss L w.r.t. every parameter.

    Returns {"dU", "dW", "dV", "db", "dc"} (each the shape of its parameter; "dh0", the
    gradient w.r.t. h0, may be included too). Walk the steps backwards, t = T-1 .. 0:

        do_t  = y_hat_t - y_t                        dL/do_t (softmax + cross-entropy)
        dV   += do_t h_t^T          dc += do_t
        dh_t  = V^T do_t + W^T da_{t+1}              h_t feeds o_t AND a_{t+1}; da_T = 0
        da_t  = (1 - h_t^2) * dh_t                   tanh'(a_t) = 1 - tanh(a_t)^2
        dW   += da_t h_{t-1}^T      dU += da_t x_t^T (column xs[t])      db += da_t

    The weights are shared by all steps, so every gradient is a SUM over time: accumulate with
    +=, never overwrite. dW pairs da_t with h_{t-1} (h0 at the first step), not with h_t.
    """
    # BEGIN SOLUTION
    # HINT: zero arrays like each parameter; loop t from T-1 down to 0 with the equations above,
    # HINT: carrying da_{t+1} in a variable (zeros at the start)
    U, W, V, b, c = (cache["params"][k] for k in PARAM_NAMES)
    xs, ys, hs, probs = cache["xs"], cache["ys"], cache["hs"], cache["probs"]
    grads = {"dU": np.zeros_like(U), "dW": np.zeros_like(W), "dV": np.zeros_like(V),
             "db": np.zeros_like(b), "dc": np.zeros_like(c)}
    da_next = np.zeros(W.shape[0])
    for t in reversed(range(len(xs))):
        do = probs[t].copy()
        do[ys[t]] -= 1.0                                         # (O,)
        grads["dV"] += np.outer(do, hs[t])
        grads["dc"] += do
        dh = V.T @ do + W.T @ da_next                            # (H,)
        da = (1.0 - hs[t] ** 2) * dh                             # (H,)
        h_prev = hs[t - 1] if t > 0 else cache["h0"]
        grads["dW"] += np.outer(da, h_prev)
        grads["dU"][:, xs[t]] += da
        grads["db"] += da
        da_next = da
    grads["dh0"] = W.T @ da_next
    return grads
    # END SOLUTION


def clip_gradients(grads: dict[str, np.ndarray], max_norm: float) -> dict[str, np.ndarray]:
    """Global-norm clipping: if the norm of ALL gradients together,
    sqrt(sum over every array of sum(g**2)), exceeds max_norm, scale every array by
    max_norm / total_norm; otherwise leave them as they are. Returns a new dict; the input is
    not modified.

    Why: back through many steps the gradient is multiplied by W^T diag(1 - h^2) again and
    again, so it can grow exponentially (exploding gradients) and one step can wreck the
    weights. Scaling all arrays by one factor keeps the direction of the update; clipping each
    array on its own, or each element, would change it.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_gradients: max_norm must be positive, got {max_norm}")
    # BEGIN SOLUTION
    # HINT: total = np.sqrt(sum((g ** 2).sum() for g in grads.values()));
    # HINT: if total > max_norm, multiply every array by max_norm / total
    total = float(np.sqrt(sum(float((g ** 2).sum()) for g in grads.values())))
    scale = max_norm / total if total > max_norm else 1.0
    return {k: g * scale for k, g in grads.items()}
    # END SOLUTION


def sgd_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
             lr: float) -> dict[str, np.ndarray]:
    """One gradient-descent step: a new dict with params[k] - lr * grads["d" + k] for every k."""
    # BEGIN SOLUTION
    # HINT: return {k: p - lr * grads["d" + k] for k, p in params.items()}
    return {k: p - lr * grads["d" + k] for k, p in params.items()}
    # END SOLUTION
