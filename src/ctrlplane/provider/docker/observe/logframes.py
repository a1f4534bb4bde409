"""Decoding the engine's log and attach streams (pure, no I/O).

Without a TTY the engine multiplexes stdout and stderr: each frame is an 8-byte header
(stream byte: 1 stdout, 2 stderr; three zero bytes; big-endian 32-bit length) followed
by the payload. With a TTY the stream is raw stdout. Log lines requested with
``timestamps=1`` start with an RFC 3339 timestamp and a space.

:class:`LogLines` is the log reader's fast path: it decodes the frames of a whole chunk,
joins the payloads of each stream, decodes and splits them once, and reads the
timestamps with :func:`log_time`, which parses the date and time of a second once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from ctrlplane.provider.docker.observe.state import parse_time

__all__ = ["FrameDecoder", "LineSplitter", "LogLines", "log_time", "split_timestamp"]

Stream = Literal["stdout", "stderr"]
_HEADER = struct.Struct(">BxxxL")


@dataclass
class FrameDecoder:
    """Incremental decoder: feed bytes, get ``(stream, payload)`` chunks."""

    tty: bool = False
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[tuple[Stream, bytes]]:
        if self.tty:
            return [("stdout", bytes(data))] if data else []
        self._buf.extend(data)
        out: list[tuple[Stream, bytes]] = []
        while len(self._buf) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(self._buf)
            if len(self._buf) < _HEADER.size + length:
                break
            payload = bytes(self._buf[_HEADER.size : _HEADER.size + length])
            del self._buf[: _HEADER.size + length]
            out.append(("stderr" if kind == 2 else "stdout", payload))
        return out


@dataclass
class LineSplitter:
    """Per-stream line assembly: chunks in, complete lines (without newline) out."""

    _partial: dict[str, bytes] = field(default_factory=dict)

    def feed(self, stream: Stream, chunk: bytes) -> list[str]:
        data = self._partial.pop(stream, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            self._partial[stream] = rest
        return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[tuple[Stream, str]]:
        out: list[tuple[Stream, str]] = []
        for stream, rest in sorted(self._partial.items()):
            if rest:
                s: Stream = "stderr" if stream == "stderr" else "stdout"
                out.append((s, rest.rstrip(b"\r").decode("utf-8", "replace")))
        self._partial.clear()
        return out


def split_timestamp(line: str) -> tuple[datetime, str]:
    """Split ``"<RFC 3339> text"``; a line without a timestamp gets the current time."""
    head, sep, rest = line.partition(" ")
    when = parse_time(head) if sep or head else None
    if when is None:
        return datetime.now(UTC), line
    return when, rest


_SECONDS_CACHE = 64
"""How many distinct seconds :func:`log_time` remembers (a log has a few per chunk)."""

_seconds: dict[str, datetime] = {}

_SCALE = (0, 100_000, 10_000, 1_000, 100, 10, 1)
"""What ``n`` fraction digits are multiplied by to give microseconds."""


def log_time(stamp: str) -> datetime | None:
    """A log line's engine timestamp (``2024-05-01T10:00:00.123456789Z``: UTC, up to nine
    fraction digits, trailing zeros dropped), read to the microsecond; other forms go to
    :func:`~.state.parse_time`. ``None`` if it is no timestamp."""
    if len(stamp) < 20 or stamp[-1] != "Z" or stamp[19] not in ".Z":
        return parse_time(stamp)
    head = stamp[:19]
    second = _seconds.get(head)
    if second is None:
        try:
            second = datetime.fromisoformat(head).replace(tzinfo=UTC)
        except ValueError:
            return None
        if len(_seconds) >= _SECONDS_CACHE:
            _seconds.clear()
        _seconds[head] = second
    fraction = stamp[20:-1]
    if not fraction:
        return second
    if not fraction.isdigit():
        return parse_time(stamp)
    return second.replace(microsecond=int(fraction[:6].ljust(6, "0")))


@dataclass
class LogLines:
    """Incremental reader of a log stream requested with ``timestamps=1``: feed the bytes
    as they arrive, get complete lines as ``(stream, time, text)`` (text without the
    newline and a trailing carriage return; a line without a timestamp gets the current
    time), then :meth:`flush` the unterminated rests at the end. The same lines as
    :class:`FrameDecoder`, :class:`LineSplitter` and :func:`split_timestamp` give, read a
    chunk at a time."""

    tty: bool = False
    _buf: bytes = b""
    _rest: dict[Stream, bytes] = field(default_factory=dict)

    def feed(self, data: bytes) -> list[tuple[Stream, datetime, str]]:
        out: list[tuple[Stream, datetime, str]] = []
        if self.tty:
            self._lines("stdout", [data], out)
            return out
        buf = self._buf + data if self._buf else data
        pos, size = 0, len(buf)
        stream: Stream = "stdout"
        parts: list[bytes] = []
        unpack = _HEADER.unpack_from
        while pos + 8 <= size:
            kind, length = unpack(buf, pos)
            end = pos + 8 + length
            if end > size:
                break
            this: Stream = "stderr" if kind == 2 else "stdout"
            if this != stream and parts:
                self._lines(stream, parts, out)
                parts = []
            stream = this
            parts.append(buf[pos + 8 : end])
            pos = end
        if parts:
            self._lines(stream, parts, out)
        self._buf = buf[pos:]
        return out

    def flush(self) -> list[tuple[Stream, datetime, str]]:
        out: list[tuple[Stream, datetime, str]] = []
        for stream, rest in sorted(self._rest.items()):
            if rest:
                self._timed(stream, rest.rstrip(b"\r").decode("utf-8", "replace").split("\n"), out)
        self._rest.clear()
        return out

    def _lines(
        self, stream: Stream, parts: list[bytes], out: list[tuple[Stream, datetime, str]]
    ) -> None:
        data = self._rest.pop(stream, b"") + b"".join(parts)
        cut = data.rfind(b"\n")
        if cut < 0:
            self._rest[stream] = data
            return
        if cut + 1 < len(data):
            self._rest[stream] = data[cut + 1 :]
        text = data[:cut].decode("utf-8", "replace")
        lines = text.split("\n")
        if "\r" in text:
            lines = [line.rstrip("\r") for line in lines]
        self._timed(stream, lines, out)

    @staticmethod
    def _timed(stream: Stream, lines: list[str], out: list[tuple[Stream, datetime, str]]) -> None:
        seconds = _seconds
        append = out.append
        for line in lines:
            stamp, sep, text = line.partition(" ")
            # the engine's form, inline (see log_time): one datetime per second of log
            if len(stamp) > 20 and stamp[19] == "." and stamp[-1] == "Z":
                second = seconds.get(stamp[:19])
                fraction = stamp[20:-1]
                if second is not None and fraction.isdigit():
                    micro = int(fraction[:6]) * _SCALE[min(len(fraction), 6)]
                    append((stream, second.replace(microsecond=micro), text))
                    continue
            when = log_time(stamp) if sep or stamp else None
            if when is None:
                append((stream, datetime.now(UTC), line))
            else:
                append((stream, when, text))
