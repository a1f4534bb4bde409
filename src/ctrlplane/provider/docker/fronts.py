"""The fronts of an instance on the engine (I/O): made to exist and run, read back.

Each published port of the instance has one front container (:mod:`.render.fronts`) that
holds the port for the instance's whole life and forwards new connections to the
service's current units. :func:`ensure_fronts` runs at provision (step ``publish
ports``), at every ``start`` and ``restart`` and after a crash repair: a missing front is
created, a stopped one started, one the workload no longer has removed. A front asked for
an engine-chosen port (``host`` 0) is started once so the engine picks a free port, then
created again with that port pinned in its binding: from then on it keeps that port
through stops, engine restarts and its own restarts. On a local engine (a unix socket)
the port is chosen here instead, a free one on ``publish_host``, so the front starts
once; if the engine cannot bind it (taken meanwhile, or the engine's host is another
machine), the engine chooses as above. Deploys, rollbacks, scale and stop leave the
fronts alone.
"""

from __future__ import annotations

import asyncio
import socket

from ctrlplane.errors import BackendError, BackendUnavailable, CtrlplaneError, OperationTimeout
from ctrlplane.provider.deadlines import bounded, seconds
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.images import ensure_image
from ctrlplane.provider.docker.observe.workload import front_host_port, fronts_by_key
from ctrlplane.provider.docker.render.fronts import FrontPort, front_ports, resolve_argv
from ctrlplane.provider.docker.render.materials import registry_auth
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.native import JSON

__all__ = ["ensure_fronts", "inspect_fronts", "unresolved_fronts"]

_PIN_ATTEMPTS = 3
"""Tries to pin an engine-chosen port (another process may take it in between)."""


async def inspect_fronts(ctx: DockerContext, instance_id: str) -> list[JSON]:
    """``docker inspect`` of every front of the instance."""
    found = await ctx.client.list_containers(ctx.labels.front_filter(instance_id))
    out: list[JSON] = []
    for entry in found:
        info = await ctx.client.inspect_container(str(entry["Id"]))
        if info is not None:
            out.append(info)
    return out


async def unresolved_fronts(ctx: DockerContext, wl: Workload, fronts: list[JSON]) -> set[str]:
    """The keys of the running ``fronts`` that cannot resolve their service's name on the
    instance network (checked inside each, as it resolves the name for every
    connection): such a front closes every connection it accepts. The engine can lose a
    network's names while the containers keep running (``docker swarm leave`` erases
    them). A front whose check cannot run (the engine does not answer within
    ``request_timeout``, the exec fails) is not reported."""
    by_key = fronts_by_key(ctx.labels, fronts)
    limit = seconds(ctx.config.request_timeout)

    async def unresolved(front: FrontPort) -> bool:
        info = by_key.get(front.key)
        if info is None or not (info.get("State") or {}).get("Running"):
            return False
        socat = ((info.get("Config") or {}).get("Entrypoint") or ["socat"])[0]
        argv = resolve_argv(front, str(socat))
        try:
            done = await bounded(
                ctx.client.exec(str(info["Id"]), argv, stdin=None, tty=False), limit
            )
        except (CtrlplaneError, OperationTimeout):
            return False
        return done.exit_code != 0

    wanted = front_ports(wl)
    found = await asyncio.gather(*(unresolved(front) for front in wanted))
    return {front.key for front, bad in zip(wanted, found, strict=True) if bad}


async def ensure_fronts(ctx: DockerContext, wl: Workload) -> list[JSON]:
    """Every front of ``wl`` exists and runs (see the module docs); fronts of ports the
    workload does not have are removed. Returns the fronts' inspects. A port that cannot
    be held (a requested host port another process has) fails the step ``publish port
    <service>:<port>/<protocol>`` (:class:`RolloutFailed`)."""
    existing = fronts_by_key(ctx.labels, await inspect_fronts(ctx, wl.instance_id))
    wanted = front_ports(wl)
    for key, stale in existing.items():
        if key not in {f.key for f in wanted}:
            await ctx.client.remove_container(str(stale["Id"]))
    pulled = False
    for front in wanted:
        info = existing.get(front.key)
        if info is not None and ((info.get("State") or {}).get("Running")):
            continue
        try:
            if info is None:
                if not pulled:
                    image = ctx.config.front_image
                    # pulled only when absent: a local build must not be looked up upstream
                    await ensure_image(ctx, image, registry_auth(ctx.config, image), refresh=False)
                    pulled = True
                await _create(ctx, wl, front)
            else:
                await ctx.client.start_container(str(info["Id"]))
        except BackendUnavailable:
            raise
        except CtrlplaneError as exc:
            raise RolloutFailed(f"publish port {front.key}", str(exc)) from exc
    return await inspect_fronts(ctx, wl.instance_id)


async def _create(ctx: DockerContext, wl: Workload, front: FrontPort) -> None:
    """Create and start the front of ``front`` on its requested port, or on one the
    engine chooses, then pinned (see the module docs)."""
    client = ctx.client
    name = ctx.render.front_name(wl, front)
    if front.port.host:
        await _start_new(ctx, name, ctx.render.front_body(wl, front, front.port.host))
        return
    chosen = _free_port(ctx.config.publish_host, front.protocol) if client.local else 0
    if chosen:
        try:
            await _start_new(ctx, name, ctx.render.front_body(wl, front, chosen))
            return
        except BackendError:
            pass  # the engine could not bind it: it chooses (below)
    for attempt in range(_PIN_ATTEMPTS):
        ref = await _start_new(ctx, name, ctx.render.front_body(wl, front, 0))
        _, port = front_host_port(await client.inspect_container(ref))
        await client.remove_container(ref)
        if not port:
            raise BackendError(f"the engine bound no host port for {front.key}", backend=BACKEND)
        try:
            await _start_new(ctx, name, ctx.render.front_body(wl, front, port))
            return
        except BackendError:
            if attempt == _PIN_ATTEMPTS - 1:
                raise
            await client.remove_container(name)  # the port was taken meanwhile: again


def _free_port(host: str, protocol: str) -> int:
    """A port free on ``host`` for ``protocol`` on this machine right now, as the
    kernel picks one (0 when none can be had: the host is not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    try:
        with socket.socket(family, kind) as probe:
            probe.bind((host or "", 0))
            return int(probe.getsockname()[1])
    except OSError:
        return 0


async def _start_new(ctx: DockerContext, name: str, body: JSON) -> str:
    """Create container ``name`` from ``body`` and start it; a container that cannot
    start (its port is taken) is removed again before the error is raised."""
    ref = await ctx.client.create_container(name, body)
    try:
        await ctx.client.start_container(ref)
    except BaseException:
        await ctx.client.remove_container(ref)
        raise
    return ref
