"""Durations as Go writes them: integer nanoseconds on the wire, ``"1m30s"`` for people.

:func:`parse_duration` reads Go's ``time.ParseDuration`` syntax, :func:`format_duration`
writes ``time.Duration.String()``'s. :func:`coerce_duration` is what the models use: it
accepts a :class:`~datetime.timedelta`, a Go duration string, or a number, where a number
means nanoseconds (the wire format) unless ``numbers_are_seconds`` is set (workload files
written by people, where ``interval: 10`` means ten seconds).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation

__all__ = [
    "coerce_duration",
    "format_duration",
    "parse_duration",
    "to_nanoseconds",
]

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_MAX_NS = (1 << 63) - 1  # Go's time.Duration is an int64 of nanoseconds


def _from_ns(ns: Decimal, shown: object) -> timedelta:
    if not -_MAX_NS - 1 <= ns <= _MAX_NS:
        raise ValueError(f"invalid duration {shown!r}: out of range (about 292 years at most)")
    # timedelta holds microseconds: truncate toward zero (as Go's Duration.Round would not
    # push past int64), so a re-dumped value never exceeds what was read.
    whole = int(ns)
    micros = whole // 1000 if whole >= 0 else -((-whole) // 1000)
    return timedelta(microseconds=micros)


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string (``"1h2m3.5s"``, ``"250ms"``, ``"-1s"``, ``"0"``).

    Raises ``ValueError`` naming the accepted syntax.
    """
    s = text.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return timedelta(0)
    if not s:
        raise ValueError(f"invalid duration {text!r}: empty")
    total = Decimal(0)
    pos = 0
    while pos < len(s):
        m = _PART_RE.match(s, pos)
        if not m:
            raise ValueError(
                f"invalid duration {text!r}: expected numbers with units ns, us, ms, s, m, h "
                "(e.g. '1m30s', '250ms')"
            )
        amount = Decimal(m.group(1))
        if amount and amount.adjusted() > _MAX_EXPONENT:
            raise ValueError(f"invalid duration {text!r}: out of range (about 292 years at most)")
        total += amount * _UNIT_NS[m.group(2)]
        pos = m.end()
    return _from_ns(sign * total, text)


def to_nanoseconds(value: timedelta) -> int:
    """Exact integer nanoseconds of a timedelta (its resolution is one microsecond)."""
    return ((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * 1_000


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    digits = []
    printed = False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        v //= 10
    frac = "." + "".join(reversed(digits)) if printed else ""
    return frac, v


def format_duration(value: timedelta | int) -> str:
    """Format like Go's ``Duration.String()``: ``"1m30s"``, ``"250ms"``, ``"0s"``."""
    ns = to_nanoseconds(value) if isinstance(value, timedelta) else int(value)
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        if u < 1_000:
            out = f"{u}ns"
        elif u < 1_000_000:
            frac, whole = _fmt_frac(u, 3)
            out = f"{whole}{frac}µs"
        else:
            frac, whole = _fmt_frac(u, 6)
            out = f"{whole}{frac}ms"
    else:
        frac, secs = _fmt_frac(u, 9)
        out = f"{secs % 60}{frac}s"
        mins = secs // 60
        if mins > 0:
            out = f"{mins % 60}m{out}"
            hours = mins // 60
            if hours > 0:
                out = f"{hours}h{out}"
    return f"-{out}" if neg else out


def coerce_duration(value: object, *, numbers_are_seconds: bool = False) -> timedelta:
    """Turn any accepted duration input into a timedelta; ``ValueError``/``TypeError`` if not.

    Strings may be Go durations or plain numbers; a plain number (or numeric string)
    counts nanoseconds, or seconds when ``numbers_are_seconds``.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a boolean")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            return parse_duration(text)
        return _from_number(number, numbers_are_seconds)
    if isinstance(value, int | float):
        return _from_number(Decimal(str(value)), numbers_are_seconds)
    raise TypeError(f"expected a duration ('1m30s', nanoseconds or timedelta), got {value!r}")


_MAX_EXPONENT = 30
"""Numbers beyond 10**30 are out of range whatever their unit (checked before any
arithmetic, which would overflow the decimal context for exponents like ``9e999999``)."""


def _from_number(number: Decimal, seconds: bool) -> timedelta:
    if not number.is_finite():
        raise ValueError("a duration must be finite")
    if number and number.adjusted() > _MAX_EXPONENT:
        raise ValueError(
            f"invalid duration {str(number)!r}: out of range (about 292 years at most)"
        )
    return _from_ns(number * 1_000_000_000 if seconds else number, str(number))
