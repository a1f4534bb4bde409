"""The streaming endpoints of the fake API server: ``pods/log``, ``pods/exec`` and watches.

As a real server (``recorded/kubernetes-1.21.2.json``):

- ``pods/log`` returns a container's log **in file order**: the container runtime writes
  stdout and stderr through separate copiers, so lines of both streams printed close
  together are not in time order in the file (``out-1``, ``out-2``, ``err-1`` while
  ``err-1`` was printed second); ``tailLines`` counts file lines. Timestamps have
  nanoseconds. ``stream`` is honoured only where ``PodLogsQuerySplitStreams`` is on
  (1.32+: an unknown value is 422, and a specific stream with ``tailLines`` too);
  elsewhere it is ignored, even ``stream=Bogus``, and every line comes back.
- ``pods/exec`` (websocket, ``v4.channel.k8s.io``, and ``v5`` from 1.30) sends an empty
  stdout frame first; a program that does not exist, run as the argv, exits 126 with the
  runtime's error on stdout; the Status on channel 3 carries the exit code.
- ``?watch=true`` on a collection streams ``{"type": ..., "object": ...}`` lines (200,
  ``application/json``): the objects there now as ``ADDED``, then every change, until
  ``timeoutSeconds`` or the client goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from ctrlplane.provider.results import LogRecord
from ctrlplane.testing.shell import run_command
from ctrlplane.testing.shell_programs import PROGRAMS

from .answers import not_found, status_error
from .store import Watcher, parse_selector

if TYPE_CHECKING:
    from .cluster import Cluster
    from .pods import PodRunner, Slot

JSON = dict[str, Any]

__all__ = ["exec_stream", "file_order", "log_stream", "watch_stream"]

FLUSH_WINDOW_US = 2000
"""Lines printed less than this many microseconds after the previous one reach the log
file in the same flush: stdout's first, then stderr's (the runtime's two copiers)."""

_STREAMS = {"All": ("stdout", "stderr"), "Stdout": ("stdout",), "Stderr": ("stderr",)}


def file_order(records: Sequence[LogRecord]) -> list[tuple[int, LogRecord]]:
    """``(sequence, record)`` in the order the log file holds them (see the module)."""
    out: list[tuple[int, LogRecord]] = []
    burst: list[tuple[int, LogRecord]] = []
    last: datetime | None = None
    for seq, record in enumerate(records):
        gap = None if last is None else (record.time - last).total_seconds() * 1_000_000
        if gap is not None and gap >= FLUSH_WINDOW_US:
            out += sorted(burst, key=lambda item: item[1].stream != "stdout")
            burst = []
        burst.append((seq, record))
        last = record.time
    return out + sorted(burst, key=lambda item: item[1].stream != "stdout")


def _stamp(seq: int, record: LogRecord) -> str:
    """RFC 3339 with nanoseconds, as the runtime stamps a line."""
    return record.time.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{seq % 1000:03d}Z"


def _find(
    cluster: Cluster, ns: str, pod_name: str, container: str | None
) -> tuple[PodRunner | None, str] | web.Response:
    """The pod's kubelet (``None`` before the pod is scheduled) and the container name;
    an error answer as the real server gives it."""
    pod = cluster.store.get("Pod", ns, pod_name)
    if pod is None:
        return not_found("pods", "", pod_name)
    names = [c["name"] for c in pod["spec"]["containers"]]
    inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
    if not container:
        if len(names) + len(inits) != 1:
            if cluster.features.lists_init_containers_apart:
                choices = f"[{' '.join(names)}]" + (
                    f" or one of the init containers: [{' '.join(inits)}]" if inits else ""
                )
            else:
                choices = f"[{' '.join(inits + names)}]"
            return status_error(
                400,
                "BadRequest",
                f"a container name must be specified for pod {pod_name}, choose one of: {choices}",
            )
        container = (names + inits)[0]
    if container not in names + inits:
        return status_error(
            400, "BadRequest", f"container {container} is not valid for pod {pod_name}"
        )
    return cluster.runners.get((ns, pod_name)), container


def _waiting(slot: Slot | None, container: str, pod: str) -> web.Response:
    reason = slot.waiting[0] if slot is not None and slot.waiting else "ContainerCreating"
    return status_error(
        400, "BadRequest", f'container "{container}" in pod "{pod}" is waiting to start: {reason}'
    )


async def log_stream(cluster: Cluster, request: web.Request) -> web.StreamResponse:
    """``GET .../pods/{name}/log`` (see the module)."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    q = request.query
    found = _find(cluster, ns, name, q.get("container"))
    if isinstance(found, web.Response):
        return found
    runner, container = found
    slot = runner.slot(container) if runner is not None else None
    if q.get("previous") == "true":
        proc = slot.previous if slot is not None else None
        if proc is None or runner is None:
            return status_error(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{name}" not found',
            )
    else:
        proc = slot.proc if slot is not None else None
        if proc is None or runner is None:
            return _waiting(slot, container, name)
    want = _STREAMS["All"]
    if cluster.features.log_stream_selection and "stream" in q:
        stream = q["stream"]
        if stream not in _STREAMS:
            return status_error(
                422,
                "Invalid",
                f'PodLogOptions "{name}" is invalid: stream: Unsupported value: "{stream}": '
                'supported values: "All", "Stderr", "Stdout"',
            )
        if stream != "All" and "tailLines" in q:
            return status_error(
                422,
                "Invalid",
                f'PodLogOptions "{name}" is invalid: tailLines: Forbidden: `tailLines` and '
                "specific `stream` are mutually exclusive for now",
            )
        want = _STREAMS[stream]
    since: datetime | None = None
    if "sinceSeconds" in q:
        since = datetime.fromtimestamp(time.time() - int(q["sinceSeconds"]), UTC)
    if "sinceTime" in q:
        since = datetime.fromisoformat(q["sinceTime"].replace("Z", "+00:00"))
    stamps = q.get("timestamps") == "true"
    follow = q.get("follow") == "true"
    limit = int(q["limitBytes"]) if "limitBytes" in q else None

    def text(items: Sequence[tuple[int, LogRecord]]) -> bytes:
        lines = [(_stamp(seq, r) + " " if stamps else "") + r.line + "\n" for seq, r in items]
        return "".join(lines).encode()

    cluster.backend.catch_up(proc)
    items = [
        (seq, r)
        for seq, r in file_order(proc.logs)
        if r.stream in want and (since is None or r.time >= since)
    ]
    if "tailLines" in q:
        n = int(q["tailLines"])
        items = items[-n:] if n > 0 else []
    body = text(items)
    if limit is not None:
        body = body[:limit]
        follow = False
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    await resp.write(body)
    seen = len(proc.logs)
    while follow:
        await asyncio.sleep(cluster.tick * 2)
        cluster.backend.catch_up(proc)
        fresh = [(seq, r) for seq, r in file_order(proc.logs) if seq >= seen and r.stream in want]
        seen = len(proc.logs)
        if fresh:
            await resp.write(text(fresh))
        if not proc.running or runner.stopped or (slot is not None and slot.proc is not proc):
            break
    with contextlib.suppress(ConnectionResetError):
        await resp.write_eof()
    return resp


def _missing_program(argv: Sequence[str]) -> bool:
    """Whether ``argv[0]`` is no program of the image (the runtime cannot start it)."""
    prog = argv[0].rsplit("/", 1)[-1]
    return prog != "sh" and prog not in PROGRAMS


async def _stdin(ws: web.WebSocketResponse, v5: bool) -> bytes:
    """Stdin until the client closes it (v5) or goes quiet: never block on it (lightkube
    always asks for stdin)."""
    data = bytearray()
    while True:
        try:
            msg = await ws.receive(timeout=0.2 if not data else 1.0)
        except TimeoutError:
            break
        if msg.type != WSMsgType.BINARY:
            break
        frame = bytes(msg.data)
        if v5 and frame == bytes((255, 0)):
            break
        if frame[:1] == b"\x00":
            data += frame[1:]
    return bytes(data)


async def exec_stream(cluster: Cluster, request: web.Request) -> web.StreamResponse:
    """``.../pods/{name}/exec`` over a websocket (see the module)."""
    ns, name = request.match_info["ns"], request.match_info["name"]
    q = request.query
    command = q.getall("command", [])
    if not command:
        return status_error(400, "BadRequest", "you must specify at least 1 command")
    found = _find(cluster, ns, name, q.get("container"))
    if isinstance(found, web.Response):
        return found
    runner, container = found
    slot = runner.slot(container) if runner is not None else None
    proc = slot.proc if slot is not None else None
    if proc is None or not proc.running:
        return status_error(
            400,
            "BadRequest",
            f'unable to upgrade connection: container not found ("{container}")',
        )
    protocols: tuple[str, ...] = ("v4.channel.k8s.io",)
    if cluster.features.exec_v5:
        protocols = ("v5.channel.k8s.io", *protocols)
    ws = web.WebSocketResponse(protocols=protocols)
    if not ws.can_prepare(request).ok:
        return status_error(400, "BadRequest", "Upgrade request required")
    await ws.prepare(request)
    v5 = ws.ws_protocol == "v5.channel.k8s.io"
    stdin = await _stdin(ws, v5) if q.get("stdin") in ("true", "1") else b""
    if _missing_program(command):
        code = 126
        stdout = (
            "OCI runtime exec failed: exec failed: unable to start container process: exec: "
            f'"{command[0]}": executable file not found in $PATH: unknown\r\n'
        ).encode()
        stderr = b""
    else:
        res = await run_command(command, env=proc.env, fs=proc.files, stdin=stdin)
        code, stdout, stderr = res.exit_code, res.stdout, res.stderr
    with contextlib.suppress(ConnectionError):  # the client may have gone
        if q.get("stdout") in ("true", "1"):
            await ws.send_bytes(b"\x01")  # the runtime's first (empty) write
            if stdout:
                await ws.send_bytes(b"\x01" + stdout)
        if stderr and q.get("stderr") in ("true", "1"):
            await ws.send_bytes(b"\x02" + stderr)
        status: JSON = {"metadata": {}, "status": "Success"}
        if code != 0:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": "command terminated with non-zero exit code: Error executing in "
                f"Docker Container: {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        await ws.send_bytes(b"\x03" + json.dumps(status, separators=(",", ":")).encode())
        await ws.close()
    return ws


async def watch_stream(
    cluster: Cluster, request: web.Request, kind: str, items: Sequence[JSON]
) -> web.StreamResponse:
    """A watch of ``kind`` (see the module); ``items`` are the matching objects now."""
    ns = request.match_info.get("ns", "")
    try:
        selector = parse_selector(request.query.get("labelSelector"))
    except ValueError as exc:
        return status_error(400, "BadRequest", str(exc))
    timeout = float(request.query.get("timeoutSeconds", "1800"))
    watcher = Watcher(kind, ns, selector)
    cluster.store.watchers.append(watcher)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        for obj in items:
            await resp.write(_event("ADDED", obj))
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                change, obj = await asyncio.wait_for(watcher.queue.get(), timeout=left)
            except TimeoutError:
                break
            await resp.write(_event(change, obj))
        with contextlib.suppress(ConnectionResetError):
            await resp.write_eof()
    except ConnectionResetError:
        pass
    finally:
        cluster.store.watchers.remove(watcher)
    return resp


def _event(change: str, obj: JSON) -> bytes:
    return json.dumps({"type": change, "object": obj}, separators=(",", ":")).encode() + b"\n"
