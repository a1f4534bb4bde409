"""Reading ``pods/log`` lines into records. Pure (the time of an unstamped line aside).

Every log request asks for timestamps, so lines of several pods merge in time order and
``since`` is exact; a line without a readable stamp gets the time it was read.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ctrlplane.provider.kubernetes.observe.pods import parse_time
from ctrlplane.provider.results import LogRecord

__all__ = ["LogSource", "Stream", "parse_line"]

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class LogSource:
    """One container of one pod to read."""

    pod: str
    container: str
    service: str
    replica: int


def parse_line(line: str, source: LogSource, stream: Stream) -> LogRecord | None:
    """A ``timestamps=true`` log line as a record (``None`` for an empty line)."""
    if not line:
        return None
    stamp, _, text = line.partition(" ")
    at = None
    with contextlib.suppress(ValueError):
        at = parse_time(stamp[:26] + "Z" if len(stamp) > 27 else stamp)
    if at is None:
        at, text = datetime.now(UTC), line
    return LogRecord(
        time=at, service=source.service, replica=source.replica, stream=stream, line=text
    )
