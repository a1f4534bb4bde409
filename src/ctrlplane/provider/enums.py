"""String enums of the provider API, with exactly the Go package's values."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigFormat",
    "DeployStrategy",
    "InstanceState",
    "PortProtocol",
    "SecretType",
    "ServiceRole",
    "VolumeType",
    "WorkloadKind",
]


class InstanceState(StrEnum):
    """Lifecycle state of an instance or of one of its services."""

    PROVISIONING = "provisioning"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    DESTROYING = "destroying"
    DESTROYED = "destroyed"

    @property
    def severity(self) -> int:
        """Rank for worst-of aggregation: a higher number is worse."""
        return _SEVERITY[self]


# Worst-of order for aggregating services into an instance state: a failed service
# makes the instance failed; otherwise anything in transition outranks steady states.
_SEVERITY = {
    InstanceState.RUNNING: 0,
    InstanceState.STOPPED: 1,
    InstanceState.DESTROYED: 2,
    InstanceState.STARTING: 3,
    InstanceState.PROVISIONING: 4,
    InstanceState.STOPPING: 5,
    InstanceState.DESTROYING: 6,
    InstanceState.FAILED: 7,
}


class ServiceRole(StrEnum):
    """Lifecycle of a service inside a workload; an empty role in JSON means ``main``.

    - ``main``: the long-lived primary process; exactly one per workload.
    - ``sidecar``: long-lived, beside main in the same co-scheduling unit.
    - ``init``: runs to completion before mains and sidecars start; failure fails the instance.
    """

    MAIN = "main"
    SIDECAR = "sidecar"
    INIT = "init"


class WorkloadKind(StrEnum):
    """Runtime topology; an empty kind in JSON means ``deployment``."""

    DEPLOYMENT = "deployment"
    STATEFUL_SET = "stateful_set"


class SecretType(StrEnum):
    """How a secret is delivered (Go ``secrets.SecretType``)."""

    ENV = "env"
    FILE = "file"
    REGISTRY = "registry"
    TLS = "tls"


class PortProtocol(StrEnum):
    """Transport protocol of a port; empty means ``tcp``."""

    TCP = "tcp"
    UDP = "udp"
    SCTP = "sctp"


class VolumeType(StrEnum):
    """Kind of volume; empty means ``persistent``.

    - ``persistent``: a named volume that outlives containers (per replica for stateful sets).
    - ``tmpfs``: memory-backed scratch space limited to ``size_mb``, gone when the unit stops.
    """

    PERSISTENT = "persistent"
    TMPFS = "tmpfs"


class ConfigFormat(StrEnum):
    """Format of a config file; ``json`` and ``yaml`` content is checked to parse."""

    JSON = "json"
    YAML = "yaml"
    ENV = "env"
    TEXT = "text"


class DeployStrategy(StrEnum):
    """Rollout strategy of a deploy; empty means ``rolling``."""

    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CANARY = "canary"
