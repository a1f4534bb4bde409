"""A fake Amazon CloudWatch Logs: log groups of log streams of timestamped events.

Operations: ``CreateLogGroup``, ``DescribeLogGroups``, ``DeleteLogGroup``,
``CreateLogStream``, ``DescribeLogStreams``, ``DeleteLogStream``, ``GetLogEvents``,
``FilterLogEvents``. The awslogs driver of the ECS fake writes through :meth:`Logs.append`.

Rules kept from the real service: ``logGroupName`` and ``logGroupIdentifier`` are
exclusive and one is needed; ``logStreamNames`` and ``logStreamNamePrefix`` are
exclusive; ordering streams by ``LastEventTime`` refuses a prefix; ``startTime`` is
inclusive and ``endTime`` exclusive (milliseconds); ``GetLogEvents`` without a token
returns the newest ``limit`` events unless ``startFromHead``, and its forward token stays
the same while nothing new arrived; tokens are opaque (a made-up one is refused).
``FilterLogEvents`` understands the filter patterns a client of Container Insights needs:
JSON selectors joined by ``&&`` (``{ $.Type = "Task" && $.ServiceName = "web" }``) and
plain terms that must all appear; other syntax is refused, naming what the fake lacks.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .account import Account, Clock
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["Logs"]

JSON = dict[str, Any]
_SELECTOR = re.compile(r'\s*\$\.([A-Za-z0-9_.]+)\s*(=|!=)\s*("(?:[^"\\]|\\.)*"|-?[0-9.]+)\s*')
_MAX = 10_000


@dataclass
class _Event:
    timestamp: int
    ingestion: int
    message: str
    event_id: str


@dataclass
class _Stream:
    name: str
    created: int
    events: list[_Event] = field(default_factory=list)

    def window(self, start: int | None, end: int | None) -> list[_Event]:
        return [
            e
            for e in self.events
            if (start is None or e.timestamp >= start) and (end is None or e.timestamp < end)
        ]


@dataclass
class _Group:
    name: str
    arn: str
    created: int
    streams: dict[str, _Stream] = field(default_factory=dict)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _bad_token() -> AwsError:
    return AwsError("InvalidParameterException", "The specified nextToken is invalid.")


class _Pattern:
    """A filter pattern the fake understands (see the module docs)."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.selectors: list[tuple[str, str, Any]] = []
        self.terms: list[str] = []
        if self.text.startswith("{"):
            if not self.text.endswith("}"):
                raise self._unsupported()
            for part in self.text[1:-1].split("&&"):
                m = _SELECTOR.fullmatch(part)
                if m is None:
                    raise self._unsupported()
                raw = m.group(3)
                value = json.loads(raw) if raw.startswith('"') else float(raw)
                self.selectors.append((m.group(1), m.group(2), value))
        elif self.text:
            for term in re.findall(r'"[^"]*"|\S+', self.text):
                if term[0] in "?-[" or "||" in term:
                    raise self._unsupported()
                self.terms.append(term.strip('"'))

    def _unsupported(self) -> AwsError:
        return AwsError(
            "InvalidParameterException",
            f"the fake understands JSON selectors joined by && and plain terms, not {self.text!r}",
        )

    def matches(self, message: str) -> bool:
        if self.selectors:
            try:
                data = json.loads(message)
            except ValueError:
                return False
            for path, op, want in self.selectors:
                value: Any = data
                for part in path.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if isinstance(want, float):
                    equal = isinstance(value, int | float) and float(value) == want
                else:
                    equal = value == want
                if equal != (op == "="):
                    return False
            return True
        return all(term in message for term in self.terms)


class Logs:
    """The fake service's state and handlers (:attr:`api`)."""

    def __init__(self, account: Account, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.groups: dict[str, _Group] = {}
        self._ids = itertools.count(1)
        self.api = ServiceApi(
            "logs",
            {
                "CreateLogGroup": self.create_group,
                "DescribeLogGroups": self.describe_groups,
                "DeleteLogGroup": self.delete_group,
                "CreateLogStream": self.create_stream,
                "DescribeLogStreams": self.describe_streams,
                "DeleteLogStream": self.delete_stream,
                "GetLogEvents": self.get_events,
                "FilterLogEvents": self.filter_events,
            },
            validation_code="InvalidParameterException",
        )

    # what the fake itself writes

    def ensure_group(self, name: str) -> None:
        """Create group ``name`` unless it exists (what ``awslogs-create-group`` does)."""
        if name not in self.groups:
            now = _ms(self.clock.now())
            self.groups[name] = _Group(name, self.account.arn("logs", f"log-group:{name}:*"), now)

    def has_group(self, name: str) -> bool:
        return name in self.groups

    def append(self, group: str, stream: str, at: datetime, message: str) -> None:
        """Store one event (creating the stream); the group must exist."""
        g = self.groups[group]
        s = g.streams.get(stream)
        if s is None:
            s = g.streams[stream] = _Stream(stream, _ms(self.clock.now()))
        event = _Event(_ms(at), _ms(self.clock.now()), message, f"{next(self._ids):056d}")
        keys = [e.timestamp for e in s.events]
        s.events.insert(bisect.bisect_right(keys, event.timestamp), event)

    def stream_names(self, group: str, prefix: str = "") -> list[str]:
        g = self.groups.get(group)
        return sorted(n for n in (g.streams if g else {}) if n.startswith(prefix))

    # helpers

    def _group(self, body: JSON) -> _Group:
        name, ident = body.get("logGroupName"), body.get("logGroupIdentifier")
        if name and ident:
            raise AwsError(
                "InvalidParameterException",
                "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
            )
        if not name and not ident:
            raise AwsError(
                "InvalidParameterException",
                "Should provide either name or ARN of the log group.",
            )
        key = name or str(ident).split(":log-group:")[-1].removesuffix(":*")
        group = self.groups.get(key)
        if group is None:
            raise AwsError("ResourceNotFoundException", "The specified log group does not exist.")
        return group

    @staticmethod
    def _stream(group: _Group, name: str) -> _Stream:
        stream = group.streams.get(name)
        if stream is None:
            raise AwsError("ResourceNotFoundException", "The specified log stream does not exist.")
        return stream

    # handlers

    def create_group(self, body: JSON) -> JSON:
        name = body["logGroupName"]
        if name in self.groups:
            raise AwsError(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        self.ensure_group(name)
        return {}

    def describe_groups(self, body: JSON) -> JSON:
        prefix = body.get("logGroupNamePrefix", "")
        groups = [g for n, g in sorted(self.groups.items()) if n.startswith(prefix)]
        return {
            "logGroups": [
                {"logGroupName": g.name, "arn": g.arn, "creationTime": g.created, "storedBytes": 0}
                for g in groups[: int(body.get("limit") or 50)]
            ]
        }

    def delete_group(self, body: JSON) -> JSON:
        group = self._group({"logGroupName": body["logGroupName"]})
        del self.groups[group.name]
        return {}

    def create_stream(self, body: JSON) -> JSON:
        group = self._group({"logGroupName": body["logGroupName"]})
        name = body["logStreamName"]
        if name in group.streams:
            raise AwsError(
                "ResourceAlreadyExistsException", "The specified log stream already exists"
            )
        group.streams[name] = _Stream(name, _ms(self.clock.now()))
        return {}

    def describe_streams(self, body: JSON) -> JSON:
        group = self._group(body)
        prefix = body.get("logStreamNamePrefix", "")
        order = body.get("orderBy", "LogStreamName")
        if prefix and order == "LastEventTime":
            raise AwsError(
                "InvalidParameterException",
                "Cannot order by LastEventTime with a logStreamNamePrefix.",
            )
        streams = [s for n, s in group.streams.items() if n.startswith(prefix)]
        if order == "LastEventTime":
            streams.sort(key=lambda s: s.events[-1].timestamp if s.events else 0)
        else:
            streams.sort(key=lambda s: s.name)
        if body.get("descending"):
            streams.reverse()
        start = int(body.get("nextToken") or 0) if str(body.get("nextToken", "0")).isdigit() else -1
        if start < 0:
            raise _bad_token()
        size = int(body.get("limit") or 50)
        page = streams[start : start + size]
        out: JSON = {"logStreams": [self._stream_entry(group, s) for s in page]}
        if start + size < len(streams):
            out["nextToken"] = str(start + size)
        return out

    def _stream_entry(self, group: _Group, s: _Stream) -> JSON:
        entry: JSON = {
            "logStreamName": s.name,
            "creationTime": s.created,
            "arn": f"{group.arn.removesuffix(':*')}:log-stream:{s.name}",
            "storedBytes": 0,
        }
        if s.events:
            entry.update(
                firstEventTimestamp=s.events[0].timestamp,
                lastEventTimestamp=s.events[-1].timestamp,
                lastIngestionTime=max(e.ingestion for e in s.events),
            )
        return entry

    def delete_stream(self, body: JSON) -> JSON:
        group = self._group({"logGroupName": body["logGroupName"]})
        self._stream(group, body["logStreamName"])
        del group.streams[body["logStreamName"]]
        return {}

    def get_events(self, body: JSON) -> JSON:
        group = self._group(body)
        stream = self._stream(group, body["logStreamName"])
        limit = min(int(body.get("limit") or _MAX), _MAX)
        token = body.get("nextToken")
        start, end = body.get("startTime"), body.get("endTime")
        if token is not None:
            parts = str(token).split("/")
            if len(parts) != 4 or parts[0] not in ("f", "b") or not parts[1].isdigit():
                raise _bad_token()
            direction, index = parts[0], int(parts[1])
            start = int(parts[2]) if parts[2] else None
            end = int(parts[3]) if parts[3] else None
        else:
            direction = "f" if body.get("startFromHead") else "b"
            index = 0 if direction == "f" else -1
        window = stream.window(start, end)
        if direction == "f":
            lo = min(index, len(window))
            hi = min(lo + limit, len(window))
        else:
            hi = len(window) if index < 0 else min(index, len(window))
            lo = max(0, hi - limit)
        shown = window[lo:hi]
        bounds = f"{'' if start is None else start}/{'' if end is None else end}"
        return {
            "events": [
                {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}
                for e in shown
            ],
            "nextForwardToken": f"f/{hi:020d}/{bounds}",
            "nextBackwardToken": f"b/{lo:020d}/{bounds}",
        }

    def filter_events(self, body: JSON) -> JSON:
        group = self._group(body)
        names = body.get("logStreamNames")
        prefix = body.get("logStreamNamePrefix")
        if names and prefix:
            raise AwsError(
                "InvalidParameterException",
                "Cannot specify both logStreamNames and logStreamNamePrefix.",
            )
        pattern = _Pattern(body.get("filterPattern", ""))
        if names:
            streams = [group.streams[n] for n in names if n in group.streams]
        else:
            streams = [s for n, s in group.streams.items() if n.startswith(prefix or "")]
        start, end = body.get("startTime"), body.get("endTime")
        found = [
            (e, s.name) for s in streams for e in s.window(start, end) if pattern.matches(e.message)
        ]
        found.sort(key=lambda pair: (pair[0].timestamp, pair[0].event_id))
        token = body.get("nextToken")
        if token is not None and not str(token).isdigit():
            raise _bad_token()
        offset = int(token or 0)
        limit = min(int(body.get("limit") or _MAX), _MAX)
        page = found[offset : offset + limit]
        out: JSON = {
            "events": [
                {
                    "logStreamName": name,
                    "timestamp": e.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion,
                    "eventId": e.event_id,
                }
                for e, name in page
            ],
            "searchedLogStreams": [
                {"logStreamName": s.name, "searchedCompletely": True} for s in streams
            ],
        }
        if offset + limit < len(found):
            out["nextToken"] = str(offset + limit)
        return out
