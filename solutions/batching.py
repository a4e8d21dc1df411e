"""Padding and length-bucketed batching: from lists of token ids to the tensors an LSTM eats.

Your task: messages have very different lengths (median 166 tokens, some over 2,800), but a
batch is one rectangular tensor. ``pad_batch`` truncates and pads a list of id lists to a
``(B, T)`` tensor plus the true lengths (what ``torch.nn.utils.rnn.pack_padded_sequence`` or a
"read the output at the last real position" model needs); ``collate`` does the same for
``(ids, label)`` pairs, for a DataLoader's ``collate_fn``; ``BucketBatchSampler`` groups messages
of similar length into the same batch so that little compute is spent on padding.

Pitfalls: id 0 is ``<pad>`` and is never a real token; lengths must be >= 1 (pack_padded_sequence
refuses 0), so an empty message becomes a single pad token with length 1; truncation keeps the
*start* of a message (the subject comes first); every random choice comes from a seeded, local
``torch.Generator`` (never the global RNG), so the same seed gives the same batches.

Required (the checks call each of them): ``pad_batch``, ``collate``,
``BucketBatchSampler.__iter__``, ``BucketBatchSampler.__len__``. There are no optional helpers
in this module.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pad_batch(seqs: list[list[int]], pad_id: int = 0,
              max_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad ``seqs`` on the right into one tensor.

    Each sequence is first truncated to its first ``max_length`` ids (when given); an empty one
    becomes ``[pad_id]``. Returns ``ids`` (B, T) long, where T is the longest length after
    truncation and positions past a sequence's end hold ``pad_id``, and ``lengths`` (B,) long,
    each >= 1. ``seqs`` must not be empty and ``max_length`` must be >= 1 (ValueError otherwise).

    Example: ``pad_batch([[5, 6, 7], [8], []])`` -> ids ``[[5, 6, 7], [8, 0, 0], [0, 0, 0]]``,
    lengths ``[3, 1, 1]``.
    """
    # BEGIN SOLUTION
    # HINT: truncate each sequence to max_length, an empty one becomes [pad_id]; T = the longest;
    # HINT: ids = torch.full((B, T), pad_id, dtype=torch.long), then copy each sequence into its row
    if len(seqs) == 0:
        raise ValueError("pad_batch: got an empty batch (no sequences)")
    if max_length is not None and max_length < 1:
        raise ValueError(f"pad_batch: max_length must be at least 1, got {max_length}")
    cut = [list(s[:max_length]) if max_length is not None else list(s) for s in seqs]
    cut = [s if s else [pad_id] for s in cut]
    lengths = torch.tensor([len(s) for s in cut], dtype=torch.long)
    width = int(lengths.max())
    ids = torch.tensor([s + [pad_id] * (width - len(s)) for s in cut], dtype=torch.long)  # (B, T)
    return ids, lengths
    # END SOLUTION


def collate(batch: list[tuple[list[int], int]], pad_id: int = 0,
            max_length: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Turn ``(ids, label)`` pairs into ``ids`` (B, T) long, ``lengths`` (B,) long, ``labels`` (B,) float.

    Padding and truncation as in :func:`pad_batch`; labels are 0.0 (ham) or 1.0 (spam), float32,
    ready for ``BCEWithLogitsLoss``. Use it as ``DataLoader(..., collate_fn=functools.partial(
    collate, pad_id=0, max_length=400))``.
    """
    # BEGIN SOLUTION
    # HINT: split the pairs, call pad_batch, labels = torch.tensor(labels, dtype=torch.float32)
    if len(batch) == 0:
        raise ValueError("collate: got an empty batch (no examples)")
    seqs = [ids for ids, _ in batch]
    labels = torch.tensor([float(label) for _, label in batch], dtype=torch.float32)  # (B,)
    ids, lengths = pad_batch(seqs, pad_id=pad_id, max_length=max_length)
    return ids, lengths, labels
    # END SOLUTION


class BucketBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batches of indices whose sequences have similar lengths, for a DataLoader's ``batch_sampler``.

    One epoch (``iter(sampler)``), with ``shuffle``:
      1. shuffle all indices with a local ``torch.Generator`` seeded by ``seed + epoch``;
      2. cut that order into buckets of ``batch_size * bucket_factor`` indices and sort each
         bucket by length (a stable sort, so ties keep the shuffled order);
      3. cut each bucket into batches of ``batch_size`` (only the very last batch may be smaller);
      4. shuffle the list of batches with the same generator, so lengths do not rise steadily.
    Without ``shuffle``: the same steps in the original index order, minus steps 1 and 4.
    Every index appears exactly once per epoch; the same seed and epoch give the same batches;
    :meth:`set_epoch` changes the order from one epoch to the next. ``len(sampler)`` is the
    number of batches, ``ceil(len(lengths) / batch_size)``.
    """

    def __init__(self, lengths: list[int], batch_size: int, shuffle: bool = True, seed: int = 0,
                 bucket_factor: int = 50):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if bucket_factor < 1:
            raise ValueError(f"bucket_factor must be at least 1, got {bucket_factor}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.bucket_factor = int(bucket_factor)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch`` on the next iteration (call it before each epoch)."""
        self.epoch = int(epoch)

    def __iter__(self):
        # BEGIN SOLUTION
        # HINT: g = torch.Generator(); g.manual_seed(seed + epoch); torch.randperm(n, generator=g)
        n, lengths = len(self.lengths), self.lengths
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        bucket = self.batch_size * self.bucket_factor
        batches = []
        for start in range(0, n, bucket):
            chunk = sorted(order[start:start + bucket], key=lengths.__getitem__)
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        yield from batches
        # END SOLUTION

    def __len__(self) -> int:
        # BEGIN SOLUTION
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size
        # END SOLUTION
