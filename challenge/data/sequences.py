"""Number sequences for the sorter: seeded (input, sorted target) pairs, their token ids,
collate for fixed sets, and an endless stream of fresh batches for training. (The instructor's
hidden sets come from the same :func:`make_sequences`, seeded from a secret, in the grader.)

Token ids: ``<pad>``=0, ``<unk>``=1, ``<sos>``=2, ``<eos>``=3, value ``v`` -> ``v + 4``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import torch

from challenge.errors import ChallengeError

PAD_ID, UNK_ID, SOS_ID, EOS_ID = 0, 1, 2, 3
VALUE_OFFSET = 4
SPECIAL_TOKENS = ("<pad>", "<unk>", "<sos>", "<eos>")

Pair = tuple[list[int], list[int]]


@dataclass(frozen=True)
class SequenceConfig:
    """Lengths ``min_len..max_len`` and values ``low..high``, both inclusive."""

    min_len: int = 1
    max_len: int = 10
    low: int = 0
    high: int = 99

    def __post_init__(self) -> None:
        for name in ("min_len", "max_len", "low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ChallengeError(f"{name} must be an integer, got {value!r}")
        if self.min_len < 1:
            raise ChallengeError(f"min_len must be at least 1, got {self.min_len}")
        if self.max_len < self.min_len:
            raise ChallengeError(f"max_len ({self.max_len}) must be at least min_len "
                                 f"({self.min_len}); pass a larger max_len")
        if self.low < 0:
            raise ChallengeError(f"low must be 0 or more (values map to ids v + {VALUE_OFFSET}), "
                                 f"got {self.low}")
        if self.high < self.low:
            raise ChallengeError(f"high ({self.high}) must be at least low ({self.low})")

    @property
    def vocab_size(self) -> int:
        """Ids the model must know: the 4 special tokens and every value 0..high."""
        return self.high + 1 + VALUE_OFFSET

    def to_dict(self) -> dict:
        return asdict(self)


def id_scheme(config: SequenceConfig) -> dict:
    """The token-id convention, as stored in a sorter checkpoint's ``tokenizer`` field."""
    return {"kind": "number-sequences", "special_tokens": list(SPECIAL_TOKENS),
            "value_offset": VALUE_OFFSET, "low": config.low, "high": config.high,
            "vocab_size": config.vocab_size}


def encode_values(values: Sequence[int]) -> list[int]:
    """Values -> token ids (``v + 4``)."""
    return [int(v) + VALUE_OFFSET for v in values]


def decode_ids(ids: Sequence[int]) -> list[int]:
    """Token ids -> values, stopping at the first ``<eos>``; other special ids are dropped."""
    values = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i >= VALUE_OFFSET:
            values.append(i - VALUE_OFFSET)
    return values


def make_sequences(n: int, seed: int, min_len: int = 1, max_len: int = 10, low: int = 0,
                   high: int = 99) -> list[Pair]:
    """``n`` pairs ``(values, sorted(values))`` with uniform lengths and values, deterministic in
    ``seed`` (a local generator; global random state is neither used nor changed)."""
    config = SequenceConfig(min_len, max_len, low, high)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ChallengeError(f"the number of sequences must be a non-negative integer, got {n!r}")
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        length = rng.randint(config.min_len, config.max_len)
        values = [rng.randint(config.low, config.high) for _ in range(length)]
        pairs.append((values, sorted(values)))
    return pairs


def collate(batch: Sequence[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pairs -> ``src`` (B, S) ids padded with ``<pad>``, ``src_lengths`` (B,), and ``tgt`` (B, S+1):
    the sorted ids, then ``<eos>``, then ``<pad>``."""
    if len(batch) == 0:
        raise ChallengeError("cannot collate an empty batch of sequences")
    lengths = torch.tensor([len(values) for values, _ in batch], dtype=torch.long)
    if int(lengths.min()) < 1:
        raise ChallengeError("every sequence needs at least one value; drop empty sequences")
    width = int(lengths.max())
    src = torch.full((len(batch), width), PAD_ID, dtype=torch.long)
    tgt = torch.full((len(batch), width + 1), PAD_ID, dtype=torch.long)
    for row, (values, target) in enumerate(batch):
        src[row, :len(values)] = torch.tensor(encode_values(values), dtype=torch.long)
        tgt[row, :len(target)] = torch.tensor(encode_values(target), dtype=torch.long)
        tgt[row, len(target)] = EOS_ID
    return src, lengths, tgt


def random_batch(config: SequenceConfig, batch_size: int, generator: torch.Generator,
                 length_power: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One freshly generated batch in the :func:`collate` format, drawn from ``generator``.

    A length L is drawn with probability proportional to ``L ** length_power``: 0 is uniform;
    1 shows long sequences more often (they hold more close values to tell apart, and train
    more decoding steps).
    """
    if length_power == 0:
        lengths = torch.randint(config.min_len, config.max_len + 1, (batch_size,),
                                generator=generator)
    else:
        weights = torch.arange(config.min_len, config.max_len + 1, dtype=torch.float64)
        lengths = config.min_len + torch.multinomial(weights ** length_power, batch_size,
                                                     replacement=True, generator=generator)
    width = int(lengths.max())
    ids = torch.randint(config.low + VALUE_OFFSET, config.high + VALUE_OFFSET + 1,
                        (batch_size, width), generator=generator)
    pad = torch.arange(width)[None, :] >= lengths[:, None]  # (B, S)
    src = ids.masked_fill(pad, PAD_ID)
    # padding sorts last when its key is larger than every value id
    ordered = ids.masked_fill(pad, config.high + VALUE_OFFSET + 1).sort(dim=1).values  # (B, S)
    tgt = torch.cat([ordered.masked_fill(pad, PAD_ID),
                     torch.full((batch_size, 1), PAD_ID, dtype=torch.long)], dim=1)  # (B, S+1)
    tgt[torch.arange(batch_size), lengths] = EOS_ID
    return src, lengths, tgt


class SequenceStream:
    """An endless, seeded stream of fresh batches: iterate it as a training loader."""

    def __init__(self, config: SequenceConfig, batch_size: int = 128, seed: int = 0,
                 length_power: float = 0.0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ChallengeError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not 0 <= length_power <= 4:
            raise ChallengeError(f"length_power must be between 0 (uniform lengths) and 4, "
                                 f"got {length_power!r}")
        self.config, self.batch_size, self.seed = config, batch_size, seed
        self.length_power = length_power
        self._generator = torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        while True:
            yield random_batch(self.config, self.batch_size, self._generator, self.length_power)
