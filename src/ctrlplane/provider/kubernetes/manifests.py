"""Pure translation of a :class:`ProvisionRequest` into Kubernetes manifests (plain dicts).

No I/O: the provider applies what :func:`render` returns; ``tests/kubernetes`` validates
every shape against the official OpenAPI schemas. The mapping:

- ``deployment`` -> Deployment; ``stateful_set`` -> StatefulSet plus a headless Service and
  ``volumeClaimTemplates`` for persistent volumes. One pod holds every service.
- init services -> ``initContainers`` in ``depends_on`` order; sidecars -> native sidecars
  (init containers with ``restartPolicy: Always``) after the inits on servers that have them,
  except sidecars that depend on the main service (they follow it as plain containers);
  without native sidecars, sidecars are plain containers in ``depends_on`` order.
- health checks -> readiness probes (and startup probes of native sidecars, so dependants
  wait for them); resources -> requests and limits; replicas from the main service.
- ports -> one Service (type from the config); secrets -> one Secret referenced by env
  ``valueFrom`` and ``subPath`` file mounts; registry secrets -> image pull Secrets; config
  files -> one ConfigMap mounted by ``subPath``; ``hostAliases`` resolve every service name
  to 127.0.0.1 (the pod shares one network namespace).
- labels: config labels, then request labels, then the reserved ones (which win).

:func:`render` puts together what these modules render: :mod:`.metadata` (labels, object
metadata), :mod:`.materials` (Secrets, ConfigMap, claims), :mod:`.containers` (the pod
template) and :mod:`.workloads` (controller and Services; the objects deploys derive).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.containers import container_layout, pod_template, probe
from ctrlplane.provider.kubernetes.materials import claims, config_maps, secret_key, secrets
from ctrlplane.provider.kubernetes.metadata import JSON, common_labels
from ctrlplane.provider.kubernetes.workloads import (
    aux_workload,
    canary_stateful_set,
    controller,
    replicas_of,
    services,
    switched_service,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "JSON",
    "Manifests",
    "RenderInputs",
    "aux_workload",
    "canary_stateful_set",
    "common_labels",
    "container_layout",
    "dumps",
    "probe",
    "render",
    "replicas_of",
    "secret_key",
    "switched_service",
]


@dataclass(frozen=True)
class RenderInputs:
    """Everything besides the request that shapes the manifests.

    ``secret_values`` maps :func:`secret_key` names to resolved values (``None``: render
    redacted placeholders, for printing). ``releases`` is the history annotation's JSON.
    """

    release_id: str
    native_sidecars: bool
    replicas: int | None = None
    """Replica count to write; ``None``: the main service's (0 counts as 1)."""
    remembered_replicas: int | None = None
    releases: str = "[]"
    restarted_at: str = ""
    secret_values: Mapping[str, bytes] | None = None


@dataclass
class Manifests:
    """The objects of one instance, in apply order (controller last)."""

    secrets: list[JSON] = field(default_factory=list)
    config_maps: list[JSON] = field(default_factory=list)
    claims: list[JSON] = field(default_factory=list)
    services: list[JSON] = field(default_factory=list)
    workload: JSON = field(default_factory=dict)

    def all(self) -> list[JSON]:
        """Every object, dependencies first."""
        return [*self.secrets, *self.config_maps, *self.claims, *self.services, self.workload]


def render(req: ProvisionRequest, config: KubernetesConfig, inputs: RenderInputs) -> Manifests:
    """Every object of the instance ``req`` describes (``req`` must be valid)."""
    labels = common_labels(req, config)
    release = inputs.release_id
    out = Manifests()
    out.secrets, pull_secrets = secrets(req, config, labels, release, inputs.secret_values)
    out.config_maps = config_maps(req, config, labels, release)
    out.claims = claims(req, config, labels, release)
    out.services = services(req, config, labels, release)
    template = pod_template(
        req,
        config,
        labels,
        release=release,
        native_sidecars=inputs.native_sidecars,
        restarted_at=inputs.restarted_at,
        has_secrets=any(s["type"] == "Opaque" for s in out.secrets),
        has_config=bool(out.config_maps),
        pull_secrets=pull_secrets,
    )
    replicas = inputs.replicas if inputs.replicas is not None else replicas_of(req)
    remembered = inputs.remembered_replicas or replicas or replicas_of(req)
    out.workload = controller(
        req,
        config,
        labels,
        template,
        release=release,
        replicas=replicas,
        remembered=remembered,
        releases=inputs.releases,
    )
    return out


def dumps(obj: JSON) -> str:
    """Stable JSON of a manifest (for rendering and comparisons)."""
    return json.dumps(obj, sort_keys=True, indent=2)
