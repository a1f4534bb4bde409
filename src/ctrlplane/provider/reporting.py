"""The pieces of our results every backend builds the same way (pure: no I/O).

A backend's ``observe`` modules read what its engine returned; what they then report
follows the rules of :mod:`ctrlplane.provider.results`, written once here:

- :func:`private_endpoint`: an in-network address of a service's port (``public``
  false), with :func:`url_host` (an IPv6 address in brackets) and :func:`web_scheme`
  (``http`` for a TCP port, else the protocol's name);
- :func:`worst_of`: an :class:`~ctrlplane.provider.results.InstanceStatus` from its
  services (ready only when every long-lived service is, restarts summed, started at
  the earliest start);
- :func:`replica_state`: an instance summary's state from its desired and ready counts;
- :func:`with_lease`: a status that reports the instance's operation lease;
- :func:`measured_health`: a health check's answer, timed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.operations import interrupted_message, lease_metadata
from ctrlplane.provider.results import Endpoint, HealthStatus, InstanceStatus, ServiceStatus
from ctrlplane.provider.spec import PortSpec

__all__ = [
    "measured_health",
    "private_endpoint",
    "replica_state",
    "url_host",
    "web_scheme",
    "with_lease",
    "worst_of",
]


def url_host(address: str) -> str:
    """``address`` as the host of a URL: an IPv6 address in brackets."""
    return f"[{address}]" if ":" in address else address


def web_scheme(port: PortSpec) -> str:
    """The scheme of a URL to ``port``: ``http`` for a TCP port, else its protocol."""
    return "http" if port.protocol.value == "tcp" else port.protocol.value


def private_endpoint(service: str, port: PortSpec, host: str, scheme: str) -> Endpoint:
    """The in-network endpoint ``<scheme>://<host>:<container port>`` of ``port`` of
    ``service`` (``public`` false)."""
    return Endpoint(
        service_name=service,
        url=f"{scheme}://{host}:{port.container}",
        port=port.container,
        protocol=port.protocol.value,
        public=False,
    )


def worst_of(
    state: InstanceState,
    services: Mapping[str, ServiceStatus],
    long_lived: Iterable[ServiceStatus],
    *,
    started: Sequence[datetime],
    message: str,
    endpoints: Iterable[Endpoint],
    metadata: Mapping[str, str],
) -> InstanceStatus:
    """The status of an instance in ``state`` (the backend's worst-of over its services):
    ready only when ``state`` is running and every ``long_lived`` service is ready,
    ``restarts`` summed over ``services``, ``started_at`` the earliest of ``started``
    (none when empty)."""
    return InstanceStatus(
        state=state,
        ready=state is InstanceState.RUNNING and all(s.ready for s in long_lived),
        restarts=sum(s.restarts for s in services.values()),
        started_at=min(started) if started else None,
        message=message,
        endpoints=list(endpoints),
        services=dict(services),
        metadata=dict(metadata),
    )


def replica_state(desired: int, ready: int) -> InstanceState:
    """An instance summary's state from its replica counts: none desired -> stopped,
    every desired one ready -> running, else starting."""
    if desired == 0:
        return InstanceState.STOPPED
    if ready >= desired:
        return InstanceState.RUNNING
    return InstanceState.STARTING


def with_lease(
    status: InstanceStatus, lease: Lease | None, *, message: str | None = None
) -> InstanceStatus:
    """``status`` reporting the instance's operation ``lease`` (none: ``status`` as it
    is): its :func:`~ctrlplane.provider.operations.lease_metadata` added to the metadata
    and, for an interrupted operation (the lease expired), the message replaced by
    ``message`` (default: :func:`~ctrlplane.provider.operations.interrupted_message`)."""
    if lease is None:
        return status
    update: dict[str, object] = {"metadata": {**status.metadata, **lease_metadata(lease)}}
    if lease.expired():
        update["message"] = interrupted_message(lease) if message is None else message
    return status.model_copy(update=update)


def measured_health(healthy: bool, message: str, began: float) -> HealthStatus:
    """A health check's answer, its latency measured from ``began`` (a
    :func:`time.monotonic` reading) to now, checked now."""
    return HealthStatus(
        healthy=healthy,
        message=message,
        latency=timedelta(seconds=time.monotonic() - began),
        checked_at=datetime.now(UTC),
    )
