"""The instance-wide engine objects: its network (with a pinned subnet), its named
volumes, and removing everything the instance has (I/O), or listing what is left."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.docker.config import BACKEND, DockerConfig
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.observe.subnets import Route, local_choice, parse_routes
from ctrlplane.provider.docker.observe.workload import address_pools
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.native import JSON
from ctrlplane.provider.operations import Operation

__all__ = [
    "FAILURE_LINGER",
    "POOLS_FIX",
    "AddressPoolsExhausted",
    "cleanup_limit",
    "create_network",
    "ensure_volumes",
    "leftovers",
    "purge",
    "remove_instance",
]

FAILURE_LINGER = 1.0
"""Seconds a failed provision keeps sweeping for objects whose creation was in flight."""


def cleanup_limit(config: DockerConfig) -> float:
    """How long removing what a failed operation created may take: one silent request
    (``request_timeout``), a graceful stop and the sweep for late arrivals."""
    return seconds(config.request_timeout) + seconds(config.stop_timeout) + FAILURE_LINGER


class AddressPoolsExhausted(BackendError):
    """The engine has no free subnet left in its address pools for the instance network
    (each instance owns one network; an engine on Docker's built-in pools holds 31)."""


POOLS_FIX = (
    "each ctrlplane instance owns one bridge network, and an engine on Docker's built-in "
    "address pools has 31 subnets (about 30 instances beside other networks). Remove "
    "instances or networks you no longer need (`ctrlplane ls`, `docker network ls`), or "
    'give the engine more, smaller subnets in /etc/docker/daemon.json: {"default-address-'
    'pools": [{"base": "10.200.0.0/16", "size": 24}]} (256 networks; pick a range your '
    "hosts do not route) and restart dockerd"
)
"""What to do when the engine's address pools are exhausted (quoted by the error)."""

LOCAL_CHOICE_ATTEMPTS = 5
"""How often a subnet chosen here is tried when concurrent creators took it first, before
the engine is asked to pick."""

GHOST_ENDPOINT = (
    "the engine counts an endpoint on it that no container holds, a Docker bug "
    "(moby/moby#42119, e.g. after a running container attached to it was renamed); "
    "restarting dockerd frees it, then the removal can run again"
)
"""Why a network whose removal the engine refuses, with no container attached, stays."""

_ROUTES = Path("/proc/net/route")

_reserved: set[ipaddress.IPv4Network] = set()
"""Subnets this process is creating instance networks with at this moment (so that
concurrent provisions in one process choose different ones)."""


def _routes() -> list[Route] | None:
    try:
        return parse_routes(_ROUTES.read_text())
    except OSError:
        return None


def _conflict(exc: BackendError) -> bool:
    """Whether creating a network failed because another one holds an overlapping subnet."""
    return "overlaps with other one" in str(exc).lower()


def _still_attached(exc: BackendError) -> bool:
    """Whether removing a network failed because a container is still attached to it
    (one created at that moment): the engine answers 403 "has active endpoints" (20.10),
    some versions 409."""
    return exc.status == 409 or (exc.status == 403 and "active endpoints" in str(exc))


def _exhausted(exc: BackendError, name: str) -> BackendError:
    if "could not find an available" not in str(exc).lower():
        return exc
    return AddressPoolsExhausted(
        f"cannot create network {name}: the Docker engine has no free subnet left in its "
        f"address pools ({_message_of(exc)}). Fix: {POOLS_FIX}",
        backend=BACKEND,
        status=exc.status,
    )


def _message_of(exc: BackendError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1].rsplit(" (HTTP", 1)[0] if ": " in text else text


async def create_network(ctx: DockerContext, wl: Workload, created: str) -> None:
    """Create the instance network with a subnet of its own, pinned at creation.

    The subnet is given explicitly because only then can a container leave and rejoin
    the network under the same address (how a unit withdraws its service names without
    dropping requests, see :mod:`.addressing`). It is the subnet the engine itself
    would pick, chosen from one network list where that choice can be made here
    (:func:`~.observe.subnets.local_choice`: an engine on Docker's built-in pools in
    this host's network namespace); a concurrent creator that takes it first makes this
    choose again (a subnet lost once is not chosen again in this call: the engine
    refuses it while the other network is still being created, before its list shows
    it). Otherwise the engine picks a free subnet for a first, throwaway
    network and the real one is created with that subnet.

    Raises :class:`AddressPoolsExhausted` (naming the fix) when the engine has no free
    subnet left.
    """
    body = ctx.render.network_config(wl, created)
    lost: set[ipaddress.IPv4Network] = set()  # taken by a creator the list did not show yet
    for _ in range(LOCAL_CHOICE_ATTEMPTS):
        networks = await ctx.client.list_networks({})
        subnet = local_choice(networks, _routes(), _reserved | lost)
        if subnet is None:
            break
        pool: JSON = {"Subnet": str(subnet), "Gateway": str(next(subnet.hosts()))}
        _reserved.add(subnet)
        try:
            await ctx.client.create_network(ctx.render.pinned_network_config(body, [pool]))
            return
        except BackendError as exc:
            if not _conflict(exc):
                raise
            lost.add(subnet)
        finally:
            _reserved.discard(subnet)
    await _create_with_engine_choice(ctx, body)


async def _create_with_engine_choice(ctx: DockerContext, body: JSON) -> None:
    """The instance network with the subnet the engine picks for a throwaway network."""
    name = str(body["Name"])
    for attempt in range(3):
        try:
            ref = await ctx.client.create_network(body)
        except BackendError as exc:
            raise _exhausted(exc, name) from None
        pools = address_pools(await ctx.client.inspect_network(ref) or {})
        if not pools:  # a driver that assigns no subnet: keep it, addresses float
            return
        await ctx.client.remove_network(ref)
        try:
            await ctx.client.create_network(ctx.render.pinned_network_config(body, pools))
            return
        except BackendError as exc:
            if attempt == 2 or not _conflict(exc):
                raise


async def ensure_volumes(ctx: DockerContext, wl: Workload, replicas: Sequence[int]) -> None:
    """Create the named volumes ``replicas`` need that do not exist yet."""
    have = {
        v["Name"] for v in await ctx.client.list_volumes(ctx.labels.instance_filter(wl.instance_id))
    }
    for r in replicas:
        for body in ctx.render.volume_configs(wl, r):
            if body["Name"] not in have:
                await ctx.client.create_volume(body)
                have.add(body["Name"])


async def purge(
    ctx: DockerContext, instance_id: str, keep_volumes: set[str], *, linger: float = 0.0
) -> None:
    """Remove every container, network and (not kept) volume of the instance.

    Sweeps until a sweep finds nothing, and (failure cleanup) for at least ``linger``
    seconds: a create request the engine was still processing when the operation was
    cancelled can land after the first sweep.
    """
    filters = ctx.labels.instance_filter(instance_id)
    lingering = Deadline(linger, "cleanup")
    busy: list[str] = []
    for _ in range(100):
        busy = await _sweep(ctx, filters, keep_volumes)
        if not busy and lingering.expired():
            return
        await asyncio.sleep(0.1 if busy else 0.25)
    raise BackendError(
        f"objects of instance {instance_id!r} keep appearing or cannot be removed; cleanup "
        f"gave up; left: {', '.join(busy)}",
        backend=BACKEND,
    )


def removal_intent() -> dict[str, str]:
    """What the lease of a ``deprovision`` says from the moment it is taken (the volumes
    it keeps, with ``keep_volumes``, are added before it removes anything)."""
    return {"phase": "remove", "kept_volumes": ""}


async def remove_instance(ctx: DockerContext, op: Operation) -> None:
    """``deprovision`` (its lease taken with :func:`removal_intent`): remove every
    container, the network and the volumes of the instance (with ``keep_volumes``, its
    named volumes stay; release records go). The lease container goes when the operation
    ends (it holds the operation)."""
    iid = op.instance_id
    keep: set[str] = set()
    if ctx.config.keep_volumes:
        volumes = await ctx.client.list_volumes(ctx.labels.instance_filter(iid))
        keep = {str(v["Name"]) for v in volumes if ctx.labels.release_record not in v["Labels"]}
    await op.note(kept_volumes=",".join(sorted(keep)))
    await purge(ctx, iid, keep)


async def leftovers(ctx: DockerContext, instance_id: str) -> list[str]:
    """What of the instance is on the engine (``container <name>``, ``network <name>``,
    ``volume <name>``), its lease container left out."""
    filters = ctx.labels.instance_filter(instance_id)
    containers = _instance_containers(ctx, await ctx.client.list_containers(filters))
    networks = await ctx.client.list_networks(filters)
    volumes = await ctx.client.list_volumes(filters)
    return (
        [f"container {str(c['Names'][0]).lstrip('/')}" for c in containers]
        + [f"network {n['Name']}" for n in networks]
        + [f"volume {v['Name']}" for v in volumes]
    )


def _instance_containers(ctx: DockerContext, found: list[JSON]) -> list[JSON]:
    """``found`` without the lease container (the operation that holds it removes it)."""
    return [c for c in found if ctx.labels.lease not in (c.get("Labels") or {})]


async def _sweep(ctx: DockerContext, filters: dict[str, list[str]], keep: set[str]) -> list[str]:
    """One removal pass; what it found to remove or could not remove yet (empty: the
    instance is gone). A namespace holder goes after the services that joined it (with
    all removed at once, a full test run met a network the engine kept counting an
    endpoint on for seconds after every container was gone)."""
    client = ctx.client
    found = _instance_containers(ctx, await client.list_containers(filters))
    owners = [c for c in found if c["Labels"].get(ctx.labels.netns) == "owner"]
    joiners = [c for c in found if c["Labels"].get(ctx.labels.netns) != "owner"]
    for group in (joiners, owners):
        await asyncio.gather(*(client.remove_container(c["Id"]) for c in group))
    busy = [f"container {str(c['Names'][0]).lstrip('/')}" for c in found]
    for vol in await client.list_volumes(filters):
        if vol["Name"] in keep:
            continue
        try:
            await client.remove_volume(vol["Name"])
        except BackendError as exc:
            if exc.status != 409:  # 409: still in use by a just-created container
                raise
            busy.append(f"volume {vol['Name']} (still in use by a container)")
    for net in await client.list_networks(filters):
        try:
            await client.remove_network(net["Id"])
        except BackendError as exc:
            if not _still_attached(exc):
                raise
            if await _refuse_foreign(ctx, net, filters):
                busy.append(f"network {net['Name']} (a container is still attached)")
            else:
                busy.append(f"network {net['Name']} ({GHOST_ENDPOINT})")
    return busy


async def _refuse_foreign(ctx: DockerContext, net: JSON, filters: dict[str, list[str]]) -> int:
    """Raise :class:`BackendError` naming the containers outside the instance (without
    its label) attached to its network ``net``, and how to detach them; a sweep cannot
    remove them, so waiting would not help. Else how many containers are attached (0:
    the engine refuses the removal for an endpoint it shows nowhere)."""
    name = str(net["Name"])
    info = await ctx.client.inspect_network(str(net["Id"])) or {}
    label, _, value = filters["label"][0].partition("=")
    foreign = []
    for ref, attached in (info.get("Containers") or {}).items():
        found = await ctx.client.inspect_container(str(ref))
        labels = ((found or {}).get("Config") or {}).get("Labels") or {}
        if found is not None and labels.get(label) != value:
            foreign.append(str(attached.get("Name") or ref))
    if foreign:
        raise BackendError(
            f"cannot remove network {name}: containers outside the instance are attached "
            f"to it ({', '.join(sorted(foreign))}); detach them (`docker network disconnect "
            f"{name} <container>`) and run the removal again (the instance's containers are "
            "gone already)",
            backend=BACKEND,
        )
    return len(info.get("Containers") or {})
