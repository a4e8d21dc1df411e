"""Public checks of the ``batching`` part: right padding to the longest sequence, pad ids,
truncation that keeps the start, empty sequences, ``collate``'s labels, and the bucket sampler's
coverage, length grouping and seeded determinism.

Expected values are built from the inputs here, never from a reference implementation.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import torch

from challenge.checks.base import (
    Check,
    CheckFailure,
    declare,
    expect_dtype,
    expect_equal,
    expect_shape,
)
from challenge.checks.outputs import BOOL, INT, Items, Map, Seq, Tensor, bounded, near

PART = "batching"
LONG = (torch.long,)


def make_inputs(seed: int) -> dict:
    rng = random.Random(8000 + seed)
    seqs = [[rng.randint(4, 99) for _ in range(rng.randint(1, 9))] for _ in range(6)]
    seqs[rng.randrange(6)] = [rng.randint(4, 99) for _ in range(12)]      # one long sequence
    labels = [rng.randint(0, 1) for _ in seqs]
    lengths = [rng.randint(1, 300) for _ in range(103)]
    return {"seqs": seqs, "labels": labels, "lengths": lengths, "seed": rng.randint(0, 10_000)}


def _padded(seqs, pad_id, max_length=None, *, left=False, keep="start", fill=None,
            width_is_max=False, empty_is_pad=True):
    """Rows and lengths of ``seqs`` padded as the flags say. The defaults are the definition:
    a sequence keeps its first ``max_length`` tokens (an empty one counts as one pad token) and
    every row is as long as the longest kept sequence, padded on the right with ``pad_id``.
    The other flags build the outputs of known mistakes, so a failure can name its cause."""
    fill = pad_id if fill is None else fill
    if max_length is None or keep == "all":
        kept = [list(s) for s in seqs]
    else:
        kept = [list(s[:max_length]) if keep == "start" else list(s[-max_length:]) for s in seqs]
    lengths = [max(1, len(s)) if empty_is_pad else len(s) for s in kept]
    kept = [(s or [fill]) if empty_is_pad else s for s in kept]
    width = max(lengths)
    if width_is_max and max_length is not None:
        width = max(width, max_length)
    rows = [[fill] * (width - len(s)) + s if left else s + [fill] * (width - len(s)) for s in kept]
    return rows, lengths


#: The known mistakes: each flag of :func:`_padded` and the hint that names it.
MISTAKES = {
    "left": "pad on the right: the sequence's ids first, then pad_id up to T (these rows are "
            "padded on the left)",
    "keep_end": "truncation keeps each sequence's first max_length ids, the start (these rows "
                "kept the last ones)",
    "keep_all": "truncate each sequence to its first max_length ids (these rows were not cut)",
    "zero_fill": "fill the padding with pad_id ({pad_id} here), not a hard-coded 0",
    "width_is_max": "T is the longest sequence after truncation, not max_length",
    "empty": "an empty sequence becomes one pad token with length 1 (pack_padded_sequence "
             "needs >= 1)",
}


def _mistake_flags(name: str) -> dict:
    return {"left": {"left": True}, "keep_end": {"keep": "end"}, "keep_all": {"keep": "all"},
            "zero_fill": {"fill": 0}, "width_is_max": {"width_is_max": True},
            "empty": {"empty_is_pad": False}}[name]


def _possible_mistakes(seqs, pad_id, max_length) -> list[str]:
    """The mistakes that change the output for these inputs."""
    names = ["left"]
    if max_length is not None:
        if any(len(s) > max_length for s in seqs):
            names += ["keep_end", "keep_all"]
        if max(len(s) for s in seqs) < max_length:
            names.append("width_is_max")
    if pad_id != 0:
        names.append("zero_fill")
    if any(len(s) == 0 for s in seqs):
        names.append("empty")
    return names


def _diagnose(ids, lengths, seqs, pad_id, max_length) -> str:
    """The hint of the smallest set of known mistakes (one or two) whose ids are exactly ``ids``,
    or, when ``ids`` are right, of the mistake that gives these ``lengths``; "" when no known
    mistake explains the output."""
    if not hasattr(ids, "tolist"):
        return ""
    got_ids = ids.tolist()
    got_lengths = lengths.tolist() if hasattr(lengths, "tolist") else lengths
    rows, true_lengths = _padded(seqs, pad_id, max_length)
    if rows == got_ids:
        return _diagnose_lengths(got_lengths, true_lengths, seqs, pad_id)
    names = _possible_mistakes(seqs, pad_id, max_length)
    for size in range(1, 3):
        for combo in itertools.combinations(names, size):
            if "keep_end" in combo and "keep_all" in combo:
                continue
            flags = {k: v for name in combo for k, v in _mistake_flags(name).items()}
            if _padded(seqs, pad_id, max_length, **flags)[0] == got_ids:
                return "; and ".join(MISTAKES[n].format(pad_id=pad_id) for n in combo)
    return ""


def _diagnose_lengths(got: list, expected: list, seqs, pad_id) -> str:
    """The hint for lengths that come with the right ids, when a known mistake explains them."""
    untruncated = _padded(seqs, pad_id, None)[1]
    if got == untruncated and got != expected:
        return "count each length after truncation: at most max_length"
    if got == [len(s) for s in seqs] and 0 in got:
        return MISTAKES["empty"]
    return ""


def _expect_padded(ids, lengths, seqs, pad_id, max_length, call):
    """ids and lengths of ``pad_batch`` against the definition; a hint only where a known
    mistake gives exactly this output."""
    hint = _diagnose(ids, lengths, seqs, pad_id, max_length)
    rows, true_lengths = _padded(seqs, pad_id, max_length)
    shape = (len(rows), len(rows[0]))
    ids = expect_shape(ids, shape, f"{call} ids", hint or "shape (B, T), with T the longest "
                       "sequence after truncation")
    expect_dtype(ids, LONG, f"{call} ids")
    expect_shape(lengths, (len(rows),), f"{call} lengths")
    expect_dtype(lengths, LONG, f"{call} lengths")
    for b, row in enumerate(rows):
        expect_equal(ids[b], row, f"{call} ids[{b}] (input {seqs[b]!r:.80})", hint)
    expect_equal(lengths, true_lengths, f"{call} lengths",
                 hint or "each sequence's length after truncation (an empty one counts as 1)")


# --- run side: calls student code, returns plain data ------------------------------------

def run_pad(module, data):
    return module.pad_batch(data["seqs"])


def run_pad_id(module, data):
    return module.pad_batch(data["seqs"], pad_id=7)


def run_truncate(module, data):
    return {"cut": module.pad_batch(data["seqs"], max_length=4),
            "loose": module.pad_batch(data["seqs"], max_length=50)}


def run_empty(module, data):
    return {"mixed": module.pad_batch([[5, 6], []]), "only": module.pad_batch([[]], pad_id=0),
            "cut": module.pad_batch([[9, 8, 7], []], max_length=2)}


def run_collate(module, data):
    batch = list(zip(data["seqs"], data["labels"]))
    return module.collate(batch, pad_id=0, max_length=8)


def _batches(sampler, data) -> list[list[int]]:
    """The sampler's batches as lists of ints, each measured before it is read: at most one
    batch per index and one index per length (an endless iterator or a huge tensor where a
    batch of indices belongs fails here, in bounded time and memory)."""
    limit = len(data["lengths"])
    out = []
    for b in itertools.islice(iter(sampler), limit + 1):
        out.append(list(map(int, bounded(b, "BucketBatchSampler's __iter__", limit))))
    return out


def run_sampler(module, data):
    sampler = module.BucketBatchSampler(data["lengths"], batch_size=8, seed=data["seed"],
                                        bucket_factor=3)
    return {"batches": _batches(sampler, data), "len": len(sampler)}


def run_grouping(module, data):
    sampler = module.BucketBatchSampler(data["lengths"], batch_size=8, seed=data["seed"],
                                        bucket_factor=1000)
    return _batches(sampler, data)


def run_determinism(module, data):
    def batches(seed, epoch=None, global_seed=0):
        torch.manual_seed(global_seed)
        sampler = module.BucketBatchSampler(data["lengths"], batch_size=8, seed=seed, bucket_factor=3)
        if epoch is not None:
            sampler.set_epoch(epoch)
        return _batches(sampler, data)

    seed = data["seed"]
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    _batches(module.BucketBatchSampler(data["lengths"], batch_size=8, seed=seed), data)
    after = torch.rand(3)
    return {"first": batches(seed), "again": batches(seed, global_seed=99),
            "epoch1": batches(seed, epoch=1), "other_seed": batches(seed + 1),
            "global_rng_untouched": bool(torch.equal(before, after))}


# --- verify side: grader process ---------------------------------------------------------

def verify_pad(data, out):
    ids, lengths = out
    _expect_padded(ids, lengths, data["seqs"], 0, None, "pad_batch(seqs)")


def verify_pad_id(data, out):
    ids, lengths = out
    _expect_padded(ids, lengths, data["seqs"], 7, None, "pad_batch(seqs, pad_id=7)")


def verify_truncate(data, out):
    ids, lengths = out["cut"]
    _expect_padded(ids, lengths, data["seqs"], 0, 4, "pad_batch(seqs, max_length=4)")
    ids, lengths = out["loose"]
    _expect_padded(ids, lengths, data["seqs"], 0, 50, "pad_batch(seqs, max_length=50)")


def verify_empty(data, out):
    _expect_padded(*out["mixed"], [[5, 6], []], 0, None, "pad_batch([[5, 6], []])")
    _expect_padded(*out["only"], [[]], 0, None, "pad_batch([[]])")
    _expect_padded(*out["cut"], [[9, 8, 7], []], 0, 2, "pad_batch([[9, 8, 7], []], max_length=2)")


def verify_collate(data, out):
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailure(f"collate: expected a tuple (ids, lengths, labels), got "
                           f"{type(out).__name__}")
    ids, lengths, labels = out
    _expect_padded(ids, lengths, data["seqs"], 0, 8, "collate(batch, max_length=8)")
    expect_shape(labels, (len(data["labels"]),), "collate labels")
    expect_dtype(labels, (torch.float32,), "collate labels")
    expect_equal(labels, [float(x) for x in data["labels"]], "collate labels",
                 "the labels in batch order, as float32 (BCEWithLogitsLoss wants floats)")


def _expect_cover(batches, n, batch_size, what):
    counts = Counter(i for b in batches for i in b)
    missing = sorted(set(range(n)) - set(counts))
    twice = sorted(i for i, c in counts.items() if c > 1)
    extra = sorted(i for i in counts if not 0 <= i < n)
    if missing or twice or extra:
        parts = [f"missing {missing[:10]}" if missing else "",
                 f"repeated {twice[:10]}" if twice else "",
                 f"out of range {extra[:10]}" if extra else ""]
        raise CheckFailure(f"{what}: every index 0..{n - 1} must appear exactly once per epoch; "
                           f"{'; '.join(p for p in parts if p)}")
    sizes = [len(b) for b in batches]
    small = [k for k, s in enumerate(sizes) if s != batch_size]
    if len(small) > 1 or any(s > batch_size or s == 0 for s in sizes):
        raise CheckFailure(f"{what}: batch sizes {sizes}: expected batches of {batch_size}, only "
                           f"one smaller batch (the very last of the last bucket). Hint: buckets "
                           f"hold batch_size * bucket_factor indices")


def verify_sampler(data, out):
    n = len(data["lengths"])
    _expect_cover(out["batches"], n, 8, "BucketBatchSampler(lengths, batch_size=8)")
    expect_equal(out["len"], -(-n // 8), f"len(sampler) for {n} indices and batch_size 8",
                 "the number of batches, ceil(n / batch_size)")
    expect_equal(len(out["batches"]), out["len"], "number of batches yielded",
                 "iterating must yield len(sampler) batches")


def verify_grouping(data, out):
    lengths = data["lengths"]
    _expect_cover(out, len(lengths), 8, "BucketBatchSampler(..., bucket_factor=1000)")
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in out)
    for (lo1, hi1), (lo2, hi2) in zip(spans, spans[1:]):
        if hi1 > lo2:
            raise CheckFailure(
                "BucketBatchSampler with one bucket holding all indices: batches must hold "
                f"neighbouring lengths, but a batch with lengths {lo1}..{hi1} overlaps one with "
                f"{lo2}..{hi2}. Hint: sort each bucket by length before cutting it into batches")


def verify_determinism(data, out):
    n = len(data["lengths"])
    for key in ("first", "epoch1", "other_seed"):
        _expect_cover(out[key], n, 8, f"BucketBatchSampler ({key})")
    if out["first"] != out["again"]:
        raise CheckFailure("BucketBatchSampler: the same seed gave different batches after a "
                           "different torch.manual_seed. Hint: draw from a local torch.Generator "
                           "seeded with seed + epoch, never from the global RNG")
    if not out["global_rng_untouched"]:
        raise CheckFailure("BucketBatchSampler: iterating changed torch's global random state. "
                           "Hint: pass generator=g to torch.randperm")
    if out["epoch1"] == out["first"]:
        raise CheckFailure("BucketBatchSampler: set_epoch(1) gave the same batches as epoch 0. "
                           "Hint: seed the generator with seed + epoch")
    if out["other_seed"] == out["first"]:
        raise CheckFailure("BucketBatchSampler: seeds s and s + 1 gave the same batches. "
                           "Hint: seed the generator with the sampler's seed")


def _check(name, run, verify, description, points=1.0):
    return Check(PART, name, points, make_inputs, run, verify, description)


CHECKS: list[Check] = [
    _check("pad_to_longest", run_pad, verify_pad, "right padding, (B, T) long, lengths"),
    _check("pad_id", run_pad_id, verify_pad_id, "padding uses pad_id"),
    _check("truncation", run_truncate, verify_truncate, "max_length keeps the start"),
    _check("empty_sequence", run_empty, verify_empty, "an empty sequence is one pad, length 1"),
    _check("collate", run_collate, verify_collate, "ids, lengths and float labels"),
    _check("sampler_covers_each_index", run_sampler, verify_sampler,
           "every index once per epoch, batch sizes, len()"),
    _check("sampler_groups_lengths", run_grouping, verify_grouping,
           "batches hold similar lengths"),
    _check("sampler_deterministic", run_determinism, verify_determinism,
           "seeded local generator, set_epoch"),
]

#: What each check's run step receives: its inputs, never the values it is judged against.
SENDS = {
    "pad_to_longest": ('seqs',),
    "pad_id": ('seqs',),
    "truncation": ('seqs',),
    "empty_sequence": (),
    "collate": ('seqs', 'labels'),
    "sampler_covers_each_index": ('lengths', 'seed'),
    "sampler_groups_lengths": ('lengths', 'seed'),
    "sampler_deterministic": ('lengths', 'seed'),
}


# --- the outputs the checks expect (validated before any verify runs) --------------------------
# Sizes near the inputs' (:func:`~challenge.checks.outputs.near`): a transposed batch or a width
# of max_length still reaches its verify, which names the mistake; nothing larger does.

def _padded_pair(seqs: list, max_length: int = 0) -> Items:
    """``pad_batch(seqs)``'s (ids (B, T), lengths (B,)), both int64."""
    B, T = len(seqs), max([len(s) for s in seqs] + [1, max_length])
    return Items((Tensor((near(B), near(T)), LONG), Tensor((near(B),), LONG)))


def _batches_of(data: dict) -> Seq:
    n = len(data["lengths"])
    return Seq(Seq(INT, n), n + 1)


EXPECTS = {
    "pad_to_longest": lambda data: _padded_pair(data["seqs"]),
    "pad_id": lambda data: _padded_pair(data["seqs"]),
    "truncation": lambda data: Map({"cut": _padded_pair(data["seqs"], 4),
                                    "loose": _padded_pair(data["seqs"], 50)}),
    "empty_sequence": lambda data: Map({"mixed": _padded_pair([[5, 6], []]),
                                        "only": _padded_pair([[]]),
                                        "cut": _padded_pair([[9, 8, 7], []], 2)}),
    "collate": lambda data: Items((*_padded_pair(data["seqs"], 8).items,
                                   Tensor((near(len(data["seqs"])),), (torch.float32,)))),
    "sampler_covers_each_index": lambda data: Map({"batches": _batches_of(data), "len": INT}),
    "sampler_groups_lengths": _batches_of,
    "sampler_deterministic": lambda data: Map({
        **{k: _batches_of(data) for k in ("first", "again", "epoch1", "other_seed")},
        "global_rng_untouched": BOOL}),
}
CHECKS = declare(CHECKS, SENDS, EXPECTS)
