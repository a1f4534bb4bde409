"""The tags of what the backend creates (pure): the request's labels, then ours.

Services and task definitions carry the request's ``labels`` and the backend's own tags
(:mod:`~ctrlplane.provider.ecs.render.names`: managed, instance, tenant, name, release;
on services also the role, traffic, remembered replicas and state); ours win over a label
of the same key. Tasks get their service's tags (``propagateTags``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ctrlplane.provider.ecs.render.names import (
    TAG_INSTANCE,
    TAG_MANAGED,
    TAG_NAME,
    TAG_RELEASE,
    TAG_REPLICAS,
    TAG_ROLE,
    TAG_STATE,
    TAG_TENANT,
    TAG_TRAFFIC,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["as_map", "instance_tags", "service_tags", "tag_list"]


def tag_list(tags: Mapping[str, str]) -> list[JSON]:
    """ECS's ``[{"key": ..., "value": ...}]`` form."""
    return [{"key": k, "value": v} for k, v in tags.items()]


def as_map(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """Tags of an ECS answer (``key``/``value`` pairs) as a mapping."""
    return {str(t.get("key")): str(t.get("value", "")) for t in tags or []}


def instance_tags(req: ProvisionRequest, release_id: str) -> dict[str, str]:
    """The tags every object of the instance carries."""
    return {
        **req.labels,
        TAG_MANAGED: "true",
        TAG_INSTANCE: req.instance_id,
        TAG_TENANT: req.tenant_id,
        TAG_NAME: req.name,
        TAG_RELEASE: release_id,
    }


def service_tags(
    req: ProvisionRequest,
    release_id: str,
    *,
    role: str,
    traffic: bool,
    replicas: int,
    state: str,
) -> dict[str, str]:
    """The tags of one of the instance's services."""
    return {
        **instance_tags(req, release_id),
        TAG_ROLE: role,
        TAG_TRAFFIC: "on" if traffic else "off",
        TAG_REPLICAS: str(replicas),
        TAG_STATE: state,
    }
