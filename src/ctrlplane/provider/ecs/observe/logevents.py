"""CloudWatch Logs events as log records (pure).

The ``awslogs`` driver sends a container's stdout and stderr to the same stream without
saying which (CloudWatch events carry only a time and a message), so every record is
``stdout``. Times are the events' millisecond timestamps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.results import LogRecord

__all__ = ["merge", "records", "to_ms"]


def to_ms(at: datetime) -> int:
    """``at`` as CloudWatch milliseconds (rounded down: ``since`` stays inclusive)."""
    return int(at.timestamp() * 1000)


def records(events: Iterable[Mapping[str, Any]], service: str, replica: int) -> list[LogRecord]:
    return [
        LogRecord(
            time=datetime.fromtimestamp(int(e["timestamp"]) / 1000, UTC),
            service=service,
            replica=replica,
            stream="stdout",
            line=str(e.get("message", "")).rstrip("\n"),
        )
        for e in events
    ]


def merge(groups: Iterable[list[LogRecord]]) -> list[LogRecord]:
    """Records of several streams in time order (stable within each stream)."""
    tagged = [(r.time, i, n, r) for i, group in enumerate(groups) for n, r in enumerate(group)]
    tagged.sort(key=lambda item: (item[0], item[2], item[1]))
    return [r for *_, r in tagged]
