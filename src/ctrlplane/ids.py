"""TypeIDs as the Go package uses them: ``<prefix>_<26 chars of base32 UUIDv7>``.

Example: ``inst_01h455vb4pex5vsknk084sn02q``. The suffix is the 128-bit UUID in
Crockford base32 (lowercase, no padding), so IDs sort by creation time. Prefixes are
lowercase ASCII letters and underscores (not at either end), at most 63 characters.

Prefixes ctrlplane itself mints: ``inst`` (instances) and ``rel`` (releases).
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid

from ctrlplane.errors import InvalidSpec, Problem

__all__ = ["INSTANCE_PREFIX", "RELEASE_PREFIX", "is_id", "new_id", "parse_id", "uuid_of"]

INSTANCE_PREFIX = "inst"
RELEASE_PREFIX = "rel"

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_PREFIX_RE = re.compile(r"^(?:[a-z](?:[a-z_]{0,61}[a-z])?)$")
_SUFFIX_LEN = 26

_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _uuid7() -> int:
    """A UUIDv7 as an int; monotonic within a process (same-millisecond IDs still sort)."""
    global _last_ms, _last_rand
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            rand = (_last_rand + 1) & ((1 << 74) - 1)
        else:
            rand = int.from_bytes(os.urandom(10), "big") & ((1 << 74) - 1)
        _last_ms, _last_rand = ms, rand
    rand_a = rand >> 62  # 12 bits
    rand_b = rand & ((1 << 62) - 1)
    return (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b


def _encode(value: int) -> str:
    chars = []
    for _ in range(_SUFFIX_LEN):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _check_prefix(prefix: str) -> None:
    if not _PREFIX_RE.match(prefix):
        raise InvalidSpec(
            [Problem("prefix", f"{prefix!r} is not a TypeID prefix (lowercase letters, 1-63)")],
            subject="ID",
        )


def new_id(prefix: str) -> str:
    """Mint a new TypeID with ``prefix`` (e.g. ``new_id("inst")``)."""
    _check_prefix(prefix)
    return f"{prefix}_{_encode(_uuid7())}"


def _problem(text: str, why: str) -> InvalidSpec:
    return InvalidSpec([Problem("", f"{text!r} is not a valid TypeID: {why}")], subject="ID")


def parse_id(text: str, prefix: str | None = None) -> str:
    """Check ``text`` is a TypeID (with ``prefix``, if given) and return it unchanged.

    Raises :class:`~ctrlplane.errors.InvalidSpec` saying what is wrong.
    """
    if not isinstance(text, str):
        raise _problem(str(text), "not a string")
    head, sep, suffix = text.rpartition("_")
    if not sep:
        raise _problem(text, "expected '<prefix>_<26 base32 characters>'")
    if not _PREFIX_RE.match(head):
        raise _problem(text, f"prefix {head!r} must be lowercase letters (and inner underscores)")
    if prefix is not None and head != prefix:
        raise _problem(text, f"expected prefix {prefix!r}, got {head!r}")
    if len(suffix) != _SUFFIX_LEN:
        raise _problem(text, f"suffix must be {_SUFFIX_LEN} characters, got {len(suffix)}")
    bad = sorted({c for c in suffix if c not in _DECODE})
    if bad:
        raise _problem(text, f"suffix has characters outside lowercase Crockford base32: {bad}")
    if suffix[0] > "7":
        raise _problem(text, "suffix overflows 128 bits (first character must be 0-7)")
    return text


def is_id(text: str, prefix: str | None = None) -> bool:
    """Whether ``text`` is a valid TypeID (with ``prefix``, if given)."""
    try:
        parse_id(text, prefix)
    except InvalidSpec:
        return False
    return True


def uuid_of(text: str) -> uuid.UUID:
    """The UUID a TypeID encodes."""
    suffix = parse_id(text).rpartition("_")[2]
    value = 0
    for c in suffix:
        value = (value << 5) | _DECODE[c]
    return uuid.UUID(int=value)
