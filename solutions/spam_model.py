"""The spam classifier: tokens -> embeddings -> LSTM over the sequence -> one summary vector ->
linear head -> one spam logit per message (a many-to-one recurrent network).

Your part: build the layers in ``SpamClassifier.__init__`` and write ``forward``. The one hard
requirement is padding invariance: a message must get the same logit alone and inside a padded
batch, so neither the LSTM nor the summary may ever look at a padding position.

Required (the checks call each of them): ``SpamClassifier.__init__``,
``SpamClassifier.forward``. Optional helpers (the reference's way to divide the work; no check
calls them, so use them, change them or leave them unwritten): ``reverse_within_length``,
``SpamClassifier._summarise``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

POOLINGS = ("last", "max", "mean", "attention")


@dataclass(frozen=True)
class SpamModelConfig:
    """Sizes and options of :class:`SpamClassifier`; ``vocab_size`` comes from the tokenizer."""

    vocab_size: int
    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.2      # on the embeddings, between LSTM layers and before the head
    pooling: str = "max"      # summary: "last" hidden state, masked "max" / "mean" over time, or
    #                           "attention": a learnt weighted mean over time (see forward)
    pad_id: int = 0

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.vocab_size < 1 or self.embed_dim < 1 or self.hidden_size < 1 or self.num_layers < 1:
            raise ValueError("vocab_size, embed_dim, hidden_size and num_layers must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def reverse_within_length(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of the time-major ``x`` (T, B, D) inside its own length.

    Column b ``[a, b, c, pad, pad]`` with length 3 becomes ``[c, b, a, pad, pad]``; padding
    stays in place, and applying it twice gives ``x`` back. Optional helper: only needed if you
    run the backward direction yourself instead of packing.
    """
    # BEGIN SOLUTION
    T, B, D = x.shape
    t = torch.arange(T, device=x.device).unsqueeze(1)                 # (T, 1)
    last = (lengths.to(x.device) - 1).unsqueeze(0)                     # (1, B)
    index = torch.where(t <= last, last - t, t)                        # (T, B)
    # Rows of the flattened (T*B, D) tensor: index_select copies whole rows (fast); gather
    # with an expanded index would address every element.
    flat = (index * B + torch.arange(B, device=x.device).unsqueeze(0)).reshape(-1)  # (T*B,)
    return x.reshape(T * B, D).index_select(0, flat).reshape(T, B, D)  # (T, B, D)
    # END SOLUTION


class SpamClassifier(nn.Module):
    """Embedding(padding_idx) -> (Bi)LSTM -> summary -> dropout -> Linear -> one logit."""

    def __init__(self, config: SpamModelConfig):
        super().__init__()
        self.config = config
        # BEGIN SOLUTION
        # HINT: nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id), an nn.LSTM with
        # HINT: batch_first=True (bidirectional, num_layers from the config), nn.Dropout and an
        # HINT: nn.Linear from the summary size (hidden_size, times 2 if bidirectional) to 1;
        # HINT: for "attention" also self.attend = nn.Linear(summary size, 1), the position scorer.
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id)
        # One single-layer, one-direction LSTM per layer and direction, so that each backward
        # pass can read its own reversed input (see forward). The parameters are exactly those
        # of nn.LSTM(bidirectional=True, num_layers=L); the tests copy them into one and compare.
        directions = 2 if c.bidirectional else 1
        self.forward_layers = nn.ModuleList(
            nn.LSTM(c.embed_dim if i == 0 else directions * c.hidden_size, c.hidden_size,
                    batch_first=False) for i in range(c.num_layers))
        self.backward_layers = nn.ModuleList(
            nn.LSTM(c.embed_dim if i == 0 else directions * c.hidden_size, c.hidden_size,
                    batch_first=False) for i in range(c.num_layers)) if c.bidirectional else None
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(directions * c.hidden_size, 1)
        if c.pooling == "attention":
            self.attend = nn.Linear(directions * c.hidden_size, 1)   # one score per position
        # The wide part of a wide-and-deep model (Cheng et al. 2016, "Wide & Deep Learning for
        # Recommender Systems"): one weight per token id, summed over the message's distinct
        # tokens (scaled by 1/sqrt of their count, as an L2-normalised binary bag) and added to
        # the logit, so the model holds a linear bag-of-words classifier beside the LSTM. It
        # starts at zero: the untrained model is the LSTM alone.
        self.wide = nn.Parameter(torch.zeros(c.vocab_size))
        # END SOLUTION

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Spam logits for a padded batch.

        Args:
            ids: (B, T) long token ids, padded on the right with ``pad_id``.
            lengths: (B,) long, the true length of each row (1 <= length <= T).
        Returns:
            (B,) float logits; ``torch.sigmoid(logits)`` is the spam probability.

        Steps: embed (B, T, E) -> LSTM outputs (B, T, D*H), D = 2 if bidirectional -> a summary
        (B, D*H) -> dropout -> linear -> (B, 1) -> squeeze to (B,).

        Padding must not change a logit. The standard tool is
        ``nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
        enforce_sorted=False)``: the LSTM then stops at each sequence's end, and its final
        hidden state ``h_n`` (num_layers * D, B, H) holds, per direction, the state after the
        last real token (forward) and after the first token (backward). For pooling, unpack the
        outputs with ``pad_packed_sequence(..., batch_first=True, total_length=T)`` and mask the
        padded positions: ``max`` must ignore them (fill with -inf first), ``mean`` divides by
        the true length, not by T. ``attention`` scores each position's output (B, T, D*H) with
        ``self.attend`` -> (B, T), sets the padded scores to -inf, takes the softmax over time
        (weights summing to 1 over the real positions) and returns the weighted sum of the
        outputs (B, D*H): a mean over time whose weights the model learns, so one telling
        token (a mailing-list tag in the subject, say) can outweigh a long body.

        Pitfalls: ``outputs[:, -1]`` is the state after the padding, not after the message; a
        backward LSTM run over a right-padded batch starts on the padding. An equivalent,
        faster way without packing: run the forward LSTM over the padded batch and read each
        row at its own last position (it never sees the padding before that), and run the
        backward direction over each sequence reversed within its own length
        (:func:`reverse_within_length`), then reverse its outputs back.
        """
        # BEGIN SOLUTION
        # HINT: embed, pack with pack_padded_sequence(lengths.cpu(), enforce_sorted=False), run the
        # HINT: LSTM, then summarise with h_n ("last"), masked max/mean over the unpacked outputs,
        # HINT: or their softmax-weighted sum ("attention", weights from self.attend, masked).
        B, T = ids.shape
        lengths = lengths.to(ids.device).clamp(min=1, max=T)               # (B,)
        # Time-major inside: nn.LSTM's kernels want (T, B, .), and batch_first would cost a
        # transposed copy of every layer's input and output.
        x = self.dropout(self.embedding(ids.t()))                           # (T, B, E)
        for i, fwd in enumerate(self.forward_layers):
            outputs = [fwd(x)[0]]                                           # [(T, B, H)]
            if self.backward_layers is not None:
                # Step t of `back` has read the sequence from its end down to len-1-t: it is in
                # reversed time order, which pooling and "last" do not mind; the next layer
                # needs it aligned again.
                back = self.backward_layers[i](reverse_within_length(x, lengths))[0]  # (T, B, H)
                outputs.append(back)
            if i + 1 < len(self.forward_layers):
                aligned = outputs[:1] + [reverse_within_length(o, lengths) for o in outputs[1:]]
                x = self.dropout(torch.cat(aligned, dim=-1))                # (T, B, D*H)
        mask = torch.arange(T, device=ids.device).unsqueeze(1) < lengths.unsqueeze(0)  # (T, B)
        if self.config.pooling == "attention":
            # One weight per position from both directions' outputs at that position, so the
            # backward outputs are first put back in time order.
            aligned = outputs[:1] + [reverse_within_length(o, lengths) for o in outputs[1:]]
            both = torch.cat(aligned, dim=-1)                               # (T, B, D*H)
            scores = self.attend(both).squeeze(-1)                          # (T, B)
            weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0)  # (T, B)
            summary = (weights.unsqueeze(-1) * both).sum(dim=0)             # (B, D*H)
        else:
            pooled = [self._summarise(o, lengths, mask) for o in outputs]  # D x (B, H)
            summary = torch.cat(pooled, dim=-1)                             # (B, D*H)
        # Wide part: each distinct real token once (sorted ids, first of each run).
        tokens = ids.masked_fill(~mask.t(), self.config.pad_id).sort(dim=1).values  # (B, T)
        first = torch.ones_like(tokens, dtype=torch.bool)                   # (B, T)
        first[:, 1:] = tokens[:, 1:] != tokens[:, :-1]
        first &= tokens != self.config.pad_id
        bag = (self.wide[tokens] * first).sum(dim=1)                        # (B,)
        bag = bag / first.sum(dim=1).clamp(min=1).to(bag.dtype).sqrt()      # (B,)
        return self.head(self.dropout(summary)).squeeze(-1) + bag           # (B, 1) -> (B,)
        # END SOLUTION

    def _summarise(self, out: Tensor, lengths: Tensor, mask: Tensor) -> Tensor:
        """Optional helper (``forward`` may summarise in its own way): one direction's outputs
        (T, B, H) -> (B, H): the state after the last real token, or the max / mean over the
        real positions only (``mask`` (T, B) is True there)."""
        # BEGIN SOLUTION
        if self.config.pooling == "last":
            return out[lengths - 1, torch.arange(out.size(1), device=out.device)]  # (B, H)
        if self.config.pooling == "max":
            return out.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=0)  # (B, H)
        summed = (out * mask.unsqueeze(-1)).sum(dim=0)                     # (B, H)
        return summed / lengths.unsqueeze(1).to(out.dtype)                 # (B, H)
        # END SOLUTION
