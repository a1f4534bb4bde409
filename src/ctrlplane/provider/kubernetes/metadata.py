"""What every rendered object shares: the ``JSON`` shape of a manifest, the instance's
labels and the object metadata. Pure (see :mod:`.manifests`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.naming import (
    ANN_RELEASE,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_TENANT,
    MANAGER,
    is_label_value,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["JSON", "common_labels", "object_meta"]

JSON = dict[str, Any]

_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


def common_labels(req: ProvisionRequest, config: KubernetesConfig) -> dict[str, str]:
    """Labels of every object: config labels < request labels < reserved labels.

    Raises :class:`InvalidSpec` for a request label that is not a valid Kubernetes label.
    """
    problems = [
        Problem(f"labels[{key!r}]", "not a valid Kubernetes label key or value")
        for key, value in req.labels.items()
        if not _LABEL_KEY.match(key) or not is_label_value(value)
    ]
    if problems:
        raise InvalidSpec(problems)
    labels = {**config.labels, **req.labels}
    labels[LABEL_MANAGED_BY] = MANAGER
    labels[LABEL_INSTANCE] = req.instance_id
    if req.tenant_id and is_label_value(req.tenant_id):
        labels[LABEL_TENANT] = req.tenant_id
    if req.name and is_label_value(req.name):
        labels[LABEL_NAME] = req.name
    return labels


def object_meta(
    name: str, config: KubernetesConfig, labels: Mapping[str, str], release: str
) -> JSON:
    """The ``metadata`` of an object of the instance: its name in the configured
    namespace, the instance's labels, the live release annotation."""
    return {
        "name": name,
        "namespace": config.namespace,
        "labels": dict(labels),
        "annotations": {ANN_RELEASE: release},
    }
