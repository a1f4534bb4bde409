"""Answer-side types: what providers report back (results, status, usage, health).

Field names and JSON shapes equal the Go package's. Unknown fields in JSON are ignored,
so answers from a newer Go service still parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import ClassVar, Literal

from pydantic import Field

from ctrlplane.provider._wire import Duration, Timestamp, WireBytes, WireModel
from ctrlplane.provider.enums import InstanceState

__all__ = [
    "DeployResult",
    "Endpoint",
    "ExecResult",
    "HealthStatus",
    "InstanceStatus",
    "InstanceSummary",
    "Location",
    "LogRecord",
    "ProviderInfo",
    "ProvisionResult",
    "ResourceUsage",
    "ServiceStatus",
    "UnitStatus",
    "worst_state",
]


class Location(WireModel):
    """Geographic metadata of a provider's region."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset(
        {"latitude", "longitude", "country", "city"}
    )

    latitude: float = 0.0
    longitude: float = 0.0
    country: str = ""
    city: str = ""


class ProviderInfo(WireModel):
    """What a provider is: its name, version (backend's, where known) and region."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"location"})

    name: str
    version: str = ""
    region: str = ""
    location: Location | None = None


class Endpoint(WireModel):
    """An address where a service of the instance can be reached.

    ``public`` is true for addresses published outside the workload's own network
    (a host port, a node port, a load balancer); false for in-network addresses.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"service_name"})

    service_name: str = ""
    url: str
    port: int
    protocol: str = "tcp"
    public: bool = False


class ProvisionResult(WireModel):
    """Handles to what provision created.

    ``provider_ref`` is the workload-level handle; ``service_refs`` maps each service
    name to its per-service handle (container, container name in the pod, task name).
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"service_refs", "metadata"})

    provider_ref: str
    service_refs: dict[str, str] = Field(default_factory=dict)
    endpoints: list[Endpoint] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)


class DeployResult(WireModel):
    """Outcome of a deploy or rollback; ``release_id`` (beyond Go) is the release recorded."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"release_id"})

    provider_ref: str
    status: str
    release_id: str = ""


class ServiceStatus(WireModel):
    """Runtime state of one service, aggregated over its replicas (worst-of)."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"provider_ref", "message"})

    state: InstanceState
    ready: bool = False
    restarts: int = 0
    provider_ref: str = ""
    message: str = ""


class UnitStatus(WireModel):
    """One running unit of one service (beyond Go): a container, a pod's container, an
    allocation's task. ``replica`` is the unit's replica number, ``release_id`` the
    release it runs, ``health`` ``healthy``/``unhealthy``/``starting`` (``""`` without a
    health check), ``ports`` the endpoints that reach this unit (if any)."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset(
        {"release_id", "health", "ports", "started_at", "provider_ref", "message"}
    )

    service: str
    replica: int = 0
    release_id: str = ""
    image: str
    state: InstanceState
    ready: bool = False
    health: str = ""
    restarts: int = 0
    ports: list[Endpoint] = Field(default_factory=list)
    started_at: Timestamp | None = None
    provider_ref: str = ""
    message: str = ""


def worst_state(states: Iterable[InstanceState]) -> InstanceState:
    """The worst of ``states`` (see :attr:`InstanceState.severity`); ``stopped`` if empty."""
    return max(states, key=lambda s: s.severity, default=InstanceState.STOPPED)


class InstanceStatus(WireModel):
    """Runtime state of an instance: worst-of over its services, plus per-service detail.

    ``ready`` is true only when every long-lived service is ready; ``restarts`` sums
    the services' restarts; ``services`` is keyed by service name.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset(
        {"started_at", "message", "services", "metadata"}
    )

    state: InstanceState
    ready: bool = False
    restarts: int = 0
    started_at: Timestamp | None = None
    message: str = ""
    endpoints: list[Endpoint] = Field(default_factory=list)
    services: dict[str, ServiceStatus] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)


class ResourceUsage(WireModel):
    """Measured usage summed over the instance's containers; 100% CPU is one full core."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"disk_used_mb"})

    cpu_percent: float = 0.0
    memory_used_mb: int = 0
    memory_limit_mb: int = 0
    disk_used_mb: int = 0
    network_in_mb: float = 0.0
    network_out_mb: float = 0.0


class ExecResult(WireModel):
    """Outcome of an exec: the process's exit code and its captured output (base64 in JSON)."""

    exit_code: int
    stdout: WireBytes = b""
    stderr: WireBytes = b""


class HealthStatus(WireModel):
    """Provider connectivity: whether the backend answered, how fast, and when."""

    healthy: bool
    message: str = ""
    latency: Duration = timedelta(0)
    checked_at: Timestamp


class LogRecord(WireModel):
    """One log line of one service replica (beyond Go, which streams raw bytes).

    ``line`` has no trailing newline; ``time`` is the engine's timestamp of the line.
    """

    time: Timestamp
    service: str
    replica: int = 0
    stream: Literal["stdout", "stderr"] = "stdout"
    line: str


class InstanceSummary(WireModel):
    """One instance as listed by ``list_instances`` (beyond Go): who and what it is.

    Read back from the backend's own labels/metadata, so any process can list instances
    created by another.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"tenant_id", "name", "release_id"})

    instance_id: str
    tenant_id: str = ""
    name: str = ""
    state: InstanceState
    release_id: str = ""
    created_at: Timestamp | None = None
