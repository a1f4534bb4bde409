"""Validation against the service models botocore ships (the official API definitions).

Every request body a fake service receives is checked against its operation's input
shape before any handler runs, and every answer it gives is checked against the output
shape before it is sent (an invalid answer is a bug of the fake: a 500 that fails the
test). The checks follow the shapes' traits:

- structures: a JSON object; no member the shape lacks; every ``required`` member
  present; a ``union`` with exactly one member set;
- lists and maps: their ``min``/``max`` sizes, every member (and map key) checked;
- strings: ``enum`` values, ``min``/``max`` lengths, ``pattern`` (see :mod:`.regexes`);
- integers and longs: JSON integers within ``min``/``max``; doubles: numbers; booleans;
  timestamps: epoch seconds (what the JSON protocol sends); blobs: base64 text.

A request's problems are reported together (``path: problem``), as AWS's validation
errors do. Answers are built by handlers as Python values (``datetime`` for timestamps,
``bytes`` for blobs) and turned into the JSON protocol's forms by :func:`to_wire`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from .regexes import compile_pattern

__all__ = ["input_problems", "output_problems", "to_wire"]


def _bounds(shape: Shape, size: float, what: str, path: str, out: list[str]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and size < lo:
        out.append(f"{path}: {what} {size:g} is below the minimum {lo}")
    if hi is not None and size > hi:
        out.append(f"{path}: {what} {size:g} is above the maximum {hi}")


def _string(shape: Shape, value: object, path: str, out: list[str]) -> None:
    if not isinstance(value, str):
        out.append(f"{path}: expected a string, got {type(value).__name__}")
        return
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        out.append(f"{path}: {value!r} is not one of {', '.join(enum)}")
        return
    _bounds(shape, len(value), "length", path, out)
    pattern = shape.metadata.get("pattern")
    if pattern:
        compiled = compile_pattern(pattern)
        if compiled is not None and compiled.match(value) is None:
            out.append(f"{path}: {value!r} does not match the pattern {pattern}")


def _check(shape: Shape, value: object, path: str, out: list[str], *, wire: bool) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        _structure(shape, value, path, out, wire=wire)
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            out.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        _bounds(shape, len(value), "length", path, out)
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]", out, wire=wire)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, dict):
            out.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        _bounds(shape, len(value), "size", path, out)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.<key {key!r}>", out, wire=wire)
            _check(shape.value, item, f"{path}[{key!r}]", out, wire=wire)
    elif kind == "string":
        _string(shape, value, path, out)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append(f"{path}: expected an integer, got {type(value).__name__}")
            return
        _bounds(shape, value, "value", path, out)
    elif kind in ("double", "float"):
        if not isinstance(value, int | float) or isinstance(value, bool):
            out.append(f"{path}: expected a number, got {type(value).__name__}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            out.append(f"{path}: expected a boolean, got {type(value).__name__}")
    elif kind == "timestamp":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not (ok if wire else isinstance(value, datetime)):
            out.append(f"{path}: expected a timestamp, got {type(value).__name__}")
    elif kind == "blob":
        if wire:
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                out.append(f"{path}: expected base64 text")
        elif not isinstance(value, bytes):
            out.append(f"{path}: expected bytes, got {type(value).__name__}")
    # documents may hold anything


def _structure(
    shape: StructureShape, value: object, path: str, out: list[str], *, wire: bool
) -> None:
    if not isinstance(value, dict):
        out.append(f"{path or 'body'}: expected an object, got {type(value).__name__}")
        return
    members = shape.members
    for key in value:
        if key not in members:
            out.append(f"{_join(path, key)}: unknown member of {shape.name}")
    for key in shape.required_members:
        if value.get(key) is None:
            out.append(f"{_join(path, key)}: required member of {shape.name} is missing")
    present = [k for k, v in value.items() if v is not None and k in members]
    if shape.metadata.get("union") and len(present) != 1:
        out.append(f"{path or 'body'}: exactly one member of union {shape.name} must be set")
    for key in present:
        _check(members[key], value[key], _join(path, key), out, wire=wire)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def input_problems(shape: StructureShape | None, body: object) -> list[str]:
    """What is wrong with a request ``body`` (decoded JSON) for input ``shape``."""
    out: list[str] = []
    if shape is None:
        if body not in ({}, None):
            out.append("body: the operation takes no input")
        return out
    _structure(shape, body, "", out, wire=True)
    return out


def output_problems(shape: StructureShape | None, body: dict[str, Any]) -> list[str]:
    """What is wrong with an answer ``body`` (Python values) for output ``shape``."""
    out: list[str] = []
    if shape is None:
        if body:
            out.append("body: the operation has no output")
        return out
    _structure(shape, body, "", out, wire=False)
    return out


def to_wire(value: Any) -> Any:
    """An answer's Python values in the JSON protocol's forms (epoch seconds, base64)."""
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
