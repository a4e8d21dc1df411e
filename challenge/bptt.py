# Your module: generated from the reference solution by `challenge stubs`. Replace each
# `raise NotImplementedError(...)` with your code; keep the signatures and docstrings.
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
    raise NotImplementedError('init_params: rng = np.random.default_rng(seed); U = rng.normal(size=(H, I)) / np.sqrt(I), etc.; b, c zeros')


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
    raise NotImplementedError('rnn_forward: loop t = 0..T-1: a = W @ h + U[:, xs[t]] + b; h = tanh(a); p = softmax(V @ h + c); loss -= log(p[ys[t]]); keep h0, every h and p (and params, xs, ys) in the cache')


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
    raise NotImplementedError('rnn_backward: zero arrays like each parameter; loop t from T-1 down to 0 with the equations above, carrying da_{t+1} in a variable (zeros at the start)')


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
    raise NotImplementedError('clip_gradients: total = np.sqrt(sum((g ** 2).sum() for g in grads.values())); if total > max_norm, multiply every array by max_norm / total')


def sgd_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
             lr: float) -> dict[str, np.ndarray]:
    """One gradient-descent step: a new dict with params[k] - lr * grads["d" + k] for every k."""
    raise NotImplementedError('sgd_step: return {k: p - lr * grads["d" + k] for k, p in params.items()}')
