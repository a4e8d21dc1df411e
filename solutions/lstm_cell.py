"""An LSTM cell written from the gate equations (lecture "LSTMs"), and a layer that unrolls it
over a sequence. Both are drop-ins for torch.nn.LSTMCell / torch.nn.LSTM: same parameter names,
shapes, gate order and initialisation, so weights copied from torch give the same numbers.

You may use matrix products, torch.sigmoid and torch.tanh; torch.nn.LSTM, torch.nn.LSTMCell and
torch's lstm functions are off limits here (the checks detect them).

Required (the checks call each of them): ``LSTMCell.__init__``, ``LSTMCell.reset_parameters``,
``LSTMCell.step``, ``LSTM.forward``. There are no optional helpers in this module.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class LSTMCell(nn.Module):
    """One LSTM step, written from the lecture's equations.

    For an input x (B, I) and a state (h, c), each (B, H), the four gates are

        i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)    input gate
        f  = sigmoid(W_if x + b_if + W_hf h + b_hf)    forget gate
        g  = tanh   (W_ig x + b_ig + W_hg h + b_hg)    cell candidate
        o  = sigmoid(W_io x + b_io + W_ho h + b_ho)    output gate

        c' = f * c + i * g                             (* is elementwise)
        h' = o * tanh(c')

    Parameters (exactly these names and shapes, as torch.nn.LSTMCell):
        weight_ih (4H, I)  the four input matrices stacked by rows: [W_ii; W_if; W_ig; W_io]
        weight_hh (4H, H)  the four recurrent matrices, same order:  [W_hi; W_hf; W_hg; W_ho]
        bias_ih   (4H,)    [b_ii; b_if; b_ig; b_io]   (only when bias=True)
        bias_hh   (4H,)    [b_hi; b_hf; b_hg; b_ho]   (only when bias=True)

    Why the order matters: rows 0:H belong to the input gate, H:2H to the forget gate, 2H:3H to
    the cell candidate g and 3H:4H to the output gate. A cell that reads the chunks in another
    order (say i, f, o, g) still trains, but weights copied from torch.nn.LSTMCell then mean
    something else and every output differs.

    Initialisation (as torch): every parameter, biases included, uniform(-k, k), k = 1/sqrt(H).
    With bias=False there are no bias parameters: register them as None
    (``self.register_parameter("bias_ih", None)``) like torch does.

    Pitfalls: both biases are added (forgetting bias_hh is the classic bug: only their sum
    matters, but torch keeps two, so a drop-in must use both); x W^T, not W x, for a batch of
    row vectors; split the 4H pre-activations into four (B, H) chunks along dim 1.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        # BEGIN SOLUTION
        # HINT: create weight_ih (4H, I), weight_hh (4H, H) and, if bias, bias_ih and bias_hh (4H,)
        # HINT: as nn.Parameter (else register them as None), then call self.reset_parameters()
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        # END SOLUTION

    def reset_parameters(self) -> None:
        """Fill every parameter with uniform(-1/sqrt(H), 1/sqrt(H)) values, as torch does."""
        # BEGIN SOLUTION
        # HINT: k = 1 / math.sqrt(self.hidden_size); nn.init.uniform_(p, -k, k) for every parameter
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        # END SOLUTION

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """x (B, I), state (h, c) each (B, H) or None (zeros) -> (h', c') each (B, H).

        Also accepts one unbatched example, x (I,) with h, c (H,), and then returns (H,) tensors,
        as torch.nn.LSTMCell does. The shapes are handled here; the equations are in step().
        """
        if x.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: expected x of shape (B, {self.input_size}) or "
                             f"({self.input_size},), got {tuple(x.shape)}")
        unbatched = x.dim() == 1
        if unbatched:
            x = x.unsqueeze(0)                                   # (1, I)
        if state is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)     # same dtype and device as x
            h, c = zeros, zeros
        else:
            h, c = state
            if unbatched:
                h, c = h.unsqueeze(0), c.unsqueeze(0)            # (1, H)
        h, c = self.step(x, h, c)
        if unbatched:
            h, c = h.squeeze(0), c.squeeze(0)                    # (H,)
        return h, c

    def step(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """The gate equations for one batch: x (B, I), h (B, H), c (B, H) -> (h', c') (B, H).

        Compute all four gates with one product per weight matrix: the pre-activations
        x @ weight_ih.T (+ bias_ih) + h @ weight_hh.T (+ bias_hh) have shape (B, 4H); split
        them into i, f, g, o (in this order) with .chunk(4, dim=1).
        """
        # BEGIN SOLUTION
        # HINT: gates = x @ self.weight_ih.T + h @ self.weight_hh.T (+ both biases);
        # HINT: i, f, g, o = gates.chunk(4, dim=1); c' = f*c + i*g; h' = o*tanh(c')
        gates = x @ self.weight_ih.T + h @ self.weight_hh.T      # (B, 4H)
        if self.bias:
            gates = gates + self.bias_ih + self.bias_hh          # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)                       # each (B, H)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c_next = f * c + i * g                                   # (B, H)
        h_next = o * torch.tanh(c_next)                          # (B, H)
        return h_next, c_next
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


class LSTM(nn.Module):
    """One LSTM layer: the cell above applied at every time step, the state carried along.

    ``self.cell`` holds the parameters (``cell.weight_ih`` ... ``cell.bias_hh``); they play the
    role of torch.nn.LSTM's ``weight_ih_l0`` ... ``bias_hh_l0``, so weights copied from a
    one-layer torch.nn.LSTM give the same outputs.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = True):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_first = batch_first
        self.cell = LSTMCell(input_size, hidden_size, bias=bias)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x (B, T, I) (or (T, B, I) when batch_first=False), state (h0, c0) each (B, H) or None.

        Returns (outputs, (h_T, c_T)): outputs (B, T, H) (or (T, B, H)) holds h_t for every step
        t = 1..T, and (h_T, c_T), each (B, H), is the state after the last step. Unlike
        torch.nn.LSTM, h and c carry no leading (num_layers,) dimension: h_T == outputs[:, -1].

        Pitfalls: feed each step the state returned by the previous one (not zeros, not the
        initial state again); stack the per-step outputs along the time dimension.
        """
        # BEGIN SOLUTION
        # HINT: loop over t, (h, c) = self.cell(x[:, t], (h, c)); collect h; torch.stack(outs, dim=1)
        if not self.batch_first:
            x = x.transpose(0, 1)                                # (B, T, I)
        outputs = []
        for t in range(x.size(1)):
            state = self.cell(x[:, t], state)                    # each (B, H)
            outputs.append(state[0])
        out = torch.stack(outputs, dim=1)                        # (B, T, H)
        if not self.batch_first:
            out = out.transpose(0, 1)                            # (T, B, H)
        return out, state
        # END SOLUTION
