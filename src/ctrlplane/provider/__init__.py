"""The provider API: types, validation, capabilities, the ``Provider`` contract, the registry.

Names and JSON shapes follow the Go package ``provider`` of ctrlplane v1.5.1; methods are
async and snake_case. Importing this package imports no backend client library: the
backends are the subpackages ``docker``, ``kubernetes`` and ``nomad``, each behind its
install extra.
"""

from ctrlplane.provider.capabilities import (
    Capability,
    has_capability,
    require_capability,
    strategy_capability,
)
from ctrlplane.provider.enums import (
    ConfigFormat,
    DeployStrategy,
    InstanceState,
    PortProtocol,
    SecretType,
    ServiceRole,
    VolumeType,
    WorkloadKind,
)
from ctrlplane.provider.protocol import HealthChecker, InstanceLister, Provider, Renderer
from ctrlplane.provider.registry import ENTRY_POINT_GROUP, Registry
from ctrlplane.provider.releases import DEFAULT_HISTORY_DEPTH, Release, ReleaseHistory
from ctrlplane.provider.results import (
    DeployResult,
    Endpoint,
    ExecResult,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    Location,
    LogRecord,
    ProviderInfo,
    ProvisionResult,
    ResourceUsage,
    ServiceStatus,
    worst_state,
)
from ctrlplane.provider.spec import (
    ConfigFile,
    DeployRequest,
    ExecRequest,
    HealthCheckSpec,
    LogOptions,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceSnapshot,
    ServiceSpec,
    VolumeSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.provider.validation import (
    startup_order,
    validate_deploy,
    validate_request,
    validate_scale,
)

__all__ = [
    "DEFAULT_HISTORY_DEPTH",
    "ENTRY_POINT_GROUP",
    "Capability",
    "ConfigFile",
    "ConfigFormat",
    "DeployRequest",
    "DeployResult",
    "DeployStrategy",
    "Endpoint",
    "ExecRequest",
    "ExecResult",
    "HealthCheckSpec",
    "HealthChecker",
    "HealthStatus",
    "InstanceLister",
    "InstanceState",
    "InstanceStatus",
    "InstanceSummary",
    "Location",
    "LogOptions",
    "LogRecord",
    "LogStream",
    "PortProtocol",
    "PortSpec",
    "Provider",
    "ProviderInfo",
    "ProvisionRequest",
    "ProvisionResult",
    "Registry",
    "Release",
    "ReleaseHistory",
    "Renderer",
    "ResourceSpec",
    "ResourceUsage",
    "SecretRef",
    "SecretType",
    "ServiceDeploySpec",
    "ServiceRole",
    "ServiceSnapshot",
    "ServiceSpec",
    "ServiceStatus",
    "VolumeSpec",
    "VolumeType",
    "WorkloadKind",
    "has_capability",
    "require_capability",
    "startup_order",
    "strategy_capability",
    "validate_deploy",
    "validate_request",
    "validate_scale",
    "worst_state",
]
