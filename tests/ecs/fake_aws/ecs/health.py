"""Container health checks as the ECS agent runs them, and the probe programs it needs.

A container's ``healthCheck`` runs its command every ``interval`` seconds (the first run
one interval after the container started), each bounded by ``timeout``; a success makes
the container ``HEALTHY`` (and resets the count), ``retries`` consecutive failures make it
``UNHEALTHY``, and failures within ``startPeriod`` before the first success do not count.
Until the first verdict the status is ``UNKNOWN``. Intervals and start periods follow
the fake's time scale; a timeout is never shorter than one real second (a loaded test
machine must not turn a slow fake process into a failed probe).

The command runs inside the container: ``["CMD", prog, args...]`` directly,
``["CMD-SHELL", script]`` through ``sh -c`` in the fake shell, ``["NONE"]`` not at all.
Images here have busybox's ``wget`` and ``nc``, which the fake shell lacks, so a ``CMD``
command whose program is one of them runs here: ``wget [-q] [-O FILE] [-T SEC]
[--spider] URL`` fetches from the task's own ports (``127.0.0.1``/``localhost``) and exits
1 on a refused connection or an HTTP error status, as busybox does; ``nc -z [-w SEC] HOST
PORT`` exits 0 when the port accepts connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from ctrlplane.testing.records import FakeContainer
from ctrlplane.testing.shell import run_command

__all__ = ["Fetch", "probe", "watch"]

Fetch = Callable[[int, str], "tuple[int, bytes] | None"]
"""GET ``path`` from the task's ``port``: ``(status, body)``, or ``None`` (refused)."""

_LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _wget(args: list[str], fetch: Fetch) -> tuple[int, bytes]:
    url, spider, output = "", False, "-"
    it = iter(args)
    for arg in it:
        if arg in ("-q", "-S", "--quiet"):
            continue
        if arg in ("-O", "-T", "-U"):
            value = next(it, None)
            if value is None:
                return 1, f"wget: option requires an argument: {arg}\n".encode()
            if arg == "-O":
                output = value
            continue
        if arg == "--spider":
            spider = True
            continue
        if arg.startswith("-"):
            return 1, f"wget: unrecognized option '{arg}'\n".encode()
        url = arg
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or host not in _LOCAL:
        return 1, f"wget: bad address '{host or url}'\n".encode()
    answer = fetch(parts.port or 80, parts.path or "/")
    if answer is None:
        return 1, f"wget: can't connect to remote host ({host}): Connection refused\n".encode()
    status, _ = answer
    if status >= 400:
        return 1, f"wget: server returned error: HTTP/1.1 {status}\n".encode()
    del spider, output  # the body is not kept: nothing reads it back
    return 0, b""


def _nc(args: list[str], fetch: Fetch) -> tuple[int, bytes]:
    plain = [a for a in args if not a.startswith("-")]
    if "-w" in args:
        wait = args.index("-w") + 1
        plain = [a for i, a in enumerate(args) if not a.startswith("-") and i != wait]
    if "-z" not in args or len(plain) != 2 or not plain[1].isdigit():
        return 1, b"nc: the fake knows only nc -z [-w SEC] HOST PORT\n"
    if plain[0] not in _LOCAL:
        return 1, f"nc: bad address '{plain[0]}'\n".encode()
    return (0, b"") if fetch(int(plain[1]), "/") is not None else (1, b"")


async def probe(command: list[str], container: FakeContainer, fetch: Fetch) -> int:
    """Run a health check ``command`` in ``container``; its exit status."""
    argv = ["sh", "-c", command[1]] if command[0] == "CMD-SHELL" else list(command[1:])
    program = argv[0].rsplit("/", 1)[-1] if argv else ""
    if program == "wget":
        return _wget(argv[1:], fetch)[0]
    if program == "nc":
        return _nc(argv[1:], fetch)[0]
    result = await run_command(argv, env=container.env, fs=container.files)
    return result.exit_code


async def watch(
    hc: dict[str, Any],
    run: Callable[[], Awaitable[int]],
    report: Callable[[str], None],
    scaled: Callable[[float], float],
) -> None:
    """Run the health check ``hc`` until cancelled, reporting each new verdict."""
    interval = scaled(hc.get("interval") or 30)
    timeout = max(scaled(hc.get("timeout") or 5), 1.0)
    retries = hc.get("retries") or 3
    grace = scaled(hc.get("startPeriod") or 0)
    began = time.monotonic()
    failures = 0
    healthy_once = False
    while True:
        await asyncio.sleep(interval)
        try:
            code = await asyncio.wait_for(run(), timeout)
        except TimeoutError:
            code = 1
        if code == 0:
            failures, healthy_once = 0, True
            report("HEALTHY")
            continue
        if not healthy_once and time.monotonic() - began < grace:
            continue
        failures += 1
        if failures >= retries:
            report("UNHEALTHY")
