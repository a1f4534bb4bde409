"""A unit's service names on the instance network, switched without dropping requests.

A unit answers to its service names through network aliases on its namespace holder.
Docker sets aliases only when a container joins a network, so switching them means
leaving and rejoining. On an instance network whose subnet was pinned at creation
(:func:`~ctrlplane.provider.docker.objects.create_network`) a container can rejoin under
the same address: that is how a unit gives up its names while still serving requests
already on their way to it (:func:`withdraw`), and how a new unit takes the names without
changing the address its gate probed (:func:`advertise`).

A rejoin under the same address pins it in the holder's endpoint config. The engine
keeps a stopped container's pinned address free for nobody: after an engine restart
the fronts (restarted by the engine) can take it, and the holder's start then fails with
"Address already in use"; :func:`unpin` rejoins it under any free address.

A running holder is renamed off the network (:func:`rename_holder`): the engine's rename
writes back the network's endpoint count as the holder's endpoint saw it when it
joined, one too high once a container on the network went away since, and a network
whose count stays above zero can never be removed (moby/moby#42119).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ctrlplane.errors import BackendError, CtrlplaneError
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.observe.workload import fixed_addressing, network_endpoint
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.native import JSON

__all__ = ["address_taken", "advertise", "rename_holder", "unpin", "withdraw"]


async def _fixed(ctx: DockerContext, wl: Workload) -> bool:
    network = await ctx.client.inspect_network(ctx.names.network(wl.instance_id))
    return fixed_addressing(ctx.labels, network)


async def _address(ctx: DockerContext, wl: Workload, ref: str) -> tuple[str, list[str]]:
    """``ref``'s address and aliases on the instance network (``""`` if not on it)."""
    info = await ctx.client.inspect_container(ref)
    endpoint = network_endpoint(info, ctx.names.network(wl.instance_id))
    return str(endpoint.get("IPAddress") or ""), list(endpoint.get("Aliases") or [])


async def _rejoin(
    ctx: DockerContext, wl: Workload, ref: str, aliases: list[str], address: str
) -> None:
    network = ctx.names.network(wl.instance_id)
    await ctx.client.disconnect_network(network, ref)
    await ctx.client.connect_network(network, ref, aliases, ipv4=address)


async def withdraw(ctx: DockerContext, wl: Workload, ref: str) -> bool:
    """Take the service names of the unit whose namespace holder is ``ref`` away from it
    while it keeps its address (it leaves and rejoins the network at once, under the
    same address, without aliases), so lookups made just before still reach it. False,
    with nothing changed, when the network's addresses are not pinned or ``ref`` is not
    on it."""
    if not await _fixed(ctx, wl):
        return False
    address, _ = await _address(ctx, wl, ref)
    if not address:
        return False
    try:
        await _rejoin(ctx, wl, ref, [], address)
    except CtrlplaneError:
        return False  # the address was taken meanwhile: the unit is off the network
    return True


async def advertise(ctx: DockerContext, wl: Workload, replica: int, ref: str) -> None:
    """Give the unit whose namespace holder is ``ref`` its service names (keeping its
    address where the network allows it). No-op when it has them already."""
    address, aliases = await _address(ctx, wl, ref)
    wanted = ctx.render.owner_aliases(wl, replica)
    if address and set(wanted) <= set(aliases):
        return
    keep = address if await _fixed(ctx, wl) else ""
    try:
        await _rejoin(ctx, wl, ref, wanted, keep)
    except CtrlplaneError:
        if not keep:
            raise
        await _rejoin(ctx, wl, ref, wanted, "")


async def rename_holder(ctx: DockerContext, wl: Workload, ref: str, name: str) -> None:
    """Rename the namespace holder ``ref`` to ``name``. One that runs on the instance
    network leaves it for the rename and rejoins at once under the same address (where
    the network pins addresses) and names (see the module docs)."""
    network = ctx.names.network(wl.instance_id)
    info = await ctx.client.inspect_container(ref)
    endpoint = network_endpoint(info, network)
    address = str(endpoint.get("IPAddress") or "")
    if info is None or not address or not (info.get("State") or {}).get("Running"):
        await ctx.client.rename_container(ref, name)
        return
    names = _own_names(info, endpoint)
    keep = address if await _fixed(ctx, wl) else ""
    cid = str(info["Id"])  # ``ref`` may be the name being given up
    await ctx.client.disconnect_network(network, cid)
    await ctx.client.rename_container(cid, name)
    try:
        await ctx.client.connect_network(network, cid, names, ipv4=keep)
    except CtrlplaneError:
        if not keep:
            raise
        await ctx.client.connect_network(network, cid, names)


def _own_names(info: JSON | None, endpoint: Mapping[str, Any]) -> list[str]:
    """The names the container ``info`` answers to on the network of its ``endpoint``,
    without the short ID the engine adds itself."""
    short_id = str((info or {}).get("Id", ""))[:12]
    return [a for a in endpoint.get("Aliases") or [] if a != short_id]


def address_taken(exc: BaseException) -> bool:
    """Whether the engine refused to start a container because an address pinned in its
    endpoint config belongs to another container now."""
    return isinstance(exc, BackendError) and "address already in use" in str(exc).lower()


async def unpin(ctx: DockerContext, wl: Workload, ref: str) -> None:
    """Rejoin the stopped namespace holder ``ref`` to the instance network under the
    names it had, without its pinned address (it gets a free one when it starts)."""
    info = await ctx.client.inspect_container(ref)
    endpoint = network_endpoint(info, ctx.names.network(wl.instance_id))
    await _rejoin(ctx, wl, ref, _own_names(info, endpoint), "")
