"""Nomad's fs logs frames as lines (pure; no I/O).

``/v1/client/fs/logs/:alloc`` answers a stream of JSON objects written back to back, each
a ``StreamFrame``: ``{"Data": <base64>, "File": "alloc/logs/<task>.<type>.N", "Offset":
<file offset at the END of Data>}`` (a real 1.1.2 agent answered ``Offset: 6`` for the
six bytes ``out-1\n`` read from offset 0; ``FileEvent`` frames carry no data); an empty
object is a heartbeat. :class:`FrameDecoder` turns that
byte stream into frames, :class:`LineSplitter` the frames' data into lines (keeping a
partial last line until its newline arrives).

Nomad's log files carry no timestamps. A line read from the file's history gets the
time its task first started in that allocation (a lower bound); a line that arrives
while following gets the time it arrived.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Frame", "FrameDecoder", "LineSplitter"]


@dataclass(frozen=True)
class Frame:
    """One data frame: ``offset`` is where ``data`` ends in ``file``."""

    offset: int
    data: bytes
    file: str = ""
    event: str = ""

    @property
    def start(self) -> int:
        """Where ``data`` starts in ``file``."""
        return max(0, self.offset - len(self.data))


@dataclass
class FrameDecoder:
    """Feed bytes of the frame stream; get the complete frames (heartbeats dropped)."""

    _buffer: str = ""
    _decoder: json.JSONDecoder = field(default_factory=json.JSONDecoder)

    def feed(self, chunk: bytes) -> list[Frame]:
        self._buffer += chunk.decode()
        out: list[Frame] = []
        while True:
            text = self._buffer.lstrip()
            if not text:
                self._buffer = ""
                return out
            try:
                obj, end = self._decoder.raw_decode(text)
            except ValueError:
                self._buffer = text
                return out
            self._buffer = text[end:]
            frame = _frame(obj)
            if frame is not None:
                out.append(frame)


def _frame(obj: Any) -> Frame | None:
    if not isinstance(obj, dict) or not (obj.get("Data") or obj.get("FileEvent")):
        return None
    data = base64.b64decode(obj["Data"]) if obj.get("Data") else b""
    return Frame(
        int(obj.get("Offset", 0)), data, str(obj.get("File", "")), str(obj.get("FileEvent", ""))
    )


@dataclass
class LineSplitter:
    """Accumulates data; :meth:`lines` returns the complete lines (without newlines)."""

    _partial: bytes = b""

    def feed(self, data: bytes) -> list[str]:
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        return [line.decode(errors="replace").rstrip("\r") for line in complete]

    def flush(self) -> list[str]:
        """The partial last line, if any (at the end of a non-following read)."""
        rest, self._partial = self._partial, b""
        return [rest.decode(errors="replace")] if rest else []
