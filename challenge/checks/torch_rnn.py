"""Detect torch's own recurrent kernels (LSTM, GRU and RNN cells and layers) in student code by the
aten operators they run, whatever Python name reached them: torch.nn.LSTMCell, torch.lstm_cell,
an alias of torch._VF.lstm_cell saved at import, torch.ops.aten or a helper thread all end in the
same dispatcher operator, and torch's profiler records every operator the dispatcher runs.

The watch keeps no state that student code can reach: the table of operators is read-only, and
:func:`watch_torch_rnn` holds its own copy of it (and of what it calls), bound when this module
is imported, so clearing or replacing ``FORBIDDEN`` (or ``profile``) from student code changes
nothing. It stays a hint: the grader's verdict rests on its scan of the source.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterator

from torch._C._profiler import _ExperimentalConfig
from torch.autograd.profiler import profile, record_function

#: Operator -> what a student reads; torch.nn.LSTMCell, torch.lstm_cell and torch._VF.lstm_cell
#: all run aten::lstm_cell, torch.nn.LSTM runs aten::lstm, and so on.
FORBIDDEN = MappingProxyType({
    "aten::lstm_cell": "torch's LSTM cell (aten::lstm_cell: torch.nn.LSTMCell, torch.lstm_cell)",
    "aten::lstm": "torch's LSTM layer (aten::lstm: torch.nn.LSTM, torch.lstm)",
    "aten::_thnn_fused_lstm_cell": "torch's fused LSTM cell (aten::_thnn_fused_lstm_cell)",
    "aten::_lstm_mps": "torch's LSTM layer (aten::_lstm_mps)",
    "aten::quantized_lstm_cell": "torch's quantized LSTM cell (aten::quantized_lstm_cell)",
    "aten::gru_cell": "torch's GRU cell (aten::gru_cell)",
    "aten::gru": "torch's GRU layer (aten::gru)",
    "aten::_thnn_fused_gru_cell": "torch's fused GRU cell (aten::_thnn_fused_gru_cell)",
    "aten::quantized_gru_cell": "torch's quantized GRU cell (aten::quantized_gru_cell)",
    "aten::rnn_tanh_cell": "torch's RNN cell (aten::rnn_tanh_cell)",
    "aten::rnn_relu_cell": "torch's RNN cell (aten::rnn_relu_cell)",
    "aten::rnn_tanh": "torch's RNN layer (aten::rnn_tanh)",
    "aten::rnn_relu": "torch's RNN layer (aten::rnn_relu)",
    "aten::quantized_rnn_tanh_cell": "torch's quantized RNN cell (aten::quantized_rnn_tanh_cell)",
    "aten::quantized_rnn_relu_cell": "torch's quantized RNN cell (aten::quantized_rnn_relu_cell)",
    "aten::_cudnn_rnn": "torch's cuDNN RNN kernel (aten::_cudnn_rnn)",
    "aten::miopen_rnn": "torch's MIOpen RNN kernel (aten::miopen_rnn)",
    "aten::mkldnn_rnn_layer": "torch's oneDNN RNN kernel (aten::mkldnn_rnn_layer)",
})
_END = "challenge::watch_end"


@dataclass
class Watch:
    """What :func:`watch_torch_rnn` saw once its block ended."""

    kernels: list[str] = field(default_factory=list)  # FORBIDDEN labels, in first-use order
    blind: bool = False  # the recording was stopped or switched off inside the block

    def problem(self) -> str | None:
        if self.blind:
            return ("torch's operator recording was switched off inside it, so the grader cannot "
                    "see which operators it runs")
        return f"uses {', '.join(self.kernels)}" if self.kernels else None


def _all_threads() -> _ExperimentalConfig:
    """Record work handed to other threads too (an option of newer torch; older ones record the
    calling thread and the autograd engine's)."""
    try:
        return _ExperimentalConfig(profile_all_threads=True)
    except TypeError:
        return _ExperimentalConfig()


@contextlib.contextmanager
def watch_torch_rnn(*, _bound=(tuple(FORBIDDEN.items()), _END, profile, record_function,
                               _all_threads, Watch)) -> Iterator[Watch]:
    """Record the operators the block runs, on every thread; the yielded :class:`Watch` is filled
    in when the block ends normally. (``_bound``: what it uses, fixed at import; never pass it.)"""
    table, end, profile_, record, all_threads, make_watch = _bound
    forbidden = dict(table)
    # kineto reads its log level once, when the first profiler starts; its default prints two
    # "profiler_start/stop" lines per use into the student's log
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    watch = make_watch()
    prof = profile_(experimental_config=all_threads())
    with prof:
        yield watch
        with record(end):   # missing from the events if the recording was cut off
            pass
    names = [e.name for e in (prof.function_events or [])]
    watch.blind = end not in names
    watch.kernels = list(dict.fromkeys(forbidden[n] for n in names if n in forbidden))
