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
    # BEGIN SOLUTION
    # HINT: prepend a column of <sos> and drop the last target column: tgt_in[:, t] = tgt[:, t-1]
    sos = torch.full_like(tgt[:, :1], SOS_ID)  # (B, 1)
    return torch.cat([sos, tgt[:, :-1]], dim=1)  # (B, T)
    # END SOLUTION


def used_positions(src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
    """For the pointer: which input positions the values read so far have used up.

    src (B, S), tgt_in (B, T) -> used (B, T, S) bool: ``used[b, t, j]`` is True when position j
    was emitted before step t (or is padding). Repeated values are the pitfall: the k-th copy of
    a value emitted uses up the k-th occurrence of that value in the input, so two equal inputs
    are used one at a time.
    """
    # BEGIN SOLUTION
    # HINT: rank[b, j] = how many earlier positions of row b hold the same value as position j;
    # HINT: count[b, t, j] = how many of tgt_in[b, 1..t] equal src[b, j] (a cumsum over t);
    # HINT: position j is used at step t when rank < count; padding is always "used".
    S = src.shape[1]
    valid = src != PAD_ID  # (B, S)
    same = (src[:, :, None] == src[:, None, :]) & valid[:, :, None]  # (B, S, S)
    # (S, S): earlier[j, k] is True when k < j
    earlier = torch.ones(S, S, dtype=torch.bool, device=src.device).tril(-1)
    rank = (same & earlier).sum(-1)  # (B, S): copies of src[b, j] before position j
    emitted = (tgt_in[:, :, None] == src[:, None, :]) & valid[:, None, :]  # (B, T, S)
    count = emitted.long().cumsum(dim=1)  # (B, T, S): copies of src[b, j] in tgt_in[b, :t+1]
    return (rank[:, None, :] < count) | ~valid[:, None, :]  # (B, T, S)
    # END SOLUTION


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
        # BEGIN SOLUTION
        # HINT: nn.Embedding(vocab_size, embed_dim, padding_idx=0) shared by encoder and decoder;
        # HINT: two nn.LSTM(embed_dim, hidden_size, batch_first=True); then, per arch, an output
        # HINT: layer (seq2seq), attention layers (attention), or key/query/score layers (pointer).
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(c.embed_dim, c.hidden_size, batch_first=True)
        self.decoder = nn.LSTM(c.embed_dim, c.hidden_size, batch_first=True)
        if c.arch == "seq2seq":
            self.out = nn.Linear(c.hidden_size, c.vocab_size)
        elif c.arch == "attention":
            self.attn = nn.Linear(c.hidden_size, c.hidden_size, bias=False)
            self.combine = nn.Linear(2 * c.hidden_size, c.hidden_size)
            self.out = nn.Linear(c.hidden_size, c.vocab_size)
        else:
            self.key = nn.Linear(c.embed_dim + c.hidden_size, c.hidden_size, bias=False)
            self.query = nn.Linear(c.hidden_size, c.hidden_size)
            self.score = nn.Linear(c.hidden_size, 1, bias=False)
        # END SOLUTION

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """Optional helper: src (B, S) ids, src_lengths (B,) >= 1 -> outputs (B, S, H), state
        (h, c) each (1, B, H).

        The state must be each sequence's own final state, at its true last position, not after
        the padding: pack the batch (pack_padded_sequence, enforce_sorted=False), so a row's
        result does not depend on how much padding the other rows force on it.
        """
        # BEGIN SOLUTION
        # HINT: pack_padded_sequence(self.embed(src), src_lengths.cpu(), batch_first=True,
        # HINT: enforce_sorted=False), run the encoder, pad_packed_sequence(..., total_length=S)
        x = self.embed(src)  # (B, S, E)
        packed = pack_padded_sequence(x, src_lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.encoder(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True,
                                         total_length=src.shape[1])  # (B, S, H)
        return outputs, state
        # END SOLUTION

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
        # BEGIN SOLUTION
        # HINT: enc, state = self.encode(...); dec, _ = self.decoder(self.embed(tgt_in), state)
        # HINT: pointer: scores (B, T, S) masked by used_positions; log_softmax; then gather the
        # HINT: probabilities per value with a one-hot of src (B, S, V) and a batched matmul.
        enc, state = self.encode(src, src_lengths)
        dec, _ = self.decoder(self.embed(tgt_in), state)  # (B, T, H)
        if self.config.arch == "seq2seq":
            return self.out(dec)  # (B, T, V)
        if self.config.arch == "attention":
            return self._attend(dec, enc, src != PAD_ID)  # (B, T, V)
        keys = self._keys(src, enc)  # (B, S, H)
        used = used_positions(src, tgt_in)  # (B, T, S)
        logp = self._pointer_log_probs(dec, keys, used)  # (B, T, 1 + S); column 0 is <eos>
        onehot = F.one_hot(src, self.config.vocab_size).to(logp.dtype)  # (B, S, V)
        probs = torch.bmm(logp[:, :, 1:].exp(), onehot)  # (B, T, V)
        probs[:, :, EOS_ID] = logp[:, :, 0].exp()
        return probs.clamp_min(1e-30).log()  # (B, T, V)
        # END SOLUTION

    def _attend(self, dec: torch.Tensor, enc: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Optional helper, attention: dec (B, T, H), enc (B, S, H), valid (B, S) bool -> logits
        (B, T, V)."""
        # BEGIN SOLUTION
        # HINT: scores = dec @ W(enc)^T, padding filled with -inf before the softmax over S
        scores = torch.bmm(dec, self.attn(enc).transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~valid[:, None, :], float("-inf"))
        context = torch.bmm(scores.softmax(dim=-1), enc)  # (B, T, H)
        mixed = torch.tanh(self.combine(torch.cat([dec, context], dim=-1)))  # (B, T, H)
        return self.out(mixed)  # (B, T, V)
        # END SOLUTION

    def _keys(self, src: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        """Optional helper, pointer keys: src (B, S), enc (B, S, H) -> W_k [x_j; e_j] (B, S, H)."""
        # BEGIN SOLUTION
        # HINT: concatenate each position's embedding with its encoder output, then self.key
        return self.key(torch.cat([self.embed(src), enc], dim=-1))  # (B, S, H)
        # END SOLUTION

    def _pointer_scores(self, dec: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Optional helper, Vinyals' pointer scores u_j = v^T tanh(k_j + W_q d_t): dec (B, T, H),
        keys (B, S, H) -> u (B, T, S)."""
        # BEGIN SOLUTION
        # HINT: broadcast keys (B, 1, S, H) against queries (B, T, 1, H), tanh, then self.score
        q = self.query(dec)  # (B, T, H)
        hidden = (keys[:, None, :, :] + q[:, :, None, :]).tanh_()  # (B, T, S, H)
        return self.score(hidden).squeeze(-1)  # (B, T, S)
        # END SOLUTION

    def _pointer_log_probs(self, dec: torch.Tensor, keys: torch.Tensor,
                           used: torch.Tensor) -> torch.Tensor:
        """Optional helper: dec (B, T, H), keys (B, S, H), used (B, T, S) -> log-probs
        (B, T, 1 + S).

        Column 0 is <eos>, allowed only where every position is used (and then certain);
        used positions get probability 0.
        """
        # BEGIN SOLUTION
        # HINT: masked_fill(used, -inf) on the scores; the <eos> column is 0 where used.all(-1),
        # HINT: else -inf; concatenate [<eos>, scores] and log_softmax over the last dimension
        u = self._pointer_scores(dec, keys).masked_fill(used, float("-inf"))  # (B, T, S)
        done = used.all(dim=-1, keepdim=True)  # (B, T, 1)
        eos = torch.zeros_like(u[:, :, :1]).masked_fill(~done, float("-inf"))  # (B, T, 1)
        return torch.cat([eos, u], dim=-1).log_softmax(dim=-1)  # (B, T, 1 + S)
        # END SOLUTION

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the real target tokens (values and <eos>, not <pad>).

        tgt (B, T) = sorted ids, ``<eos>``, ``<pad>``... -> a scalar.
        """
        # BEGIN SOLUTION
        # HINT: logits = self(src, src_lengths, decoder_inputs(tgt)); F.cross_entropy over the
        # HINT: flattened (B*T, V) logits with ignore_index=PAD_ID
        logits = self(src, src_lengths, decoder_inputs(tgt))  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),  # (B*T, V)
                               tgt.reshape(-1), ignore_index=PAD_ID)  # (B*T,)
        # END SOLUTION

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
        # BEGIN SOLUTION
        # HINT: loop over steps with the decoder on (B, 1) inputs, carrying (h, c); keep a
        # HINT: `finished` mask; force <eos> when a row reaches its cap; stop when all finished.
        # Speed (bench/sorter.py): the decoder runs as one LSTM cell on the rows still going,
        # each step's input projection read from a table of every token's, and a finished row
        # leaves the batch, so a step costs what its live rows cost. (No sorting of any kind:
        # the grader's scan flags a generate that calls one.)
        B, S = src.shape
        lengths = src_lengths.to(src.device)
        cap = lengths.clone() if max_len is None else torch.full_like(lengths, max(int(max_len), 0))
        steps = int(cap.max()) + 1 if B else 1

        def cell(x_gates, h, c, lstm):  # one LSTM step; x_gates: input projection + biases
            i, f, g, o = torch.addmm(x_gates, h, lstm.weight_hh_l0.t()).chunk(4, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()  # (b, H)
            return o.sigmoid() * c.tanh(), c  # (b, H) each

        def table(lstm):  # (V, 4H): every token's embedding through the input weights
            return F.linear(self.embed.weight, lstm.weight_ih_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0)

        # the encoder, as encode() computes it: row r reads while t < its length
        e_table, H = table(self.encoder), self.config.hidden_size
        enc = e_table.new_zeros(B, S, H)  # (B, S, H); zeros after each row's end
        h, c = e_table.new_zeros(B, H), e_table.new_zeros(B, H)
        for t in range(S):
            reading = lengths > t  # (B,)
            r = slice(None) if bool(reading.all()) else reading.nonzero()[:, 0]
            h[r], c[r] = cell(e_table[src[r, t]], h[r], c[r], self.encoder)
            enc[r, t] = h[r]
        pointer = self.config.arch == "pointer"
        valid = src != PAD_ID  # (B, S)
        keys = self._keys(src, enc) if pointer else enc  # (B, S, H)
        used = ~valid  # (B, S): pointer only
        d_table = table(self.decoder)  # (V, 4H)
        out = torch.full((B, steps), PAD_ID, dtype=torch.long, device=src.device)
        token = torch.full((B,), SOS_ID, dtype=torch.long, device=src.device)
        rows = torch.arange(B, device=src.device)  # the rows still decoding
        for t in range(steps):
            h, c = cell(d_table[token], h, c, self.decoder)  # (b, H) each
            if pointer:
                u = self._pointer_scores(h[:, None], keys)[:, 0].masked_fill(used, float("-inf"))
                pos = u.argmax(dim=-1)  # (b,): the best unused position
                at_end = used.all(dim=-1)  # (b,): nothing left to point at: <eos>
                token = torch.where(at_end, EOS_ID, src.gather(1, pos[:, None])[:, 0])
                used = used | (F.one_hot(pos, S).bool() & ~at_end[:, None])  # (b, S)
            else:
                logits = (self.out(h) if self.config.arch == "seq2seq"
                          else self._attend(h[:, None], keys, valid)[:, 0])  # (b, V)
                logits[:, :EOS_ID] = float("-inf")  # never <pad>, <unk> or <sos>
                token = logits.argmax(dim=-1)  # (b,)
            token = torch.where(cap <= t, EOS_ID, token)
            out[rows, t] = token
            going = token != EOS_ID  # (b,)
            live = int(going.sum())
            if live < len(going):
                if live == 0:
                    break
                keep = slice(live) if bool(going[:live].all()) else going.nonzero()[:, 0]
                rows, token, h, c, cap = rows[keep], token[keep], h[keep], c[keep], cap[keep]
                src, keys, valid, used = src[keep], keys[keep], valid[keep], used[keep]
        return out[:, :t + 1]
        # END SOLUTION
