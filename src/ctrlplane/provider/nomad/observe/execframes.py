"""Nomad's exec websocket frames as an exit code and output (pure; no I/O).

The agent sends JSON frames: ``{"stdout": {"data": <base64>}}``, ``{"stderr": ...}`` and
finally ``{"exited": true, "result": {"exit_code": N}}``. Nomad encodes the frames from a
protobuf message whose fields are ``omitempty``, so ``"result": {}`` is exit code 0 (as
Nomad's own ``api`` client reads it); an ``exited`` frame without a ``result`` object
leaves the exit code unknown, and it is never guessed.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

__all__ = ["ExecOutput", "ExecTranscript"]


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
        if not isinstance(frame, dict):
            return None
        for key, sink in (("stdout", self._out), ("stderr", self._err)):
            part = frame.get(key) or {}
            if part.get("data"):
                sink += base64.b64decode(part["data"])
        if not frame.get("exited"):
            return None
        result = frame.get("result")
        if not isinstance(result, dict):
            return (
                "exited without a result: the exit code is unknown "
                f"(frame {json.dumps(frame)[:200]})"
            )
        return ExecOutput(int(result.get("exit_code", 0)), bytes(self._out), bytes(self._err))
