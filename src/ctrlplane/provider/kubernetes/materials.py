"""What the pod mounts or pulls with, rendered: the instance's Secrets (one Opaque Secret of
env, file and TLS secrets; one ``dockerconfigjson`` Secret per registry secret), the
ConfigMap of its config files and the PersistentVolumeClaims of a Deployment's persistent
volumes. Pure (see :mod:`.manifests`)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from ctrlplane.provider.enums import SecretType, VolumeType, WorkloadKind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.metadata import JSON, object_meta
from ctrlplane.provider.kubernetes.naming import (
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
    req: ProvisionRequest,
    config: KubernetesConfig,
    labels: Mapping[str, str],
    release: str,
    values: Mapping[str, bytes] | None,
) -> tuple[list[JSON], list[JSON]]:
    """(the instance's Secrets, the pod's ``imagePullSecrets``): the Opaque Secret first
    when any service has an env, file or TLS secret, then the registry Secrets; the pull
    secrets are the config's, then the registry Secrets. ``values`` as
    :attr:`~.manifests.RenderInputs.secret_values` (``None``: redacted placeholders)."""
    iid = req.instance_id
    out: list[JSON] = []
    data, registry = _secret_data(req, values)
    if data:
        meta = object_meta(secret_name(iid), config, labels, release)
        out.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}
        )
    pull_secrets = [{"name": n} for n in config.image_pull_secrets]
    for index, key in registry:
        name = registry_secret_name(iid, index)
        raw = None if values is None else values.get(key)
        value = base64.b64encode(raw).decode() if raw is not None else _REDACTED
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": object_meta(name, config, labels, release),
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": value},
            }
        )
        pull_secrets.append({"name": name})
    return out, pull_secrets


def config_maps(
    req: ProvisionRequest, config: KubernetesConfig, labels: Mapping[str, str], release: str
) -> list[JSON]:
    """The ConfigMap of every service's config files (none if there are none)."""
    config_data = {
        config_key(svc.name, i): cf.content
        for svc in req.services
        for i, cf in enumerate(svc.config_files)
    }
    if not config_data:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": object_meta(config_map_name(req.instance_id), config, labels, release),
            "data": config_data,
        }
    ]


def persistent_volumes(req: ProvisionRequest) -> dict[str, int]:
    """Persistent volume name -> size in MB (the largest any service asks for)."""
    out: dict[str, int] = {}
    for svc in req.services:
        for v in svc.volumes:
            if v.type is VolumeType.PERSISTENT:
                out[v.name] = max(out.get(v.name, 0), v.size_mb)
    return out


def claim_spec(size_mb: int, config: KubernetesConfig) -> JSON:
    """The ``spec`` of a claim of ``size_mb`` (1 GiB when 0) in the configured class."""
    spec: JSON = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{size_mb or 1024}Mi"}},
    }
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return spec


def claims(
    req: ProvisionRequest, config: KubernetesConfig, labels: Mapping[str, str], release: str
) -> list[JSON]:
    """The PersistentVolumeClaims of a Deployment's persistent volumes (a StatefulSet has
    ``volumeClaimTemplates`` instead, see :mod:`.workloads`)."""
    if req.kind is not WorkloadKind.DEPLOYMENT:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": object_meta(pvc_name(req.instance_id, vol), config, labels, release),
            "spec": claim_spec(size, config),
        }
        for vol, size in sorted(persistent_volumes(req).items())
    ]
