"""The log reader's fast path gives exactly the records the per-frame path gives (issue
17, B4): same lines, times, streams and texts, whatever the chunking; and its records
equal validated ``LogRecord`` objects in every way a caller can see."""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ctrlplane.provider.docker.logs import _by_time, _record, since_param
from ctrlplane.provider.docker.observe.logframes import (
    FrameDecoder,
    LineSplitter,
    LogLines,
    log_time,
    split_timestamp,
)
from ctrlplane.provider.results import LogRecord


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


Line = tuple[str, datetime | None, str]


def _raw_lines(chunks: list[bytes], tty: bool) -> list[str]:
    dec, split = FrameDecoder(tty=tty), LineSplitter()
    lines = [line for c in chunks for s, p in dec.feed(c) for line in split.feed(s, p)]
    return lines + [line for _, line in split.flush()]


def _comparable(records: Sequence[tuple[str, datetime, str]], raw: list[str]) -> list[Line]:
    """A line without a timestamp gets the current time: compare ``None`` for it."""
    assert len(records) == len(raw)
    return [(s, None if t == line else w, t) for (s, w, t), line in zip(records, raw, strict=True)]


def reference(chunks: list[bytes], tty: bool) -> list[Line]:
    """The records of the per-frame path (FrameDecoder, LineSplitter, split_timestamp)."""
    dec, split = FrameDecoder(tty=tty), LineSplitter()
    pairs = [(s, line) for c in chunks for s, p in dec.feed(c) for line in split.feed(s, p)]
    pairs += split.flush()
    records = [(s, *split_timestamp(line)) for s, line in pairs]
    return _comparable(records, _raw_lines(chunks, tty))


def fast(chunks: list[bytes], tty: bool) -> list[Line]:
    reader = LogLines(tty=tty)
    records = [line for chunk in chunks for line in reader.feed(chunk)] + reader.flush()
    return _comparable(list(records), _raw_lines(chunks, tty))


PAYLOADS = [
    b"2024-05-01T10:00:00.123456789Z hello\n",
    b"2024-05-01T10:00:00.5Z half a second\n",
    b"2024-05-01T10:00:01Z whole second\n",
    b"2024-05-01T10:00:01.000000001Z two\nlines in one frame\n",
    b"2024-05-01T10:00:02.1Z split ",
    b"across frames\r\n",
    b"2024-05-01T10:00:03.25+02:00 an offset\n",
    "2024-05-01T10:00:04.7Z caf\u00e9 \u2603\n".encode(),
    b"2024-05-01T10:00:05.7Z bad \xff\xfe bytes\n",
    b"no timestamp at all\n",
    b"\n",
    b"2024-05-01T10:00:06.999999999Z unterminated at the end",
]


@pytest.mark.parametrize("tty", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_the_fast_reader_gives_the_lines_of_the_per_frame_path(tty: bool, seed: int) -> None:
    rng = random.Random(seed)
    framed = (frame(rng.choice((1, 2)), p) for p in PAYLOADS)
    data = b"".join(PAYLOADS) if tty else b"".join(framed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(0, 12)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    assert fast(chunks, tty) == reference(chunks, tty)


def test_log_times_are_read_to_the_microsecond() -> None:
    assert log_time("2024-05-01T10:00:00.123456789Z") == datetime(
        2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC
    )
    assert log_time("2024-05-01T10:00:00.5Z") == datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert log_time("2024-05-01T10:00:00Z") == datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert log_time("2024-05-01T12:00:00.25+02:00") == datetime(
        2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC
    )
    for bad in ("", "hello", "2024-13-01T10:00:00.5Z", "2024-05-01T25:00:00Z"):
        assert log_time(bad) is None, bad


def test_fast_records_equal_validated_ones() -> None:
    when = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    made = _record(when, "web", 2, "stderr", "oops")
    valid = LogRecord(time=when, service="web", replica=2, stream="stderr", line="oops")
    assert made == valid
    assert made.model_dump() == valid.model_dump()
    assert made.model_dump_json() == valid.model_dump_json()
    assert made.to_wire() == valid.to_wire()
    assert made.model_fields_set == valid.model_fields_set
    assert repr(made) == repr(valid)
    assert made.model_copy(update={"line": "x"}).line == "x"
    assert LogRecord.model_validate_json(made.model_dump_json()) == valid


async def _stream(records: list[LogRecord]) -> AsyncIterator[LogRecord]:
    for record in records:
        yield record


def _replica(replica: int, seconds: list[int]) -> list[LogRecord]:
    base = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    return [
        _record(base.replace(second=s), "web", replica, "stdout", f"r{replica}-{s}")
        for s in seconds
    ]


async def test_replicas_merge_in_time_order_holding_one_record_each() -> None:
    a, b = _replica(0, [1, 4, 5]), _replica(1, [2, 3, 6])
    merged = [r.line async for r in _by_time([_stream(a), _stream(b)], 0)]
    assert merged == ["r0-1", "r1-2", "r1-3", "r0-4", "r0-5", "r1-6"]
    # with a tail, the last lines of the merge (each replica sent its own last ones)
    last = [r.line async for r in _by_time([_stream(a), _stream(b)], 2)]
    assert last == ["r0-5", "r1-6"]


@pytest.mark.parametrize("offset", [0, 5, -8])
def test_since_is_sent_exactly_as_the_record_time_read(offset: int) -> None:
    """A record's own time, given back as ``since``, reaches the engine unchanged (to the
    nanosecond), so the record itself is not dropped: a float timestamp sent
    ``...401.123456001`` for ``...401.123456``, after a line at ``.123456000``."""
    read = log_time("2026-12-07T13:00:01.123456000Z")
    assert read is not None
    local = read.astimezone(timezone(timedelta(hours=offset)))
    assert since_param(local) == "1796648401.123456000"
    assert since_param(log_time("2026-12-07T13:00:01Z") or read) == "1796648401.000000000"
