"""Choosing an instance network's pinned subnet from one network list (no engine)."""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

from ctrlplane.provider.docker.observe.subnets import (
    BUILTIN_POOLS,
    Route,
    free_subnet,
    local_choice,
    parse_routes,
)

Net = ipaddress.IPv4Network


def _hex(address: str) -> str:
    return f"{struct.unpack('<I', socket.inet_aton(address))[0]:08X}"


def route_table(*routes: tuple[str, str]) -> str:
    """A /proc/net/route text with a default route and ``(interface, cidr)`` routes."""
    lines = ["Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"]
    lines.append("eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0")
    for iface, cidr in routes:
        net = Net(cidr)
        dest, mask = _hex(str(net.network_address)), _hex(str(net.netmask))
        lines.append(f"{iface}\t{dest}\t00000000\t0001\t0\t0\t0\t{mask}\t0\t0\t0")
    return "\n".join(lines) + "\n"


def network(
    name: str, subnet: str | None, *, default: bool = False, nid: str = ""
) -> dict[str, Any]:
    options = {"com.docker.network.bridge.default_bridge": "true"} if default else {}
    if default:
        options["com.docker.network.bridge.name"] = "docker0"
    return {
        "Name": name,
        "Id": nid or (name.encode().hex() * 8)[:64],
        "Driver": "bridge",
        "Scope": "local",
        "Options": options,
        "IPAM": {"Config": [{"Subnet": subnet}] if subnet else []},
    }


def engine(*subnets: str) -> tuple[list[dict[str, Any]], list[Route]]:
    """A default engine with instance networks on ``subnets``, and this host's routes."""
    nets = [network("bridge", "172.17.0.0/16", default=True)]
    nets += [network(f"cp-{i}", s) for i, s in enumerate(subnets)]
    routes = [("docker0", "172.17.0.0/16")] + [
        (f"br-{n['Id'][:12]}", s) for n, s in zip(nets[1:], subnets, strict=True)
    ]
    return nets, parse_routes(route_table(*routes))


def test_routes_are_read_from_proc_net_route() -> None:
    routes = parse_routes(route_table(("docker0", "172.17.0.0/16"), ("tun0", "10.8.0.0/24")))
    assert routes == [
        Route("eth0", Net("0.0.0.0/0")),
        Route("docker0", Net("172.17.0.0/16")),
        Route("tun0", Net("10.8.0.0/24")),
    ]


def test_the_builtin_pools_hold_31_subnets_in_the_engines_order() -> None:
    subnets = [s for base, size in BUILTIN_POOLS for s in Net(base).subnets(new_prefix=size)]
    assert len(subnets) == 31
    assert subnets[0] == Net("172.17.0.0/16")
    assert subnets[15] == Net("192.168.0.0/20")
    assert free_subnet([Net("172.17.0.0/16")]) == Net("172.18.0.0/16")


def test_the_first_free_subnet_skips_networks_routes_and_reservations() -> None:
    nets, routes = engine("172.18.0.0/16", "172.20.0.0/16")
    assert local_choice(nets, routes) == Net("172.19.0.0/16")
    assert local_choice(nets, routes, {Net("172.19.0.0/16")}) == Net("172.21.0.0/16")
    vpn = [*routes, Route("tun0", Net("172.19.8.0/24"))]  # the engine avoids routed ranges
    assert local_choice(nets, vpn) == Net("172.21.0.0/16")


def test_no_choice_when_every_builtin_subnet_is_taken() -> None:
    taken = [f"172.{n}.0.0/16" for n in range(18, 32)]
    taken += [f"192.168.{16 * n}.0/20" for n in range(16)]
    nets, routes = engine(*taken)
    assert local_choice(nets, routes) is None


def test_the_engine_chooses_when_it_has_configured_pools() -> None:
    # default-address-pools (or bip) moves the default bridge off 172.17.0.0/16
    nets = [network("bridge", "10.214.0.0/26", default=True)]
    routes = parse_routes(route_table(("docker0", "10.214.0.0/26")))
    assert local_choice(nets, routes) is None
    # a network outside the built-in pools is a sign of them too
    nets, routes = engine("172.18.0.0/16")
    nets.append(network("custom", "10.99.0.0/24", nid="c" * 64))
    routes.append(Route("br-cccccccccccc", Net("10.99.0.0/24")))
    assert local_choice(nets, routes) is None


def test_the_engine_chooses_when_this_process_does_not_see_its_routes() -> None:
    nets, routes = engine("172.18.0.0/16")
    assert local_choice(nets, None) is None  # no routing table (not Linux)
    # another network namespace (a container, a remote engine): a bridge is missing
    assert local_choice(nets, [r for r in routes if r.interface != "docker0"]) is None
    assert local_choice(nets, routes[:-1]) is None
    assert local_choice([n for n in nets if n["Name"] != "bridge"], routes) is None
