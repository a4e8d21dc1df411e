"""The output a check expects, declared before anything runs: types, shape or length bounds derived
from the inputs the check sent, and dtypes. The grader validates each reply against its check's
declaration before any verify runs (:func:`conforms`), so a verify never meets an output it did
not ask for (a 64 MiB tensor where a (4, 8) one belongs); the run steps bound what a student's
function returned before they touch it (:func:`bounded`).

A declaration is a small tree: :class:`Tensor`, :class:`Seq`, :class:`Map`, :class:`Plain` (any
plain value within a size) and :class:`OneOf`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Items (values, list entries, characters / 64) one output may hold when its check declares no
#: tighter bound: enough for every honest output of the public checks many times over.
DEFAULT_ITEMS = 1 << 16


class OutputMismatch(ValueError):
    """An output that is not what its check declared; the message names what was expected."""


@dataclass(frozen=True)
class Tensor:
    """A tensor of ``shape`` (None for a free dimension, bounded by ``max_numel``) and one of
    ``dtypes`` (any when empty)."""

    shape: tuple | None = None
    dtypes: tuple = ()
    max_numel: int = DEFAULT_ITEMS

    def describe(self) -> str:
        shape = "" if self.shape is None else " of shape (" + ", ".join(
            "*" if d is None else str(d) for d in self.shape) + ")"
        kinds = " or ".join(str(d).removeprefix("torch.") for d in self.dtypes)
        return f"a tensor{shape}" + (f" of dtype {kinds}" if kinds else "")


@dataclass(frozen=True)
class Seq:
    """A list or tuple of at most ``max_len`` items, each an ``item``."""

    item: Any
    max_len: int

    def describe(self) -> str:
        return f"a list of at most {self.max_len} items"


@dataclass(frozen=True)
class Map:
    """A dict with some of the keys ``fields`` (each value as declared there), and no other."""

    fields: dict = field(default_factory=dict)

    def describe(self) -> str:
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


def conforms(spec: Any, value: Any, what: str = "output") -> None:
    """Raise :class:`OutputMismatch` naming the expected shape when ``value`` is not ``spec``."""
    if isinstance(spec, OneOf):
        for option in spec.options:
            try:
                return conforms(option, value, what)
            except OutputMismatch:
                continue
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
    if isinstance(spec, Tensor):
        return _tensor(spec, value, what)
    if isinstance(spec, Seq):
        if not isinstance(value, (list, tuple)) or len(value) > spec.max_len:
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        for i, item in enumerate(value):
            conforms(spec.item, item, f"{what}[{i}]")
        return None
    if isinstance(spec, Map):
        if not isinstance(value, dict) or any(k not in spec.fields for k in value):
            raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
        for key, item in value.items():
            conforms(spec.fields[key], item, f"{what}[{key!r}]")
        return None
    if items(value, spec.max_items) > spec.max_items:
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got more")
    return None


def _tensor(spec: Tensor, value: Any, what: str) -> None:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got {_kind(value)}")
    shape = tuple(value.shape)
    if value.numel() > spec.max_numel or (spec.shape is not None and (
            len(shape) != len(spec.shape)
            or any(d is not None and d != s for d, s in zip(spec.shape, shape)))):
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got shape {shape[:8]}")
    if spec.dtypes and value.dtype not in spec.dtypes:
        raise OutputMismatch(f"{what}: expected {spec.describe()}, got dtype "
                             f"{str(value.dtype).removeprefix('torch.')}")


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
    if isinstance(spec, Map):
        return sum(max_bytes(v) + len(repr(k)) * 6 + 16 for k, v in spec.fields.items()) + 64
    if isinstance(spec, OneOf):
        return max(max_bytes(o) for o in spec.options)
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
        return f"a tensor of shape {tuple(value.shape)[:8]}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value):,} items"
    return f"a {type(value).__name__}"
