"""The fronts of an instance (pure, no I/O): one small container per published port.

A published port belongs to the instance, not to a container: the front holds it on
``publish_host`` for the instance's whole life (the requested ``host`` port, or the one
the engine chose at provision, pinned in the front's own port binding from then on) and
forwards each new connection to ``<service>:<port>`` on the instance network. That name is
the service's network alias, resolved per connection by the engine's embedded DNS: it
answers with the units that hold the alias at that moment, so a unit that gives up its
names before it stops (how every rollout drains, see :mod:`..addressing`) receives no new
connection from the front, and the ones already open finish. The units themselves publish
nothing.

The front runs ``socat`` (the image's entrypoint, ``DockerConfig.front_image``), one
forked child per connection (per datagram for UDP).
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import PortSpec

__all__ = ["FrontPort", "forward_args", "front_ports", "resolve_argv"]

CONNECT_TIMEOUT = 5
"""Seconds a front's child waits for a unit to accept a forwarded connection."""


@dataclass(frozen=True, slots=True)
class FrontPort:
    """A published port of the instance: ``port`` of long-lived ``service``."""

    service: str
    port: PortSpec

    @property
    def protocol(self) -> str:
        return str(self.port.protocol)

    @property
    def key(self) -> str:
        """``<service>:<port>/<protocol>``: the front's label value, and how messages name it."""
        return f"{self.service}:{self.port.container}/{self.protocol}"


def front_ports(wl: Workload) -> list[FrontPort]:
    """Every port of the instance's long-lived services, in request order: each gets a
    front (inits publish nothing)."""
    return [
        FrontPort(svc.name, port)
        for svc in wl.services
        if svc.role is not ServiceRole.INIT
        for port in svc.ports
    ]


def resolve_argv(front: FrontPort, socat: str) -> list[str]:
    """A command for ``front``'s container (``socat``: its entrypoint) that resolves the
    service's name as the front does for each connection, and sends nothing: socat opens
    a datagram socket to ``<service>:<port>`` (exit 0) or cannot resolve the name (exit
    1), then reads the end of ``/dev/null``."""
    target = f"UDP-SENDTO:{front.service}:{front.port.container}"
    return [socat, "-u", "OPEN:/dev/null", target]


def forward_args(front: FrontPort) -> list[str]:
    """socat's arguments for ``front``: listen on the container port, and for each
    connection (datagram) connect to ``<service>:<port>`` as resolved at that moment."""
    port, svc = front.port.container, front.service
    if front.protocol == "udp":
        return [f"UDP-RECVFROM:{port},fork,reuseaddr", f"UDP-SENDTO:{svc}:{port}"]
    if front.protocol == "sctp":
        return [
            f"SCTP-LISTEN:{port},fork,reuseaddr",
            f"SCTP:{svc}:{port},connect-timeout={CONNECT_TIMEOUT}",
        ]
    return [
        f"TCP-LISTEN:{port},fork,reuseaddr",
        f"TCP:{svc}:{port},connect-timeout={CONNECT_TIMEOUT}",
    ]
