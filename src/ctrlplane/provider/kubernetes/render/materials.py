"""What the pod mounts or pulls with, rendered: the instance's Secrets (one Opaque Secret of
env, file and TLS secrets; one ``dockerconfigjson`` Secret per registry secret), the
ConfigMap of its config files and the PersistentVolumeClaims of a Deployment's persistent
volumes, as lightkube's typed models. Pure (see :mod:`.render`)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from lightkube.models.core_v1 import (
    LocalObjectReference,
    PersistentVolumeClaimSpec,
    VolumeResourceRequirements,
)
from lightkube.resources.core_v1 import ConfigMap, PersistentVolumeClaim, Secret

from ctrlplane.provider.enums import SecretType, VolumeType, WorkloadKind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.render.metadata import Scope
from ctrlplane.provider.kubernetes.render.naming import (
    config_map_name,
    pvc_name,
    registry_secret_name,
    secret_name,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "claim_spec",
    "claims",
    "config_key",
    "config_maps",
    "persistent_volumes",
    "secret_key",
    "secrets",
]

_REDACTED = base64.b64encode(b"[redacted]").decode()


def secret_key(service: str, index: int) -> str:
    """Key of a service's ``index``-th secret in the instance's Secret."""
    return f"{service}.{index}"


def config_key(service: str, index: int) -> str:
    """Key of a service's ``index``-th config file in the instance's ConfigMap."""
    return f"{service}.{index}"


def _secret_data(
    req: ProvisionRequest, values: Mapping[str, bytes] | None
) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """(Opaque Secret data, [(registry index, secret key)])."""
    data: dict[str, str] = {}
    registry: list[tuple[int, str]] = []
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            key = secret_key(svc.name, i)
            if ref.type is SecretType.REGISTRY:
                registry.append((len(registry), key))
                continue
            raw = None if values is None else values.get(key)
            data[key] = _REDACTED if raw is None else base64.b64encode(raw).decode()
    return data, registry


def secrets(
    scope: Scope, values: Mapping[str, bytes] | None
) -> tuple[list[Secret], list[LocalObjectReference]]:
    """(the instance's Secrets, the pod's ``imagePullSecrets``): the Opaque Secret first
    when any service has an env, file or TLS secret, then the registry Secrets; the pull
    secrets are the config's, then the registry Secrets. ``values`` as
    :attr:`~.RenderInputs.secret_values` (``None``: redacted placeholders)."""
    iid = scope.req.instance_id
    out: list[Secret] = []
    data, registry = _secret_data(scope.req, values)
    if data:
        out.append(Secret(metadata=scope.meta(secret_name(iid)), type="Opaque", data=data))
    pull_secrets = [LocalObjectReference(name=n) for n in scope.config.image_pull_secrets]
    for index, key in registry:
        name = registry_secret_name(iid, index)
        raw = None if values is None else values.get(key)
        value = base64.b64encode(raw).decode() if raw is not None else _REDACTED
        out.append(
            Secret(
                metadata=scope.meta(name),
                type="kubernetes.io/dockerconfigjson",
                data={".dockerconfigjson": value},
            )
        )
        pull_secrets.append(LocalObjectReference(name=name))
    return out, pull_secrets


def config_maps(scope: Scope) -> list[ConfigMap]:
    """The ConfigMap of every service's config files (none if there are none)."""
    config_data = {
        config_key(svc.name, i): cf.content
        for svc in scope.req.services
        for i, cf in enumerate(svc.config_files)
    }
    if not config_data:
        return []
    meta = scope.meta(config_map_name(scope.req.instance_id))
    return [ConfigMap(metadata=meta, data=config_data)]


def persistent_volumes(req: ProvisionRequest) -> dict[str, int]:
    """Persistent volume name -> size in MB (the largest any service asks for)."""
    out: dict[str, int] = {}
    for svc in req.services:
        for v in svc.volumes:
            if v.type is VolumeType.PERSISTENT:
                out[v.name] = max(out.get(v.name, 0), v.size_mb)
    return out


def claim_spec(size_mb: int, config: KubernetesConfig) -> PersistentVolumeClaimSpec:
    """The ``spec`` of a claim of ``size_mb`` (1 GiB when 0) in the configured class."""
    return PersistentVolumeClaimSpec(
        accessModes=["ReadWriteOnce"],
        resources=VolumeResourceRequirements(requests={"storage": f"{size_mb or 1024}Mi"}),
        storageClassName=config.storage_class or None,
    )


def claims(scope: Scope) -> list[PersistentVolumeClaim]:
    """The PersistentVolumeClaims of a Deployment's persistent volumes (a StatefulSet has
    ``volumeClaimTemplates`` instead, see :mod:`.workloads`)."""
    req = scope.req
    if req.kind is not WorkloadKind.DEPLOYMENT:
        return []
    return [
        PersistentVolumeClaim(
            metadata=scope.meta(pvc_name(req.instance_id, vol)),
            spec=claim_spec(size, scope.config),
        )
        for vol, size in sorted(persistent_volumes(req).items())
    ]
