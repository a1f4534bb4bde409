"""The provider API: types, validation, capabilities, the ``Provider`` contract, the registry.

Names and JSON shapes follow the Go package ``provider`` of ctrlplane v1.5.1; methods are
async and snake_case. Importing this package imports no backend client library: the
backends are the subpackages ``docker``, ``kubernetes`` and ``nomad``, each behind its
install extra.

The names below load on first use (PEP 562): ``import ctrlplane.provider`` costs almost
nothing, so a command that needs none of the models (``ctrlplane --version``) starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from ctrlplane.provider.protocol import (
        HealthChecker,
        InstanceLister,
        Provider,
        Renderer,
        UnitLister,
    )
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
        UnitStatus,
        worst_state,
    )
    from ctrlplane.provider.sessions import ExecSession, InteractiveExec, OutputChunk
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

_EXPORTS: dict[str, tuple[str, ...]] = {
    "ctrlplane.provider.capabilities": (
        "Capability",
        "has_capability",
        "require_capability",
        "strategy_capability",
    ),
    "ctrlplane.provider.enums": (
        "ConfigFormat",
        "DeployStrategy",
        "InstanceState",
        "PortProtocol",
        "SecretType",
        "ServiceRole",
        "VolumeType",
        "WorkloadKind",
    ),
    "ctrlplane.provider.protocol": (
        "HealthChecker",
        "InstanceLister",
        "Provider",
        "Renderer",
        "UnitLister",
    ),
    "ctrlplane.provider.registry": ("ENTRY_POINT_GROUP", "Registry"),
    "ctrlplane.provider.releases": ("DEFAULT_HISTORY_DEPTH", "Release", "ReleaseHistory"),
    "ctrlplane.provider.results": (
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
    ),
    "ctrlplane.provider.sessions": ("ExecSession", "InteractiveExec", "OutputChunk"),
    "ctrlplane.provider.spec": (
        "ConfigFile",
        "DeployRequest",
        "ExecRequest",
        "HealthCheckSpec",
        "LogOptions",
        "PortSpec",
        "ProvisionRequest",
        "ResourceSpec",
        "SecretRef",
        "ServiceDeploySpec",
        "ServiceSnapshot",
        "ServiceSpec",
        "VolumeSpec",
    ),
    "ctrlplane.provider.streams": ("LogStream",),
    "ctrlplane.provider.validation": (
        "startup_order",
        "validate_deploy",
        "validate_request",
        "validate_scale",
    ),
}
"""Where each public name lives (the module is imported when the name is first used)."""

_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

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
    "ExecSession",
    "HealthCheckSpec",
    "HealthChecker",
    "HealthStatus",
    "InstanceLister",
    "InstanceState",
    "InstanceStatus",
    "InstanceSummary",
    "InteractiveExec",
    "Location",
    "LogOptions",
    "LogRecord",
    "LogStream",
    "OutputChunk",
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
    "UnitLister",
    "UnitStatus",
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


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
