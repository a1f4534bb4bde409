"""Capabilities as data: what a provider declares, and the checks that guard each method.

A provider declares a capability only when the operation works on its backend and is
tested. Callers query :func:`has_capability` before optional calls; providers call
:func:`require_capability` first thing in a gated method, so a missing capability is a
:class:`~ctrlplane.errors.NotSupported` before any work starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

from ctrlplane.errors import NotSupported
from ctrlplane.provider.enums import DeployStrategy

if TYPE_CHECKING:
    from ctrlplane.provider.protocol import Provider

__all__ = [
    "METHOD_CAPABILITIES",
    "Capability",
    "has_capability",
    "require_all",
    "require_capability",
    "strategy_capability",
]


class Capability(StrEnum):
    """What a provider supports; the values are the Go package's strings."""

    PROVISION = "provision"
    DEPLOY = "deploy"
    SCALE = "scale"
    LOGS = "logs"
    EXEC = "exec"
    VOLUMES = "volumes"
    GPU = "gpu"
    BLUE_GREEN = "strategy:blue-green"
    CANARY = "strategy:canary"
    ROLLING = "strategy:rolling"
    AUTOSCALE = "autoscale"
    CUSTOM_DOMAINS = "custom-domains"
    TLS = "tls"


METHOD_CAPABILITIES: dict[str, Capability] = {
    "provision": Capability.PROVISION,
    "deploy": Capability.DEPLOY,
    "rollback": Capability.DEPLOY,
    "scale": Capability.SCALE,
    "logs": Capability.LOGS,
    "exec": Capability.EXEC,
}
"""The capability each gated ``Provider`` method needs (the others need none)."""

_STRATEGIES = {
    DeployStrategy.ROLLING: Capability.ROLLING,
    DeployStrategy.BLUE_GREEN: Capability.BLUE_GREEN,
    DeployStrategy.CANARY: Capability.CANARY,
}


def strategy_capability(strategy: DeployStrategy | str) -> Capability:
    """The capability a deploy strategy needs (``""`` is rolling)."""
    return _STRATEGIES[DeployStrategy(strategy or DeployStrategy.ROLLING)]


def has_capability(provider: Provider, capability: Capability | str) -> bool:
    """Whether ``provider`` declares ``capability`` (Go ``HasCapability``)."""
    return str(capability) in {str(c) for c in provider.capabilities()}


def require_capability(
    provider: Provider, capability: Capability | str, *, detail: str = ""
) -> None:
    """Raise :class:`NotSupported` naming the provider unless it declares ``capability``."""
    if not has_capability(provider, capability):
        raise NotSupported(provider.info().name, str(capability), detail=detail)


def require_all(provider: Provider, capabilities: Iterable[Capability]) -> None:
    """:func:`require_capability` for each of ``capabilities``, in order."""
    for capability in capabilities:
        require_capability(provider, capability)
