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
``<p>.netns``                    ``"owner"`` (the unit's holder), ``"pod"`` (a service that
                                 joined it), ``"own"`` (an init)
``<p>.created``                  RFC 3339 creation time (network)
``<p>.addressing``               ``"fixed"``: the network's subnet was pinned (network)
``<p>.release-record``           JSON release (the release record volumes only)
``<p>.lease``                    JSON lease as created (the lease container only)
``<p>.front``                    ``<service>:<port>/<protocol>`` it publishes (fronts only)
``<p>.pod``                      ``"holder"`` (a unit's namespace holder only)
===============================  ==================================================

The spec label never holds a secret value (only secret references) nor config file
contents (only a digest); those are delivered into the container as files.

Names: network ``<n>-<instance>``; container ``<n>-<instance>-<replica>-<service>`` (with
``-retiring`` appended while its replacement starts beside it); volume
``<n>-<instance>-<volume>`` (deployment, shared by replicas) or
``<n>-<instance>-<replica>-<volume>`` (stateful_set, one per replica); release record
``<n>-<instance>-rel-<release>``; the operation lease (a container created from
:data:`LEASE_IMAGE` and never started) ``<n>-<instance>-lease``; the front of a published
port ``<n>-<instance>-front-<service>-<port>`` (``-udp`` / ``-sctp`` appended for those
protocols); the holder of replica unit ``<replica>``'s network namespace
``<n>-<instance>-<replica>.pod`` (a dot: no service name can collide with it; ``-retiring``
appended like the services').
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.provider.enums import WorkloadKind

__all__ = ["LEASE_FILE", "LEASE_IMAGE", "RETIRING_SUFFIX", "Labels", "Names"]

RETIRING_SUFFIX = "-retiring"
"""Suffix of an old container's name while its replacement starts beside it."""

LEASE_IMAGE = "ctrlplane-lease:1"
"""The empty local image lease containers are created from (imported on demand from an
empty archive: no registry, no layers, never run)."""

LEASE_FILE = "/lease.json"
"""Where a lease container holds the renewed lease (its label keeps the lease as created)."""


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

    @property
    def release_record(self) -> str:
        """On release record volumes only: the release, as JSON."""
        return f"{self.prefix}.release-record"

    @property
    def lease(self) -> str:
        """On the lease container only: the lease as created, as JSON."""
        return f"{self.prefix}.lease"

    @property
    def front(self) -> str:
        """On front containers only: ``<service>:<port>/<protocol>`` they publish."""
        return f"{self.prefix}.front"

    @property
    def pod(self) -> str:
        """On a unit's namespace holder only: ``holder``."""
        return f"{self.prefix}.pod"

    def holder_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting the namespace holders of one instance's units."""
        return {"label": [f"{self.instance}={instance_id}", f"{self.managed}=true", self.pod]}

    def front_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting the fronts of one instance."""
        return {"label": [f"{self.instance}={instance_id}", f"{self.managed}=true", self.front]}

    def instance_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting every object of one instance."""
        return {"label": [f"{self.instance}={instance_id}"]}

    def service_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Engine list filter selecting the service containers we made for one instance
        (other objects that merely carry the instance label are left out)."""
        return {"label": [f"{self.instance}={instance_id}", f"{self.managed}=true", self.spec]}

    def managed_filter(self, tenant_id: str | None = None) -> dict[str, list[str]]:
        """Engine list filter selecting every object this provider manages (of
        ``tenant_id`` unless ``None``)."""
        labels = [f"{self.managed}=true"]
        if tenant_id is not None:
            labels.append(f"{self.tenant}={tenant_id}")
        return {"label": labels}

    def record_filter(self, instance_id: str) -> dict[str, list[str]]:
        """Volume list filter selecting the release records of one instance."""
        return {"label": [f"{self.instance}={instance_id}", self.release_record]}


@dataclass(frozen=True, slots=True)
class Names:
    """Engine object names derived from the instance ID."""

    prefix: str = "cp"

    def network(self, instance_id: str) -> str:
        return f"{self.prefix}-{instance_id}"

    def container(self, instance_id: str, replica: int, service: str) -> str:
        return f"{self.prefix}-{instance_id}-{replica}-{service}"

    def retiring(self, instance_id: str, replica: int, service: str) -> str:
        """The name an old container carries while its replacement starts beside it."""
        return self.container(instance_id, replica, service) + RETIRING_SUFFIX

    def holder(self, instance_id: str, replica: int) -> str:
        """The container that holds the network namespace of unit ``replica``."""
        return f"{self.prefix}-{instance_id}-{replica}.pod"

    def retiring_holder(self, instance_id: str, replica: int) -> str:
        """The name an old holder carries while its replacement starts beside it."""
        return self.holder(instance_id, replica) + RETIRING_SUFFIX

    def release_record(self, instance_id: str, release_id: str) -> str:
        return f"{self.prefix}-{instance_id}-rel-{release_id}"

    def lease(self, instance_id: str) -> str:
        """The container that holds the instance's operation lease."""
        return f"{self.prefix}-{instance_id}-lease"

    def front(self, instance_id: str, service: str, port: int, protocol: str) -> str:
        """The container that holds the published port ``port``/``protocol`` of ``service``."""
        suffix = "" if protocol == "tcp" else f"-{protocol}"
        return f"{self.prefix}-{instance_id}-front-{service}-{port}{suffix}"

    def volume(self, instance_id: str, volume: str, replica: int, kind: WorkloadKind) -> str:
        if kind is WorkloadKind.STATEFUL_SET:
            return f"{self.prefix}-{instance_id}-{replica}-{volume}"
        return f"{self.prefix}-{instance_id}-{volume}"
