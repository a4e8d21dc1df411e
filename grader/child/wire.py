"""The one format that crosses the trust boundary: frames on a pipe, each holding plain data.

A value is JSON (null, booleans, integers, strings, lists, objects) with four tagged objects:
tensors (dense, a dtype from :data:`DTYPES`; their bytes follow the JSON), tuples, dicts whose
keys are not all strings, and non-finite floats. JSON cannot express a shared reference, so a
reply is a tree whose size is bounded by its bytes: no pickle, no object graph to walk.

The child encodes (:func:`encode`) whatever the student's code returned; the grader decodes
(:func:`decode`) with limits on bytes, depth and node count, and never trusts a field it did
not check.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import torch

#: dtypes a reply may carry, by name.
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool)}
TENSOR, TUPLE, DICT, FLOAT = "\x00tensor", "\x00tuple", "\x00dict", "\x00float"
MAX_DEPTH = 32
MAX_NODES = 1_000_000
MAX_JSON_BYTES = 8 << 20        # the structure; tensors' bytes come on top
MAX_INT = 1 << 63
MAX_DIM = 1 << 31               # one dimension of a tensor
MAX_SPAN = 1 << 40              # the product of a tensor's dimensions, zeros counted as one
HEADER = struct.Struct(">cII")  # kind, unit index, body length


class WireError(ValueError):
    """A value that cannot cross (child side) or a malformed reply (grader side)."""


# --- child side --------------------------------------------------------------------------------

def encode(value: Any, max_bytes: int = 1 << 62) -> bytes:
    """``value`` as a body: 4-byte JSON length, JSON, then the tensors' bytes (at most
    ``max_bytes`` of them)."""
    blobs: list[bytes] = []
    offset = [0]

    def tensor(t: torch.Tensor) -> dict:
        if t.layout != torch.strided or t.is_quantized or t.is_nested:
            raise WireError(f"a {t.layout} tensor cannot be sent; return a dense tensor "
                            f"(.to_dense())")
        name = str(t.dtype).removeprefix("torch.")
        if name not in DTYPES:
            raise WireError(f"a tensor of dtype {name} cannot be sent; use float32/64 or int64")
        size = t.numel() * t.element_size()
        if offset[0] + size > max_bytes:
            raise WireError(f"the output's tensors (one of shape {tuple(t.shape)}) take more than "
                            f"the {max_bytes >> 20} MiB an output may; return one row per input")
        data = t.detach().cpu().contiguous().reshape(-1)
        raw = data.view(torch.uint8).numpy().tobytes() if data.numel() else b""
        blobs.append(raw)
        start = offset[0]
        offset[0] += len(raw)
        return {TENSOR: [start, len(raw)], "dtype": name, "shape": list(t.shape)}

    nodes = [0]

    def walk(x: Any, depth: int) -> Any:
        nodes[0] += 1
        if nodes[0] > MAX_NODES:
            raise WireError(f"the output has more than {MAX_NODES:,} items")
        if depth > MAX_DEPTH:
            raise WireError(f"the output is nested more than {MAX_DEPTH} levels deep")
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, int):
            if not -MAX_INT <= x < MAX_INT:
                raise WireError(f"an integer does not fit in 64 bits ({str(x)[:20]}...)")
            return int(x)
        if isinstance(x, float):
            return float(x) if math.isfinite(x) else {FLOAT: repr(float(x))}
        if isinstance(x, torch.Tensor):
            return tensor(x)
        if type(x).__module__ == "numpy":
            if hasattr(x, "shape") and getattr(x, "ndim", 0):
                return tensor(torch.from_numpy(x.copy()))
            return walk(x.item(), depth)
        if isinstance(x, torch.Size):
            x = tuple(int(v) for v in x)
        if isinstance(x, tuple):
            return {TUPLE: [walk(v, depth + 1) for v in x]}
        if isinstance(x, list):
            return [walk(v, depth + 1) for v in x]
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("\x00") for k in x):
                return {k: walk(v, depth + 1) for k, v in x.items()}
            return {DICT: [[walk(k, depth + 1), walk(v, depth + 1)] for k, v in x.items()]}
        raise WireError(f"a {type(x).__name__} cannot be sent; return tensors, numbers, "
                        f"strings, lists and dicts")

    text = json.dumps(walk(value, 0), allow_nan=False, separators=(",", ":")).encode()
    return struct.pack(">I", len(text)) + text + b"".join(blobs)


def frame(kind: bytes, unit: int, body: bytes = b"") -> bytes:
    return HEADER.pack(kind, unit, len(body)) + body


# --- grader side -------------------------------------------------------------------------------

def decode(body: bytes, *, max_bytes: int) -> Any:
    """The value in ``body``; :class:`WireError` naming the first thing wrong."""
    if len(body) > max_bytes:
        raise WireError(f"the output is larger than {max_bytes >> 20} MiB")
    if len(body) < 4:
        raise WireError("the reply is truncated")
    (n,) = struct.unpack(">I", body[:4])
    if n > MAX_JSON_BYTES or 4 + n > len(body):
        raise WireError("the reply's structure is too large or truncated")
    try:
        tree = json.loads(body[4:4 + n].decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise WireError(f"the output is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"the reply is not in the grader's format ({str(e)[:80]})") from None
    blob = memoryview(body)[4 + n:]
    nodes = [0]
    spent = [0]             # tensor bytes decoded so far: never more than the blob holds

    def tensor(x: dict) -> torch.Tensor:
        t = _tensor(x, blob, budget=len(blob) - spent[0])
        spent[0] += t.numel() * t.element_size()
        return t

    def build(x: Any, depth: int) -> Any:
        nodes[0] += 1
        if nodes[0] > MAX_NODES:
            raise WireError(f"the output has more than {MAX_NODES:,} items")
        if depth > MAX_DEPTH:
            raise WireError(f"the output is nested more than {MAX_DEPTH} levels deep")
        if x is None or isinstance(x, (bool, str, float)):
            return x
        if isinstance(x, int):
            if not -MAX_INT <= x < MAX_INT:
                raise WireError("an integer in the output does not fit in 64 bits")
            return x
        if isinstance(x, list):
            return [build(v, depth + 1) for v in x]
        if not isinstance(x, dict):
            raise WireError("the reply is not in the grader's format")
        if TENSOR in x:
            return tensor(x)
        if TUPLE in x:
            return tuple(build(v, depth + 1) for v in _list(x[TUPLE]))
        if FLOAT in x:
            if not isinstance(x[FLOAT], str) or x[FLOAT] not in ("nan", "inf", "-inf"):
                raise WireError("the reply is not in the grader's format")
            return float(x[FLOAT])
        if DICT in x:
            out = {}
            for pair in _list(x[DICT]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("the reply is not in the grader's format")
                key = build(pair[0], depth + 1)
                if not _plain_key(key):
                    raise WireError("a dict key in the output is not a plain value")
                out[key] = build(pair[1], depth + 1)
            return out
        if any(k.startswith("\x00") for k in x):
            raise WireError("the reply is not in the grader's format")
        return {k: build(v, depth + 1) for k, v in x.items()}

    return build(tree, 0)


def _plain_key(key: Any) -> bool:
    """A key that Python can hash and the grader can print: None, a bool, a number, a string,
    or a tuple of those (never a list or a dict inside a tuple)."""
    if key is None or isinstance(key, (str, int, float, bool)):
        return True
    return isinstance(key, tuple) and all(_plain_key(k) for k in key)


def _no_constant(name: str) -> Any:
    raise WireError(f"the reply holds a bare {name}")


def _list(x: Any) -> list:
    if not isinstance(x, list):
        raise WireError("the reply is not in the grader's format")
    return x


def _tensor(x: dict, blob: memoryview, budget: int) -> torch.Tensor:
    """The tensor ``x`` describes, once its fields are checked; at most ``budget`` bytes (each
    byte of the blob backs one tensor only, so a reply cannot multiply itself)."""
    where, dtype, shape = x.get(TENSOR), x.get("dtype"), x.get("shape")
    if not isinstance(dtype, str) or dtype not in DTYPES or not isinstance(shape, list) \
            or not isinstance(where, list) or len(where) != 2 \
            or not all(type(v) is int and v >= 0 for v in [*where, *shape]) \
            or len(shape) > MAX_DEPTH:
        raise WireError("a tensor in the reply is malformed")
    if any(v >= MAX_DIM for v in shape) or math.prod(max(v, 1) for v in shape) >= MAX_SPAN:
        raise WireError(f"a tensor in the reply has an impossible shape "
                        f"({str(tuple(shape))[:80]})")
    start, size = where
    d = DTYPES[dtype]
    count = math.prod(shape)
    if count * d.itemsize != size or start + size > len(blob):
        raise WireError(f"a tensor of shape {tuple(shape)} does not match its bytes")
    if size > budget:
        raise WireError("the reply's tensors claim more bytes than it holds")
    if count == 0:
        return torch.empty(shape, dtype=d)
    raw = torch.frombuffer(bytearray(blob[start:start + size]), dtype=torch.uint8)
    return raw.view(d).reshape(shape).clone()
