"""What every rendered object shares: the instance's labels and the object metadata, and
the conversion of lightkube's typed models into the plain manifests the API server takes.
Pure (see :mod:`.render`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from lightkube.models.meta_v1 import ObjectMeta

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_TENANT,
    MANAGER,
    is_label_value,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "ANNOTATIONS_LIMIT",
    "Model",
    "Scope",
    "common_labels",
    "is_qualified_name",
    "label_problems",
    "manifest",
    "object_meta",
    "typed",
]

_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)


ANNOTATIONS_LIMIT = 256 * 1024
"""The API server's limit on an object's annotations (keys and values together, bytes)."""


def is_qualified_name(key: str) -> bool:
    """Whether ``key`` is a valid label or annotation key: an optional DNS subdomain
    prefix (at most 253 characters) and ``/``, then a name of at most 63 characters,
    alphanumerics, ``-``, ``_`` and ``.``, starting and ending with an alphanumeric."""
    return bool(_LABEL_KEY.match(key)) and len(key.rpartition("/")[0]) <= 253


class Model(Protocol):
    """A typed lightkube model or resource (anything with ``to_dict``)."""

    def to_dict(self) -> dict[str, object]: ...


def manifest(obj: Model) -> JSON:
    """The plain JSON of a typed object: what is applied, compared and shown (fields left
    unset are absent)."""
    return cast(JSON, obj.to_dict())


_T = TypeVar("_T")


def typed(cls: type[_T], data: JSON) -> _T:
    """The manifest ``data`` read into lightkube's typed model ``cls`` (a new object)."""
    return cast(_T, cast(Any, cls).from_dict(data))


def label_problems(req: ProvisionRequest) -> list[Problem]:
    """The request labels that are not valid Kubernetes labels (key or value)."""
    return [
        Problem(f"labels[{key!r}]", "not a valid Kubernetes label key or value")
        for key, value in req.labels.items()
        if not is_qualified_name(key) or not is_label_value(value)
    ]


def common_labels(req: ProvisionRequest, config: KubernetesConfig) -> dict[str, str]:
    """Labels of every object: config labels < request labels < reserved labels.

    Raises :class:`InvalidSpec` for a request label that is not a valid Kubernetes label.
    """
    problems = label_problems(req)
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
) -> ObjectMeta:
    """The ``metadata`` of an object of the instance: its name in the configured
    namespace, the instance's labels, the live release annotation."""
    return ObjectMeta(
        name=name,
        namespace=config.namespace,
        labels=dict(labels),
        annotations={ANN_RELEASE: release},
    )


@dataclass(frozen=True)
class Scope:
    """What every object of one rendering shares: the request, the config, the instance's
    labels (:func:`common_labels`) and the live release."""

    req: ProvisionRequest
    config: KubernetesConfig
    labels: Mapping[str, str]
    release: str

    def meta(self, name: str) -> ObjectMeta:
        """:func:`object_meta` of the object ``name``."""
        return object_meta(name, self.config, self.labels, self.release)
