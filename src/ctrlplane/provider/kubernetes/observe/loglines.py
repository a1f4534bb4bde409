"""Reading ``pods/log`` lines into records. Pure (the time of an unstamped line aside).

Every log request asks for timestamps (RFC 3339 with nanoseconds), so lines of several
pods and of both streams merge in time order and ``since`` is exact; a line without a
readable stamp gets the time it was read. A container's log comes in file order, which
is not time order across stdout and stderr (the runtime writes them through separate
copiers): callers sort by :attr:`Line.at_ns`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ctrlplane.provider.results import LogRecord

__all__ = ["Line", "LogSource", "Stream", "parse_line", "stamp_ns"]

Stream = Literal["stdout", "stderr"]

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class LogSource:
    """One container of one pod to read."""

    pod: str
    container: str
    service: str
    replica: int


@dataclass(frozen=True)
class Line:
    """One log line: its record and its time in nanoseconds since the epoch (the record's
    time keeps microseconds)."""

    at_ns: int
    record: LogRecord


def stamp_ns(stamp: str) -> int | None:
    """An RFC 3339 time with up to nanoseconds (``2026-12-07T00:02:23.958122078Z``) as
    nanoseconds since the epoch; ``None`` when it is not one."""
    m = _STAMP.match(stamp)
    if m is None:
        return None
    try:
        whole = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    except ValueError:
        return None
    fraction = int((m.group(2) or "0").ljust(9, "0"))
    return int((whole - _EPOCH).total_seconds()) * 1_000_000_000 + fraction


def parse_line(line: str, source: LogSource, stream: Stream) -> Line | None:
    """A ``timestamps=true`` log line (``None`` for an empty line)."""
    if not line:
        return None
    stamp, _, text = line.partition(" ")
    at_ns = stamp_ns(stamp)
    if at_ns is None:
        now = datetime.now(UTC)
        at_ns, text = int((now - _EPOCH).total_seconds() * 1_000_000_000), line
    at = _EPOCH + timedelta(microseconds=at_ns // 1000)
    record = LogRecord(
        time=at, service=source.service, replica=source.replica, stream=stream, line=text
    )
    return Line(at_ns, record)
