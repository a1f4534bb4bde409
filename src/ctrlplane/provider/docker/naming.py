"""Names and labels of the engine objects of an instance (pure, no I/O).

Every object the provider creates carries labels under one prefix (default
``io.ctrlplane``), so all state is read back from the engine:

===============================  ==================================================
``<p>.managed``                  ``"true"`` on every object we own
``<p>.instance``                 instance ID (label filters select by it)
``<p>.tenant``                   tenant ID
``<p>.workload``                 JSON: name, kind and request labels of the workload
``<p>.service`` / ``.role``      service name and role (containers)
``<p>.index``                    position of the service in the request (containers)
``<p>.replica``                  replica unit number (containers, per-replica volumes)
``<p>.release``                  release ID the container runs (containers)
``<p>.spec``                     JSON service spec, redacted (containers, see below)
``<p>.netns``                    ``"owner"``, or the owner's service name for joiners
``<p>.created``                  RFC 3339 creation time (network)
``<p>.addressing``               ``"fixed"``: the network's subnet was pinned (network)
===============================  ==================================================

The spec label never holds a secret value (only secret references) nor config file
contents (only a digest); those are delivered into the container as files.

Names: network ``<n>-<instance>``; container ``<n>-<instance>-<replica>-<service>``;
volume ``<n>-<instance>-<volume>`` (deployment, shared by replicas) or
``<n>-<instance>-<replica>-<volume>`` (stateful_set, one per replica).
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.provider.enums import WorkloadKind

__all__ = ["Labels", "Names"]


@dataclass(frozen=True, slots=True)
class Labels:
    """The label keys under ``prefix``."""

    prefix: str = "io.ctrlplane"

    @property
    def managed(self) -> str:
        return f"{self.prefix}.managed"

    @property
    def instance(self) -> str:
        return f"{self.prefix}.instance"

    @property
    def tenant(self) -> str:
        return f"{self.prefix}.tenant"

    @property
    def workload(self) -> str:
        return f"{self.prefix}.workload"

    @property
    def service(self) -> str:
        return f"{self.prefix}.service"

    @property
    def role(self) -> str:
        return f"{self.prefix}.role"

    @property
    def index(self) -> str:
        return f"{self.prefix}.index"

    @property
    def replica(self) -> str:
        return f"{self.prefix}.replica"

    @property
    def release(self) -> str:
        return f"{self.prefix}.release"

    @property
    def addressing(self) -> str:
        """On the instance network: ``fixed`` when its subnet was given at creation, so a
        container can leave and rejoin it under the same address (see ``drain``)."""
        return f"{self.prefix}.addressing"

    @property
    def spec(self) -> str:
        return f"{self.prefix}.spec"

    @property
    def netns(self) -> str:
        return f"{self.prefix}.netns"

    @property
    def created(self) -> str:
        return f"{self.prefix}.created"

    def instance_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting every object of one instance."""
        return {"label": [f"{self.instance}={instance_id}"]}

    def service_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting the service containers we made for one instance
        (other objects that merely carry the instance label are left out)."""
        return {"label": [f"{self.instance}={instance_id}", f"{self.managed}=true", self.spec]}

    def managed_filter(self) -> dict[str, list[str]]:
        """Engine list filter selecting every object this provider manages."""
        return {"label": [f"{self.managed}=true"]}


@dataclass(frozen=True, slots=True)
class Names:
    """Engine object names derived from the instance ID."""

    prefix: str = "cp"

    def network(self, instance_id: str) -> str:
        return f"{self.prefix}-{instance_id}"

    def container(self, instance_id: str, replica: int, service: str) -> str:
        return f"{self.prefix}-{instance_id}-{replica}-{service}"

    def volume(self, instance_id: str, volume: str, replica: int, kind: WorkloadKind) -> str:
        if kind is WorkloadKind.STATEFUL_SET:
            return f"{self.prefix}-{instance_id}-{replica}-{volume}"
        return f"{self.prefix}-{instance_id}-{volume}"
