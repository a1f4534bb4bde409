"""Nomad's exec websocket frames, both ways (pure; no I/O).

The client sends ``{"stdin": {"data": <base64>}}``, ``{"stdin": {"close": true}}`` (end
of input) and ``{"tty_size": {"height": ROWS, "width": COLUMNS}}`` (the terminal's
size). The agent sends ``{"stdout": {"data": <base64>}}``, ``{"stderr": ...}``, their
``{"close": true}`` frames, and finally ``{"exited": true, "result": {"exit_code": N}}``.
Nomad encodes the frames from a protobuf message whose fields are ``omitempty``, so
``"result": {}`` is exit code 0 (as Nomad's own ``api`` client reads it); an ``exited``
frame without a ``result`` object leaves the exit code unknown, and it is never guessed.
Frames without data (the agent's heartbeats, close frames) carry no output.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from ctrlplane.provider.native import JSON
from ctrlplane.provider.sessions import OutputChunk

__all__ = [
    "STDIN_CLOSE",
    "ExecOutput",
    "ExecTranscript",
    "exit_of",
    "output_of",
    "stdin_frame",
    "tty_size_frame",
]

STDIN_CLOSE: JSON = {"stdin": {"close": True}}
"""End of input."""


def stdin_frame(data: bytes) -> JSON:
    """Input for the process."""
    return {"stdin": {"data": base64.b64encode(data).decode()}}


def tty_size_frame(rows: int, columns: int) -> JSON:
    """The terminal's size."""
    return {"tty_size": {"height": rows, "width": columns}}


def output_of(frame: object) -> list[OutputChunk]:
    """The output one agent frame carries (none for heartbeats and close frames)."""
    if not isinstance(frame, dict):
        return []
    chunks: list[OutputChunk] = []
    for stream in ("stdout", "stderr"):
        part = frame.get(stream) or {}
        if isinstance(part, dict) and part.get("data"):
            chunks.append(OutputChunk(stream, base64.b64decode(part["data"])))
    return chunks


def exit_of(frame: object) -> int | str | None:
    """``None`` until the ``exited`` frame; then the exit code, or why it is unknown."""
    if not isinstance(frame, dict) or not frame.get("exited"):
        return None
    result = frame.get("result")
    if not isinstance(result, dict):
        return (
            f"exited without a result: the exit code is unknown (frame {json.dumps(frame)[:200]})"
        )
    return int(result.get("exit_code", 0))


@dataclass
class ExecOutput:
    """What an exec session returned."""

    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclass
class ExecTranscript:
    """Feed the session's frames; :meth:`feed` answers the outcome at the ``exited``
    frame: the output, or why the exit code is unknown."""

    _out: bytearray = field(default_factory=bytearray)
    _err: bytearray = field(default_factory=bytearray)

    def feed(self, frame: object) -> ExecOutput | str | None:
        """Collect one frame's output; ``None`` until the session exited."""
        for chunk in output_of(frame):
            (self._out if chunk.stream == "stdout" else self._err).extend(chunk.data)
        code = exit_of(frame)
        if code is None or isinstance(code, str):
            return code
        return ExecOutput(code, bytes(self._out), bytes(self._err))
