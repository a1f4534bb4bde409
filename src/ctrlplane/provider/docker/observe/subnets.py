"""Choosing the pinned subnet of an instance network from one network list (pure, no I/O).

The instance network's subnet is given at creation (see
:func:`~ctrlplane.provider.docker.objects.create_network`). When the engine picks a
subnet itself it takes the first one of its default address pools that overlaps no
other network and no route of its network namespace. This module makes the same choice
from what the caller read, but only where it can see everything the engine would look
at (:func:`local_choice`):

- the engine uses Docker's built-in pools (:data:`BUILTIN_POOLS`): its default bridge
  holds their first subnet, ``172.17.0.0/16``, and every subnet on the engine lies in
  them (a daemon configured with ``default-address-pools`` or ``bip`` gives its bridge
  another subnet);
- the caller shares the engine's network namespace: the routing table it read shows
  every bridge network of the engine on that network's own interface.

Otherwise it answers ``None`` and the caller lets the engine pick.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUILTIN_POOLS",
    "DEFAULT_BRIDGE_SUBNET",
    "Route",
    "free_subnet",
    "local_choice",
    "parse_routes",
]

Net = ipaddress.IPv4Network

BUILTIN_POOLS: tuple[tuple[str, int], ...] = (
    *((f"172.{n}.0.0/16", 16) for n in range(17, 32)),
    ("192.168.0.0/16", 20),
)
"""Docker's built-in local address pools, in the order the engine uses them (base, size
of each network): fifteen ``/16`` and sixteen ``/20``, 31 subnets."""

DEFAULT_BRIDGE_SUBNET = Net("172.17.0.0/16")
"""The subnet of the default bridge (``docker0``) of an engine on the built-in pools."""

_BRIDGE_NAME = "com.docker.network.bridge.name"
_DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"


@dataclass(frozen=True)
class Route:
    """One IPv4 route of a routing table: its interface and destination."""

    interface: str
    destination: Net


def parse_routes(table: str) -> list[Route]:
    """The routes of a Linux ``/proc/net/route`` text (the header line skipped; the
    default route, destination ``0.0.0.0/0``, included)."""
    routes: list[Route] = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = socket.inet_ntoa(struct.pack("<I", int(fields[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<I", int(fields[7], 16)))
            routes.append(Route(fields[0], Net(f"{dest}/{mask}", strict=False)))
        except (ValueError, struct.error):
            continue
    return routes


def _v4_subnets(network: Mapping[str, Any]) -> list[Net]:
    out: list[Net] = []
    for config in (network.get("IPAM") or {}).get("Config") or []:
        try:
            subnet = ipaddress.ip_network(str(config.get("Subnet") or ""), strict=False)
        except ValueError:
            continue
        if isinstance(subnet, Net):
            out.append(subnet)
    return out


def _builtin_subnets() -> Iterator[Net]:
    for base, size in BUILTIN_POOLS:
        yield from Net(base).subnets(new_prefix=size)


def _in_builtin_pools(subnet: Net) -> bool:
    return any(subnet.subnet_of(Net(base)) for base, _ in BUILTIN_POOLS)


def _on_builtin_pools(networks: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the engine's default bridge has the built-in pools' first subnet and every
    subnet on the engine lies in those pools."""
    bridge = [n for n in networks if (n.get("Options") or {}).get(_DEFAULT_BRIDGE) == "true"]
    if len(bridge) != 1 or _v4_subnets(bridge[0]) != [DEFAULT_BRIDGE_SUBNET]:
        return False
    return all(_in_builtin_pools(s) for n in networks for s in _v4_subnets(n))


def _shares_namespace(networks: Sequence[Mapping[str, Any]], routes: Sequence[Route]) -> bool:
    """Whether ``routes`` show every local bridge network of the engine on its interface."""
    seen = {(r.interface, r.destination) for r in routes}
    bridges = [n for n in networks if n.get("Driver") == "bridge" and n.get("Scope") == "local"]
    if not bridges:
        return False
    for network in bridges:
        interface = (network.get("Options") or {}).get(_BRIDGE_NAME) or (
            f"br-{str(network.get('Id', ''))[:12]}"
        )
        if any((interface, subnet) not in seen for subnet in _v4_subnets(network)):
            return False
    return True


def free_subnet(taken: Iterable[Net]) -> Net | None:
    """The first subnet of the built-in pools that overlaps none of ``taken``."""
    used = list(taken)
    for candidate in _builtin_subnets():
        if not any(candidate.overlaps(t) for t in used):
            return candidate
    return None


def local_choice(
    networks: Sequence[Mapping[str, Any]],
    routes: Sequence[Route] | None,
    reserved: Iterable[Net] = (),
) -> Net | None:
    """The subnet the engine would give a new network, chosen from ``networks`` (the
    engine's network list) and ``routes`` (the caller's routing table, ``None`` if it
    could not be read), avoiding ``reserved`` too (subnets this process is creating
    networks with right now); ``None`` when it cannot be chosen here (see the module
    docstring) or every built-in subnet is taken."""
    if routes is None or not _on_builtin_pools(networks):
        return None
    if not _shares_namespace(networks, routes):
        return None
    taken = [s for n in networks for s in _v4_subnets(n)]
    taken += [r.destination for r in routes if r.destination.prefixlen > 0]
    taken += list(reserved)
    return free_subnet(taken)
