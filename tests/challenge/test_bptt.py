"""The reference NumPy RNN and BPTT (solutions/bptt.py) against PyTorch autograd and against
finite differences; global-norm clipping; a tiny training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from solutions.bptt import (
    clip_gradients,
    init_params,
    rnn_backward,
    rnn_forward,
    sgd_step,
)

I, H, O = 5, 4, 3


def _case(seed: int = 0, T: int = 6):
    rng = np.random.default_rng(seed)
    params = {k: rng.normal(scale=0.7, size=s) for k, s in
              {"U": (H, I), "W": (H, H), "V": (O, H), "b": (H,), "c": (O,)}.items()}
    xs = rng.integers(0, I, T).tolist()
    xs[-1] = xs[0]                                   # a repeated token
    return params, xs, rng.integers(0, O, T).tolist(), rng.normal(size=H)


def _autograd(params, xs, ys, h0):
    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h, loss = torch.tensor(h0), torch.zeros((), dtype=torch.float64)
    for x, y in zip(xs, ys):
        h = torch.tanh(p["W"] @ h + p["U"] @ torch.eye(I, dtype=torch.float64)[x] + p["b"])
        loss = loss - torch.log_softmax(p["V"] @ h + p["c"], dim=0)[y]
    loss.backward()
    return loss.item(), {"d" + k: v.grad.numpy() for k, v in p.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradients_match_autograd(seed):
    params, xs, ys, h0 = _case(seed)
    loss, cache = rnn_forward(xs, ys, params, h0)
    want_loss, want = _autograd(params, xs, ys, h0)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    grads = rnn_backward(cache)
    for key in ("dU", "dW", "dV", "db", "dc"):
        np.testing.assert_allclose(grads[key], want[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_gradients_match_finite_differences():
    params, xs, ys, h0 = _case(2, T=3)
    grads = rnn_backward(rnn_forward(xs, ys, params, h0)[1])
    eps = 1e-6
    for name in ("U", "W", "V", "b", "c"):
        numeric = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += eps
            minus[name][idx] -= eps
            numeric[idx] = (rnn_forward(xs, ys, plus, h0)[0] - rnn_forward(xs, ys, minus, h0)[0]) / (2 * eps)
        np.testing.assert_allclose(grads["d" + name], numeric, rtol=1e-5, atol=1e-7, err_msg=name)


def test_dh0_and_default_zero_state():
    params, xs, ys, h0 = _case(3)
    grads = rnn_backward(rnn_forward(xs, ys, params, h0)[1])
    eps, numeric = 1e-6, np.zeros(H)
    for i in range(H):
        step = np.eye(H)[i] * eps
        numeric[i] = (rnn_forward(xs, ys, params, h0 + step)[0]
                      - rnn_forward(xs, ys, params, h0 - step)[0]) / (2 * eps)
    np.testing.assert_allclose(grads["dh0"], numeric, rtol=1e-5, atol=1e-8)
    assert rnn_forward(xs, ys, params)[0] == pytest.approx(rnn_forward(xs, ys, params, np.zeros(H))[0])


def test_softmax_is_stable_for_large_logits():
    params, xs, ys, h0 = _case(4)
    params["c"] = params["c"] + 1000.0
    loss, cache = rnn_forward(xs, ys, params, h0)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in rnn_backward(cache).values())


def test_clip_gradients_scales_to_max_norm_and_keeps_direction():
    rng = np.random.default_rng(5)
    grads = {"dU": rng.normal(size=(H, I)) * 10, "dW": rng.normal(size=(H, H)) * 10}
    before = {k: v.copy() for k, v in grads.items()}
    total = np.sqrt(sum((v ** 2).sum() for v in grads.values()))
    clipped = clip_gradients(grads, 1.0)
    assert np.sqrt(sum((v ** 2).sum() for v in clipped.values())) == pytest.approx(1.0)
    for k in grads:
        np.testing.assert_allclose(clipped[k], before[k] / total)
        np.testing.assert_array_equal(grads[k], before[k])          # input untouched
    small = clip_gradients(clipped, 5.0)
    for k in grads:
        np.testing.assert_array_equal(small[k], clipped[k])


def test_clip_gradients_rejects_non_positive_max_norm():
    with pytest.raises(ValueError, match="max_norm"):
        clip_gradients({"dW": np.ones(2)}, 0.0)


@pytest.mark.parametrize("xs, ys, match", [([0, 1], [0], "same length"), ([], [], "non-empty"),
                                           ([0, I], [0, 0], "xs must hold ids"),
                                           ([0, 1], [0, O], "ys must hold ids")])
def test_rnn_forward_rejects_bad_sequences(xs, ys, match):
    with pytest.raises(ValueError, match=match):
        rnn_forward(xs, ys, init_params(I, H, O), None)


def test_init_params_shapes_and_seed():
    a, b, c = init_params(I, H, O, seed=1), init_params(I, H, O, seed=1), init_params(I, H, O, seed=2)
    assert {k: v.shape for k, v in a.items()} == {"U": (H, I), "W": (H, H), "V": (O, H),
                                                 "b": (H,), "c": (O,)}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W"], c["W"])


def test_training_learns_a_repeating_pattern():
    pattern = [0, 1, 2, 3] * 4
    params = init_params(4, 12, 4, seed=0)
    first = None
    for _ in range(80):
        loss, cache = rnn_forward(pattern[:-1], pattern[1:], params)
        first = loss if first is None else first
        params = sgd_step(params, clip_gradients(rnn_backward(cache), 5.0), 0.1)
    assert loss < 0.1 * first
