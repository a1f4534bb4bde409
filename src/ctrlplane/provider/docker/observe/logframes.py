"""Decoding the engine's log and attach streams (pure, no I/O).

Without a TTY the engine multiplexes stdout and stderr: each frame is an 8-byte header
(stream byte: 1 stdout, 2 stderr; three zero bytes; big-endian 32-bit length) followed
by the payload. With a TTY the stream is raw stdout. Log lines requested with
``timestamps=1`` start with an RFC 3339 timestamp and a space.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from ctrlplane.provider.docker.observe.state import parse_time

__all__ = ["FrameDecoder", "LineSplitter", "split_timestamp"]

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
