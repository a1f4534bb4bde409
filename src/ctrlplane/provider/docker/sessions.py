"""Interactive exec sessions on Docker (beyond Go: the core's
:class:`~ctrlplane.provider.sessions.InteractiveExec`), over an exec started attached
(I/O through :meth:`~ctrlplane.provider.docker.client.DockerClient.attach_exec`).

A :class:`DockerExecSession` hands the process's output on as the engine sends it
(:meth:`~DockerExecSession.output`; without a tty the engine's frames keep stdout and
stderr apart), writes input on the hijacked connection, sends end of input (without a
tty a half-close of the connection; with a tty the terminal's end-of-input character
Ctrl-D, as the engine ends the whole stream on a half-close while the process runs on),
sets the terminal's size (``POST /exec/{id}/resize``) and returns the exit code that
``GET /exec/{id}/json`` reports once the process has exited.

**Nothing is left running.** The engine does not stop an exec's process when its client
goes away: a dropped connection leaves an interactive ``sh`` running in the container
for good. So every session's process is started with ``CTRLPLANE_EXEC_SESSION=<random
id>`` in its environment (inherited by what it starts), and leaving the session
(normally, on an error, on cancellation) runs :data:`SWEEP` in the container: it hangs
up every process that carries the session's mark (SIGHUP, what a closed terminal sends),
gives them :data:`HANGUP_GRACE` seconds, then kills what is left. This also ends the
background jobs a shell leaves when it exits. The sweep needs a ``sh`` with ``tr``,
``grep`` and ``kill`` in the image (busybox, Debian, Alpine...); without them, a session
whose process still runs is ended as a terminal user would (Ctrl-C, Ctrl-D, end of
input) and the failure is logged. A client process killed outright (SIGKILL) cannot run
the sweep: its session's processes keep running until the container stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ctrlplane.errors import BackendError, CtrlplaneError
from ctrlplane.provider.deadlines import cleanup
from ctrlplane.provider.docker.client import DockerClient, ExecStream, exec_exit_code
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.execution import exec_target
from ctrlplane.provider.docker.observe.logframes import FrameDecoder
from ctrlplane.provider.sessions import OutputChunk
from ctrlplane.provider.spec import ExecRequest

__all__ = ["HANGUP_GRACE", "MARK", "SWEEP", "DockerExecSession", "open_session"]

log = logging.getLogger("ctrlplane.provider.docker")

MARK = "CTRLPLANE_EXEC_SESSION"
"""The environment variable that marks a session's processes (its value: the session)."""
HANGUP_GRACE = 2.0
"""Seconds the hung-up processes of an ending session get before they are killed."""
EXIT_GRACE = 2.5
"""Seconds the engine gets to report an exit after it ended the output stream."""
ENDING_LIMIT = 15.0
"""Seconds ending a session may take in all (the sweep is one exec; then a hang-up)."""
HANGUP = b"\x03\x04"
"""What ending a terminal session types when the sweep cannot run: Ctrl-C, Ctrl-D."""

SWEEP = r"""
m="CTRLPLANE_EXEC_SESSION=$1"
marked() {
  for d in /proc/[0-9]*; do
    if tr '\000' '\n' < "$d/environ" 2>/dev/null | grep -qxF -- "$m"; then
      echo "${d#/proc/}"
    fi
  done
}
p=$(marked)
[ -n "$p" ] || exit 0
kill -HUP $p 2>/dev/null
kill -CONT $p 2>/dev/null
n=0
while [ "$n" -lt "$2" ]; do
  sleep 0.1 2>/dev/null || sleep 1
  p=$(marked)
  [ -n "$p" ] || exit 0
  n=$((n + 1))
done
kill -KILL $p 2>/dev/null
exit 0
"""
"""The sweep (``sh -c SWEEP sh <session> <tenths of a second of grace>``): hang up the
session's marked processes, then kill those still there after the grace (module docs)."""

_HEAD = 256
"""Bytes of the first output kept to recognise a program the engine could not start."""


class DockerExecSession:
    """One interactive process in a container (see the module docs and the core's
    :class:`~ctrlplane.provider.sessions.ExecSession` contract)."""

    def __init__(
        self, client: DockerClient, ref: str, exec_id: str, stream: ExecStream, tty: bool
    ) -> None:
        self.ref = ref
        self.exec_id = exec_id
        self.tty = tty
        self._client = client
        self._stream = stream
        self._chunks: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        self._head = b""
        self._broken: CtrlplaneError | None = None
        self._pump = asyncio.create_task(self._read())
        self._code: int | None = None

    async def _read(self) -> None:
        """Decode the stream into chunks until the engine ends it (or the connection
        fails: :attr:`_broken`)."""
        decoder = FrameDecoder(tty=self.tty)
        try:
            while data := await self._stream.read():
                if len(self._head) < _HEAD:
                    self._head += data[: _HEAD - len(self._head)]
                for stream, payload in decoder.feed(data):
                    self._chunks.put_nowait(OutputChunk(stream, payload))
        except CtrlplaneError as exc:
            self._broken = exc
        finally:
            self._chunks.put_nowait(None)

    async def output(self) -> AsyncIterator[OutputChunk]:
        """The output as the engine sends it, until the stream ends (the process exited,
        or the connection did). Everything is on ``stdout`` with a tty."""
        while (chunk := await self._chunks.get()) is not None:
            yield chunk
        self._chunks.put_nowait(None)  # a later call ends at once too

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the process's input."""
        await self._stream.write(data)

    async def close_stdin(self) -> None:
        """End of input: Ctrl-D on a terminal (what ends input there), else a half-close
        of the connection."""
        if self.tty:
            await self._stream.write(b"\x04")
        else:
            self._stream.end_input()

    async def resize(self, rows: int, columns: int) -> None:
        """Set the terminal's size (a no-op without a terminal or once the process
        exited)."""
        if rows < 1 or columns < 1:
            raise ValueError(f"a terminal size is positive, not {rows}x{columns}")
        if not self.tty or self._pump.done():
            return
        try:
            await self._client.resize_exec(self.exec_id, rows, columns)
        except BackendError:
            if await self._running():
                raise

    async def _running(self) -> bool:
        info = await self._client.inspect_exec(self.exec_id)
        return bool(info and info.get("Running"))

    async def wait(self) -> int:
        """The exit code once the process exited (after the engine ended the stream). A
        stream that ended while the process still runs (the connection was lost, or
        detached with the engine's detach keys) is a :class:`BackendError`."""
        if self._code is not None:
            return self._code
        await asyncio.shield(self._pump)
        info: dict[str, object] = {}
        for _ in range(int(EXIT_GRACE / 0.05)):
            info = await self._client.inspect_exec(self.exec_id) or {}
            if not info.get("Running"):
                break
            await asyncio.sleep(0.05)
        code = info.get("ExitCode")
        if info.get("Running") or not isinstance(code, int):
            why = f": {self._broken}" if self._broken else ""
            raise BackendError(
                f"the exec in container {self.ref} lost its connection while the process "
                f"still ran{why}",
                backend=BACKEND,
            )
        self._code = exec_exit_code(code, self._head)
        return self._code

    async def end(self, session: str) -> None:
        """Stop whatever the session started that still runs (module docs), then drop
        the connection."""
        try:
            grace = str(round(HANGUP_GRACE * 10))
            swept = await self._client.exec(
                self.ref, ["sh", "-c", SWEEP, "sh", session, grace], stdin=None, tty=False
            )
            if swept.exit_code != 0:
                raise BackendError(
                    f"the sweep exited {swept.exit_code}: "
                    f"{swept.stderr.decode('utf-8', 'replace').strip()[:200]}",
                    backend=BACKEND,
                )
        except CtrlplaneError as exc:
            log.warning("could not sweep the exec session in %s: %s", self.ref, exc)
            await self._hang_up()
        finally:
            self._stream.close()
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    async def _hang_up(self) -> None:
        """End a process that still runs as a terminal user would (no sweep possible)."""
        if self._pump.done():
            return
        with contextlib.suppress(CtrlplaneError):
            if self.tty:
                await self._stream.write(HANGUP)
            else:
                self._stream.end_input()
        await asyncio.wait({self._pump}, timeout=HANGUP_GRACE)


@asynccontextmanager
async def open_session(
    ctx: DockerContext, instance_id: str, req: ExecRequest
) -> AsyncIterator[DockerExecSession]:
    """An interactive session with ``req.command`` in its container (see
    :func:`~.execution.exec_target`), with a tty if ``req.tty``. Leaving the block
    (normally, on an error, on cancellation) ends every process the session started
    (bounded by :data:`ENDING_LIMIT`, run to its end even when cancelled)."""
    ref = await exec_target(ctx, instance_id, req)
    mark = secrets.token_hex(12)
    exec_id = await ctx.client.create_exec(ref, list(req.command), tty=req.tty, env={MARK: mark})
    async with ctx.client.attach_exec(exec_id, req.tty, ref) as stream:
        live = DockerExecSession(ctx.client, ref, exec_id, stream, req.tty)
        try:
            yield live
        finally:
            left = await cleanup(live.end(mark), ENDING_LIMIT, f"end the exec in {ref}")
            if left:
                log.warning("%s", left)
