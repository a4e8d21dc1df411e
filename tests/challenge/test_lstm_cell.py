"""The reference LSTM cell and layer (solutions/lstm_cell.py) against torch.nn.LSTMCell and
torch.nn.LSTM with copied weights: forward and gradients in float64, defaults, unbatched input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from solutions.lstm_cell import LSTM, LSTMCell

I, H, B, T = 5, 4, 3, 7


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(bias: bool = True, seed: int = 0) -> tuple[LSTMCell, nn.LSTMCell]:
    """Our cell and torch's, float64, with torch's (random) weights copied into ours."""
    torch.manual_seed(seed)
    ref = nn.LSTMCell(I, H, bias=bias).double()
    ours = LSTMCell(I, H, bias=bias).double()
    ours.load_state_dict(ref.state_dict())        # same names and shapes, or this raises
    return ours, ref


def test_parameters_have_torch_names_shapes_and_init_range():
    torch.manual_seed(0)
    cell = LSTMCell(I, H)
    shapes = {n: tuple(p.shape) for n, p in cell.named_parameters()}
    assert shapes == {n: tuple(p.shape) for n, p in nn.LSTMCell(I, H).named_parameters()}
    k = 1 / math.sqrt(H)
    for p in cell.parameters():
        assert p.abs().max() <= k and p.max() - p.min() > k    # uniform(-k, k), not constant
    assert [n for n, _ in LSTMCell(I, H, bias=False).named_parameters()] == ["weight_ih", "weight_hh"]
    assert LSTMCell(I, H, bias=False).bias_ih is None


@pytest.mark.parametrize("bias", [True, False])
def test_forward_matches_torch(bias):
    ours, ref = _pair(bias)
    x = torch.randn(B, I, dtype=torch.float64)
    state = (torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    for got, want in zip(ours(x, state), ref(x, state)):
        assert_close(got, want)


def test_default_state_is_zeros_and_unbatched_input_works():
    ours, ref = _pair()
    x = torch.randn(B, I, dtype=torch.float64)
    for got, want in zip(ours(x), ref(x)):
        assert_close(got, want)
    x1, h1, c1 = (torch.randn(n, dtype=torch.float64) for n in (I, H, H))
    got = ours(x1, (h1, c1))
    assert got[0].shape == (H,) and got[1].shape == (H,)
    for g, want in zip(got, ref(x1, (h1, c1))):
        assert_close(g, want)


def test_gradients_match_torch():
    ours, ref = _pair(seed=1)
    x = torch.randn(B, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    wh, wc = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    grads = []
    for cell in (ours, ref):
        inputs = [t.clone().requires_grad_() for t in (x, h0, c0)]
        h, c = cell(inputs[0], (inputs[1], inputs[2]))
        ((h * wh).sum() + (c * wc).sum()).backward()
        grads.append([t.grad for t in inputs] + [p.grad for p in cell.parameters()])
    assert len(grads[0]) == 7
    for got, want in zip(*grads):
        assert_close(got, want)


def test_gradcheck_on_the_cell():
    ours, _ = _pair(seed=2)
    x = torch.randn(2, I, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, H, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, h, c: ours(x, (h, c)), (x, h, c))


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("with_state", [False, True])
def test_unrolled_layer_matches_torch_lstm(batch_first, with_state):
    torch.manual_seed(3)
    ref = nn.LSTM(I, H, batch_first=batch_first).double()
    ours = LSTM(I, H, batch_first=batch_first).double()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(ours.cell, name).data.copy_(getattr(ref, name + "_l0"))
    x = torch.randn(*((B, T) if batch_first else (T, B)), I, dtype=torch.float64, requires_grad=True)
    state = (torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    out, (h, c) = ours(x, state if with_state else None)
    want, (wh, wc) = ref(x, (state[0][None], state[1][None]) if with_state else None)
    assert out.shape == want.shape
    assert_close(out, want)
    assert_close(h, wh[0])
    assert_close(c, wc[0])
    (grad_ours,) = torch.autograd.grad(out.sum() + c.sum(), x)
    (grad_ref,) = torch.autograd.grad(want.sum() + wc.sum(), x)
    assert_close(grad_ours, grad_ref)


def test_no_torch_lstm_inside():
    for model in (LSTMCell(I, H), LSTM(I, H)):
        assert not any(isinstance(m, (nn.RNNBase, nn.RNNCellBase)) for m in model.modules())


def test_bad_input_rank_names_the_shape():
    with pytest.raises(ValueError, match=r"\(2, 3, 5\)"):
        LSTMCell(I, H)(torch.zeros(2, 3, I))
