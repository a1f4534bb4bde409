"""The instance's operation lease as a ``coordination.k8s.io/v1`` ``Lease``. Pure.

One Lease per instance, named like its controller, in the configured namespace, labelled
with the instance (so deprovision and leftover checks find it). ``spec`` says what any
Kubernetes tool reads of a lease (holder, duration in whole seconds, acquire and renew
times); the ``ctrlplane.io/operation`` annotation holds the whole record
(:meth:`~ctrlplane.provider.leases.Lease.to_json`: the operation, the exact duration and
its intent). The object's ``resourceVersion`` is the check-and-set token.
"""

from __future__ import annotations

import math

from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease as KubeLease

from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.render.metadata import manifest
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_OPERATION,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    MANAGER,
    base_name,
)
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.native import JSON

__all__ = ["lease_manifest", "lease_name"]


def lease_name(instance_id: str) -> str:
    """The name of the instance's Lease."""
    return base_name(instance_id)


def lease_manifest(
    instance_id: str, lease: Lease, config: KubernetesConfig, resource_version: str = ""
) -> JSON:
    """The Lease of ``lease`` (with ``resource_version``: a replace of that version)."""
    meta = ObjectMeta(
        name=lease_name(instance_id),
        namespace=config.namespace,
        labels={LABEL_MANAGED_BY: MANAGER, LABEL_INSTANCE: instance_id},
        annotations={ANN_OPERATION: lease.to_json()},
        resourceVersion=resource_version or None,
    )
    spec = LeaseSpec(
        holderIdentity=lease.holder,
        leaseDurationSeconds=max(1, math.ceil(lease.ttl)),
        acquireTime=lease.acquired_at,
        renewTime=lease.renewed_at,
    )
    return manifest(KubeLease(metadata=meta, spec=spec))
