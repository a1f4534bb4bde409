"""Go duration syntax: time.ParseDuration, Duration.String() and the model coercion rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlplane.durations import coerce_duration, format_duration, parse_duration, to_nanoseconds

NS = 1
US = 1_000
MS = 1_000_000
S = 1_000_000_000
M = 60 * S
H = 60 * M


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h2m3.5s", timedelta(hours=1, minutes=2, seconds=3.5)),
        ("250ms", timedelta(milliseconds=250)),
        ("1.5us", timedelta(microseconds=1)),  # 1500 ns, truncated to the microsecond
        ("3µs", timedelta(microseconds=3)),  # U+00B5 micro sign, as Go writes it
        ("3μs", timedelta(microseconds=3)),  # U+03BC greek mu, also accepted by Go
        ("4000ns", timedelta(microseconds=4)),
        ("-1s", timedelta(seconds=-1)),
        ("+5s", timedelta(seconds=5)),
        ("0", timedelta(0)),
        ("-0", timedelta(0)),
        ("1.s", timedelta(seconds=1)),
        (".5m", timedelta(seconds=30)),
        ("1h1h", timedelta(hours=2)),
        ("2562047h", timedelta(hours=2562047)),
    ],
)
def test_parse_duration_go_syntax(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "bad",
    ["", "-", "1", "1x", "s", ".s", "1h-2m", "1 h", "1e3s", "one second", "99999999999999h"],
)
def test_parse_duration_refuses_bad_strings(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (0, "0s"),
        (1 * NS, "1ns"),
        (999 * NS, "999ns"),
        (1 * US, "1µs"),
        (1_100 * NS, "1.1µs"),
        (250 * MS, "250ms"),
        (1 * MS + 1 * NS, "1.000001ms"),
        (1500 * MS, "1.5s"),
        (90 * S, "1m30s"),
        (61 * S + 1 * US, "1m1.000001s"),
        (1 * H, "1h0m0s"),
        (2 * H + 45 * M, "2h45m0s"),
        (100 * H + 1 * S, "100h0m1s"),
        (-1500 * MS, "-1.5s"),
        (-1 * US, "-1µs"),
        ((1 << 63) - 1, "2562047h47m16.854775807s"),
    ],
)
def test_format_duration_matches_go_string(ns: int, expected: str) -> None:
    assert format_duration(ns) == expected
    if ns % US == 0:
        assert format_duration(timedelta(microseconds=ns // US)) == expected


def test_to_nanoseconds_is_exact() -> None:
    assert to_nanoseconds(timedelta(days=3, seconds=7, microseconds=11)) == (
        3 * 86_400 * S + 7 * S + 11 * US
    )
    assert to_nanoseconds(timedelta(microseconds=-1)) == -1 * US


def test_coerce_numbers_are_nanoseconds_on_the_wire() -> None:
    assert coerce_duration(1_500_000_000) == timedelta(seconds=1.5)
    assert coerce_duration("2000000") == timedelta(milliseconds=2)
    assert coerce_duration(5000.0) == timedelta(microseconds=5)


def test_coerce_numbers_are_seconds_in_human_context() -> None:
    assert coerce_duration(10, numbers_are_seconds=True) == timedelta(seconds=10)
    assert coerce_duration(0.25, numbers_are_seconds=True) == timedelta(milliseconds=250)
    assert coerce_duration("2.5", numbers_are_seconds=True) == timedelta(seconds=2.5)
    # Go strings mean the same in both contexts.
    assert coerce_duration("1m30s", numbers_are_seconds=True) == timedelta(seconds=90)
    assert coerce_duration("1m30s") == timedelta(seconds=90)


def test_coerce_passes_timedelta_through() -> None:
    value = timedelta(minutes=3, microseconds=7)
    assert coerce_duration(value) is value
    assert coerce_duration(value, numbers_are_seconds=True) is value


def test_coerce_refuses_booleans_and_other_types() -> None:
    with pytest.raises(TypeError, match="boolean"):
        coerce_duration(True)
    with pytest.raises(TypeError):
        coerce_duration([1, 2])
    with pytest.raises(TypeError):
        coerce_duration(None)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 10**30, "1e30"])
def test_coerce_refuses_infinite_and_out_of_range_numbers(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        coerce_duration(value)
    with pytest.raises(ValueError, match="duration"):
        coerce_duration(value, numbers_are_seconds=True)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=-(9 * 10**15), max_value=9 * 10**15))
def test_format_then_parse_round_trips_microseconds(us: int) -> None:
    value = timedelta(microseconds=us)
    assert parse_duration(format_duration(value)) == value


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_of_nanoseconds_parses_truncated_to_the_microsecond(ns: int) -> None:
    parsed = to_nanoseconds(parse_duration(format_duration(ns)))
    # Truncation toward zero: never larger in magnitude, less than a microsecond lost.
    assert 0 <= abs(ns) - abs(parsed) < 1000
    assert parsed == 0 or (parsed > 0) == (ns > 0)
