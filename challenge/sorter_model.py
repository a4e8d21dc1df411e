# Your module: generated from the reference solution by `challenge stubs`. Replace each
# `raise NotImplementedError(...)` with your code; keep the signatures and docstrings.
"""An LSTM encoder-decoder that sorts a sequence of numbers, in three variants: a plain
encoder-decoder ("seq2seq"), one with attention over the encoder outputs ("attention"), and a
pointer network that points at input positions ("pointer", Vinyals et al. 2015).

Token ids: ``<pad>``=0, ``<unk>``=1, ``<sos>``=2, ``<eos>``=3, value ``v`` -> ``v + 4``.
Shapes: B batch, S source length, T target length, E embedding, H hidden, V vocabulary.

Required (the checks call each of them): ``decoder_inputs``, ``used_positions``,
``Sorter.__init__``, ``Sorter.forward``, ``Sorter.loss``, ``Sorter.generate``. Optional helpers
(the reference's way to divide the work; no check calls them, so use them, change them or leave
them unwritten): ``Sorter.encode``, ``Sorter._attend``, ``Sorter._keys``,
``Sorter._pointer_scores``, ``Sorter._pointer_log_probs``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
VALUE_OFFSET = 4
ARCHS = ("seq2seq", "attention", "pointer")


@dataclass(frozen=True)
class SorterConfig:
    """Sizes of the sorter; ``vocab_size`` comes from the data (4 special ids + every value)."""

    vocab_size: int
    embed_dim: int = 64
    hidden_size: int = 128
    arch: str = "pointer"   # "seq2seq" | "attention" | "pointer"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.vocab_size <= VALUE_OFFSET:
            raise ValueError(f"vocab_size must exceed {VALUE_OFFSET} (the special ids), "
                             f"got {self.vocab_size}")


def decoder_inputs(tgt: torch.Tensor) -> torch.Tensor:
    """Teacher forcing: the decoder reads ``<sos>`` then the target shifted right by one.

    tgt (B, T) = sorted ids, ``<eos>``, ``<pad>``...  ->  tgt_in (B, T) = ``<sos>``, sorted ids...
    """
    raise NotImplementedError('decoder_inputs: prepend a column of <sos> and drop the last target column: tgt_in[:, t] = tgt[:, t-1]')


def used_positions(src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
    """For the pointer: which input positions the values read so far have used up.

    src (B, S), tgt_in (B, T) -> used (B, T, S) bool: ``used[b, t, j]`` is True when position j
    was emitted before step t (or is padding). Repeated values are the pitfall: the k-th copy of
    a value emitted uses up the k-th occurrence of that value in the input, so two equal inputs
    are used one at a time.
    """
    raise NotImplementedError('used_positions: rank[b, j] = how many earlier positions of row b hold the same value as position j; count[b, t, j] = how many of tgt_in[b, 1..t] equal src[b, j] (a cumsum over t); position j is used at step t when rank < count; padding is always "used".')


class Sorter(nn.Module):
    """Embedding + LSTM encoder; an LSTM decoder started from the encoder's final state.

    seq2seq:   the decoder's output goes through a linear layer to vocabulary logits.
    attention: each decoder output attends (dot product, padding masked) over the encoder
               outputs; [output; context] -> tanh layer -> vocabulary logits (Luong et al. 2015).
    pointer:   the decoder scores every input position, u_j = v^T tanh(W_k [x_j; e_j] + W_q d_t),
               and emits the value at the best unused position; <eos> only once all are used,
               so its output is always a permutation of the input. The decoder's input is the
               embedding of the value it emitted last.
    """

    def __init__(self, config: SorterConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError('Sorter.__init__: nn.Embedding(vocab_size, embed_dim, padding_idx=0) shared by encoder and decoder; two nn.LSTM(embed_dim, hidden_size, batch_first=True); then, per arch, an output layer (seq2seq), attention layers (attention), or key/query/score layers (pointer).')

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """Optional helper: src (B, S) ids, src_lengths (B,) >= 1 -> outputs (B, S, H), state
        (h, c) each (1, B, H).

        The state must be each sequence's own final state, at its true last position, not after
        the padding: pack the batch (pack_padded_sequence, enforce_sorted=False), so a row's
        result does not depend on how much padding the other rows force on it.
        """
        raise NotImplementedError('Sorter.encode: pack_padded_sequence(self.embed(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False), run the encoder, pad_packed_sequence(..., total_length=S)')

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor,
                tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V).

        tgt_in is ``<sos>`` followed by the true sorted ids (see :func:`decoder_inputs`): at
        every step the decoder reads the correct previous token, not its own guess, so all T
        steps run in one call of the decoder LSTM. Mask the padded input positions out of any
        attention. For the pointer, the logits are log-probabilities over the vocabulary: the
        probability of value v is the sum of the pointer's probabilities of the unused
        positions that hold v (repeated values!), and <eos> gets the rest.
        """
        raise NotImplementedError('Sorter.forward: enc, state = self.encode(...); dec, _ = self.decoder(self.embed(tgt_in), state) pointer: scores (B, T, S) masked by used_positions; log_softmax; then gather the probabilities per value with a one-hot of src (B, S, V) and a batched matmul.')

    def _attend(self, dec: torch.Tensor, enc: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Optional helper, attention: dec (B, T, H), enc (B, S, H), valid (B, S) bool -> logits
        (B, T, V)."""
        raise NotImplementedError('Sorter._attend: scores = dec @ W(enc)^T, padding filled with -inf before the softmax over S')

    def _keys(self, src: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        """Optional helper, pointer keys: src (B, S), enc (B, S, H) -> W_k [x_j; e_j] (B, S, H)."""
        raise NotImplementedError("Sorter._keys: concatenate each position's embedding with its encoder output, then self.key")

    def _pointer_scores(self, dec: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Optional helper, Vinyals' pointer scores u_j = v^T tanh(k_j + W_q d_t): dec (B, T, H),
        keys (B, S, H) -> u (B, T, S)."""
        raise NotImplementedError('Sorter._pointer_scores: broadcast keys (B, 1, S, H) against queries (B, T, 1, H), tanh, then self.score')

    def _pointer_log_probs(self, dec: torch.Tensor, keys: torch.Tensor,
                           used: torch.Tensor) -> torch.Tensor:
        """Optional helper: dec (B, T, H), keys (B, S, H), used (B, T, S) -> log-probs
        (B, T, 1 + S).

        Column 0 is <eos>, allowed only where every position is used (and then certain);
        used positions get probability 0.
        """
        raise NotImplementedError('Sorter._pointer_log_probs: masked_fill(used, -inf) on the scores; the <eos> column is 0 where used.all(-1), else -inf; concatenate [<eos>, scores] and log_softmax over the last dimension')

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the real target tokens (values and <eos>, not <pad>).

        tgt (B, T) = sorted ids, ``<eos>``, ``<pad>``... -> a scalar.
        """
        raise NotImplementedError('Sorter.loss: logits = self(src, src_lengths, decoder_inputs(tgt)); F.cross_entropy over the flattened (B*T, V) logits with ignore_index=PAD_ID')

    @torch.no_grad()
    def generate(self, src: torch.Tensor, src_lengths: torch.Tensor,
                 max_len: int | None = None) -> torch.Tensor:
        """Batched greedy decoding: src (B, S), src_lengths (B,) -> ids (B, L) long.

        Start every row from ``<sos>``; at each step feed the token just emitted and take the
        most likely next one. A row stops at its first ``<eos>`` and is ``<pad>`` after it. Each
        row emits at most ``max_len`` values (default: its own input length) and then ``<eos>``,
        so L <= max_len + 1 and every row is terminated even if the model never says ``<eos>``.
        Only values and ``<eos>`` may come out (never <pad>, <unk> or <sos>). Rows must not
        influence each other: a row's output is the same alone or in any batch.
        Pitfalls: an early <eos> (the model stops short), and repeated input values.
        """
        raise NotImplementedError('Sorter.generate: loop over steps with the decoder on (B, 1) inputs, carrying (h, c); keep a `finished` mask; force <eos> when a row reaches its cap; stop when all finished.')
