"""Pure translation of a :class:`ProvisionRequest` into Kubernetes manifests.

No I/O: each object is built as lightkube's typed model (``lightkube.models`` /
``lightkube.resources``) and handed out as the plain JSON the API server takes
(``to_dict``); the provider applies what :func:`render` returns and ``render()`` shows it;
``tests/kubernetes`` validates every shape against the official OpenAPI schemas. The
mapping:

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

The modules: :mod:`.naming` (names, labels, annotation keys), :mod:`.metadata` (labels,
object metadata), :mod:`.materials` (Secrets, ConfigMap, claims), :mod:`.containers` (the
pod template), :mod:`.workloads` (controller and Services), :mod:`.derived` (what deploys
derive from them) and :mod:`.history` (the release history annotation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.render.containers import container_layout, pod_template
from ctrlplane.provider.kubernetes.render.derived import (
    aux_workload,
    canary_stateful_set,
    switched_service,
)
from ctrlplane.provider.kubernetes.render.history import dump_releases
from ctrlplane.provider.kubernetes.render.materials import (
    claims,
    config_maps,
    secret_key,
    secrets,
)
from ctrlplane.provider.kubernetes.render.metadata import Scope, common_labels, manifest
from ctrlplane.provider.kubernetes.render.workloads import controller, replicas_of, services
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "NEWEST",
    "Features",
    "Manifests",
    "RenderInputs",
    "aux_workload",
    "canary_stateful_set",
    "common_labels",
    "container_layout",
    "dumps",
    "render",
    "render_objects",
    "replicas_of",
    "secret_key",
    "switched_service",
]


@dataclass(frozen=True)
class Features:
    """What the server's version lets the manifests use (older servers refuse the newer
    fields in server-side apply: "field not declared in schema")."""

    native_sidecars: bool = True
    """Sidecars as native sidecars (init containers with ``restartPolicy: Always``,
    1.29+; see :class:`~ctrlplane.provider.kubernetes.config.SidecarMode`)."""
    claim_retention: bool = True
    """A StatefulSet's ``persistentVolumeClaimRetentionPolicy`` (1.23+), written for
    ``keep_volumes``; older servers keep claims anyway."""


NEWEST = Features()
"""What a current server takes."""


@dataclass(frozen=True)
class RenderInputs:
    """Everything besides the request that shapes the manifests.

    ``secret_values`` maps :func:`secret_key` names to resolved values (``None``: render
    redacted placeholders, for printing). ``releases`` is the history annotation's JSON.
    """

    release_id: str
    features: Features = NEWEST
    replicas: int | None = None
    """Replica count to write; ``None``: the main service's (0 counts as 1)."""
    remembered_replicas: int | None = None
    releases: str = "[]"
    restarted_at: str = ""
    secret_values: Mapping[str, bytes] | None = None


@dataclass
class Manifests:
    """The objects of one instance as plain manifests, in apply order (controller last)."""

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
    scope = Scope(req, config, common_labels(req, config), inputs.release_id)
    found_secrets, pull_secrets = secrets(scope, inputs.secret_values)
    found_config_maps = config_maps(scope)
    template = pod_template(
        scope,
        native_sidecars=inputs.features.native_sidecars,
        restarted_at=inputs.restarted_at,
        has_secrets=any(s.type == "Opaque" for s in found_secrets),
        has_config=bool(found_config_maps),
        pull_secrets=pull_secrets,
    )
    replicas = inputs.replicas if inputs.replicas is not None else replicas_of(req)
    remembered = inputs.remembered_replicas or replicas or replicas_of(req)
    workload = controller(
        scope,
        template,
        replicas=replicas,
        remembered=remembered,
        releases=inputs.releases,
        claim_retention=inputs.features.claim_retention,
    )
    return Manifests(
        secrets=[manifest(s) for s in found_secrets],
        config_maps=[manifest(c) for c in found_config_maps],
        claims=[manifest(c) for c in claims(scope)],
        services=[manifest(s) for s in services(scope)],
        workload=manifest(workload),
    )


def render_objects(
    req: ProvisionRequest,
    config: KubernetesConfig,
    *,
    release_id: str,
    features: Features,
    releases: Sequence[Release],
    replicas: int | None = None,
    remembered: int | None = None,
    restarted_at: str = "",
    secret_values: Mapping[str, bytes] | None = None,
) -> list[JSON]:
    """:func:`render` of ``req`` as ``release_id`` with the history ``releases`` (newest
    first, kept to the configured depth), every object in apply order."""
    inputs = RenderInputs(
        release_id=release_id,
        features=features,
        replicas=replicas,
        remembered_replicas=remembered,
        releases=dump_releases(releases, config.release_history),
        restarted_at=restarted_at,
        secret_values=secret_values,
    )
    return render(req, config, inputs).all()


def dumps(obj: JSON) -> str:
    """Stable JSON of a manifest (for rendering and comparisons)."""
    return json.dumps(obj, sort_keys=True, indent=2)
