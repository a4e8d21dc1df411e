"""The output a check expects, declared before anything runs: types, shape or length bounds derived
from the inputs the check sent, and dtypes. The grader validates each reply against its check's
declaration before any verify runs (:func:`conforms`), so a verify never meets an output it did
not ask for (a 64 MiB tensor where a (4, 8) one belongs); the run steps bound what a student's
function returned before they touch it (:func:`bounded`).

A declaration is a small tree: :class:`Tensor`, :class:`Seq`, :class:`Map`, :class:`Text`,
:class:`Scalar`, :class:`Plain` (any plain value within a size) and :class:`OneOf`. Every check
of the kit declares its own (``EXPECTS`` beside ``SENDS`` in its part's module); a test holds each
to it, and :func:`derived`, a size bound alone, is the fallback for a check not yet declared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Items (values, list entries, characters / 64) one output may hold when its check declares no
#: tighter bound: enough for every honest output of the public checks many times over.
DEFAULT_ITEMS = 1 << 16
FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INTS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class OutputMismatch(ValueError):
    """An output that is not what its check declared; the message names what was expected."""


def upto(n: int) -> range:
    """A tensor dimension of at most ``n`` (``Tensor((3, upto(8)))``)."""
    return range(0, n + 1)


def near(n: int) -> range:
    """A dimension of at most about twice ``n``: room for an honest mistake (one column too
    many, a batch read as time) to reach its verify, which names it, and no room for more."""
    return upto(2 * n + 2)


@dataclass(frozen=True)
class Tensor:
    """A tensor of ``shape`` (each dimension an int, a ``range`` of allowed sizes, or None for
    a free one; all bounded by ``max_numel``; None for any shape) and one of ``dtypes`` (any
    when empty)."""

    shape: tuple | None = None
    dtypes: tuple = ()
    max_numel: int = DEFAULT_ITEMS

    def describe(self) -> str:
        shape = "" if self.shape is None else " of shape (" + ", ".join(
            map(_dim, self.shape)) + ("," if len(self.shape) == 1 else "") + ")"
        kinds = " or ".join(str(d).removeprefix("torch.") for d in self.dtypes)
        return f"a tensor{shape}" + (f" of dtype {kinds}" if kinds else "")


def _dim(d: int | range | None) -> str:
    if d is None:
        return "*"
    if isinstance(d, range):
        return f"<={d[-1]}" if d.start == 0 else f"{d.start}..{d[-1]}"
    return str(d)


def _fits(d: int | range | None, size: int) -> bool:
    return d is None or (size in d if isinstance(d, range) else size == d)


@dataclass(frozen=True)
class Text:
    """A string of at most ``max_chars`` characters."""

    max_chars: int = 2000

    def describe(self) -> str:
        return f"a string of at most {self.max_chars:,} characters"


@dataclass(frozen=True)
class Scalar:
    """One plain value of one of ``types`` (bool, int, float, type(None)); an int passes where
    a float is declared, a bool only where bool is."""

    types: tuple = (int, float)

    def describe(self) -> str:
        return " or ".join("None" if t is type(None) else f"a {t.__name__}" for t in self.types)


@dataclass(frozen=True)
class Seq:
    """A list or tuple of at most ``max_len`` items, each an ``item``."""

    item: Any
    max_len: int

    def describe(self) -> str:
        return f"a list of at most {self.max_len} items"


@dataclass(frozen=True)
class Items:
    """A list or tuple of exactly ``len(items)`` entries, each as declared at its position."""

    items: tuple

    def describe(self) -> str:
        return f"a tuple of {len(self.items)}: " + ", ".join(i.describe() for i in self.items)


@dataclass(frozen=True)
class Map:
    """A dict with some of the keys ``fields`` (each value as declared there); other keys only
    when ``others`` declares their values: then at most ``max_len`` keys in all, each a string
    of at most 200 characters."""

    fields: dict = field(default_factory=dict)
    others: Any = None
    max_len: int = 64

    def describe(self) -> str:
        if self.others is not None:
            return f"a dict of at most {self.max_len} names"
        return "a dict with keys " + ", ".join(map(repr, self.fields))


@dataclass(frozen=True)
class Plain:
    """Any plain value (numbers, strings, lists, dicts, tensors) of at most ``max_items``
    items in all, a string counting one item per 64 characters."""

    max_items: int = DEFAULT_ITEMS

    def describe(self) -> str:
        return f"a value of at most {self.max_items:,} items"


@dataclass(frozen=True)
class OneOf:
    options: tuple

    def describe(self) -> str:
        return " or ".join(o.describe() for o in self.options)


NONE = Scalar((type(None),))
INT = Scalar((int,))
BOOL = Scalar((bool,))
NUMBER = Scalar((int, float))
#: a short piece of text a run step writes itself (``"a NoneType"``, a parameter's name)
NAME = Text(200)


def conforms(spec: Any, value: Any, what: str = "output") -> None:
    """Raise :class:`OutputMismatch` naming the expected shape when ``value`` is not ``spec``."""
    if isinstance(spec, OneOf):
        errors = []
        for option in spec.options:
            try:
                return conforms(option, value, what)
            except OutputMismatch as e:
                errors.append((option, e))
        same = [e for option, e in errors if _same_kind(option, value)]
        if len(same) == 1:      # a dict where a dict (or words) belongs: what is wrong inside it
            raise same[0]
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
    if isinstance(spec, Tensor):
        return _tensor(spec, value, what)
    if isinstance(spec, Text):
        if not isinstance(value, str) or len(value) > spec.max_chars:
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        return None
    if isinstance(spec, Scalar):
        if not _scalar(spec.types, value):
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        return None
    if isinstance(spec, Seq):
        if not isinstance(value, (list, tuple)) or len(value) > spec.max_len:
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        for i, item in enumerate(value):
            conforms(spec.item, item, f"{what}[{i}]")
        return None
    if isinstance(spec, Items):
        if not isinstance(value, (list, tuple)) or len(value) != len(spec.items):
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        for i, (item, got) in enumerate(zip(spec.items, value)):
            conforms(item, got, f"{what}[{i}]")
        return None
    if isinstance(spec, Map):
        return _map(spec, value, what)
    if items(value, spec.max_items) > spec.max_items:
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got more")
    return None


def _map(spec: Map, value: Any, what: str) -> None:
    if not isinstance(value, dict) or (spec.others is None and any(
            k not in spec.fields for k in value)) or (spec.others is not None and (
            len(value) > spec.max_len or any(
                k not in spec.fields and not (isinstance(k, str) and len(k) <= 200)
                for k in value))):
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
    for key, item in value.items():
        conforms(spec.fields.get(key, spec.others), item, f"{what}[{str(key)[:80]!r}]")
    return None


def _tensor(spec: Tensor, value: Any, what: str) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got an array of objects")
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
    shape = tuple(value.shape)
    if value.numel() > spec.max_numel or (spec.shape is not None and (
            len(shape) != len(spec.shape)
            or not all(_fits(d, s) for d, s in zip(spec.shape, shape)))):
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got shape {shape[:8]}")
    if spec.dtypes and value.dtype not in spec.dtypes:
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got dtype "
                             f"{str(value.dtype).removeprefix('torch.')}")


_KINDS = ((Tensor, (torch.Tensor, np.ndarray)), (Map, dict), (Seq, (list, tuple)),
          (Items, (list, tuple)), (Text, str))


def _same_kind(spec: Any, value: Any) -> bool:
    return any(isinstance(spec, s) and isinstance(value, v) for s, v in _KINDS)


def _scalar(types: tuple, value: Any) -> bool:
    kind = type(value)
    if kind is bool:
        return bool in types
    return kind in types or (kind is int and float in types)


def items(value: Any, limit: int) -> int:
    """How many items ``value`` holds, counted only until ``limit`` is passed (so counting a
    huge value costs no more than counting ``limit`` items)."""
    count, stack = 0, [value]
    while stack and count <= limit:
        x = stack.pop()
        if isinstance(x, (torch.Tensor, np.ndarray)):
            count += max(int(x.size if isinstance(x, np.ndarray) else x.numel()), 1)
        elif isinstance(x, str):
            count += 1 + len(x) // 64
        elif isinstance(x, (list, tuple, dict)):
            count += 1
            if len(x) > limit:
                return count + len(x)
            stack.extend(x.items() if isinstance(x, dict) else x)
        else:
            count += 1
    return count


def max_bytes(spec: Any) -> int:
    """The most bytes an output of ``spec`` can take on the wire (a generous bound: 8 bytes a
    tensor value, 256 an item of anything else, as JSON writes it)."""
    if isinstance(spec, Tensor):
        return spec.max_numel * 8 + 256
    if isinstance(spec, Seq):
        return spec.max_len * (max_bytes(spec.item) + 8) + 64
    if isinstance(spec, Items):
        return sum(max_bytes(i) + 8 for i in spec.items) + 64
    if isinstance(spec, Map):
        others = 0 if spec.others is None else spec.max_len * (max_bytes(spec.others) + 1300)
        return sum(max_bytes(v) + len(repr(k)) * 6 + 16 for k, v in spec.fields.items()) \
            + others + 64
    if isinstance(spec, OneOf):
        return max(max_bytes(o) for o in spec.options)
    if isinstance(spec, Text):
        return spec.max_chars * 6 + 64
    if isinstance(spec, Scalar):
        return 64
    return spec.max_items * 256


def bounded(value: Any, what: str, limit: int = DEFAULT_ITEMS) -> Any:
    """``value`` when it holds at most ``limit`` items; otherwise a ``ValueError`` before any run
    step iterates it (a function that returns an 8 MiB tensor where a short list belongs)."""
    if items(value, limit) > limit:
        raise ValueError(f"{what} returned {_kind(value)}, more than the {limit:,} items this "
                         f"check can need")
    return value


def derived(data: Any) -> Plain:
    """The default declaration: an output of at most 16 items for each item of the inputs the
    check sent, and never fewer than :data:`DEFAULT_ITEMS`."""
    return Plain(max(DEFAULT_ITEMS, 16 * items(data, 1 << 24)))


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return (f"a tensor of shape {tuple(value.shape)[:8]} of dtype "
                f"{str(value.dtype).removeprefix('torch.')}")
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value):,} items"
    return f"a {type(value).__name__}"
