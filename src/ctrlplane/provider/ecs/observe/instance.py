"""An instance as read from ECS (pure): its services, which one is live, its revision.

An instance has one service at rest and two during a blue-green or canary deploy
(:mod:`~ctrlplane.provider.ecs.render.names`). The live one is the active service tagged
``ctrlplane:role=live`` (if an interrupted deploy left two, the one running the newest
revision); the others are a deploy's candidate or a retiring old service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.provider.ecs.observe.records import release_info, request_of, revision
from ctrlplane.provider.ecs.render.labels import ReleaseInfo
from ctrlplane.provider.ecs.render.names import TAG_REPLICAS, TAG_ROLE, TAG_STATE, TAG_TRAFFIC
from ctrlplane.provider.ecs.render.tags import as_map
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Instance", "pick_live", "service_tags"]


def service_tags(service: Mapping[str, Any]) -> dict[str, str]:
    return as_map(service.get("tags"))


def _revision_of(service: Mapping[str, Any]) -> int:
    arn = str(service.get("taskDefinition", ""))
    tail = arn.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def pick_live(services: Iterable[JSON]) -> tuple[JSON | None, list[JSON]]:
    """The live service among an instance's services, and the other active ones."""
    active = [s for s in services if s.get("status") in ("ACTIVE", "DRAINING")]
    live = [
        s for s in active if s.get("status") == "ACTIVE" and service_tags(s).get(TAG_ROLE) == "live"
    ]
    chosen = max(live, key=_revision_of) if live else None
    return chosen, [s for s in active if s is not chosen]


@dataclass
class Instance:
    """An instance's live service and the revision it runs (its request and release)."""

    instance_id: str
    live: JSON
    definition: JSON
    others: list[JSON] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.live["serviceName"])

    @property
    def arn(self) -> str:
        return str(self.live["serviceArn"])

    @property
    def tags(self) -> dict[str, str]:
        return service_tags(self.live)

    @property
    def desired(self) -> int:
        return int(self.live.get("desiredCount") or 0)

    @property
    def remembered(self) -> int:
        """The desired count a ``start`` restores (at least 1)."""
        text = self.tags.get(TAG_REPLICAS, "")
        return max(int(text), 1) if text.isdigit() else max(self.desired, 1)

    @property
    def ready(self) -> bool:
        """Whether its provision completed."""
        return self.tags.get(TAG_STATE) == "ready"

    @property
    def definition_arn(self) -> str:
        return str(self.definition["taskDefinitionArn"])

    @property
    def revision(self) -> int:
        return revision(self.definition)

    @property
    def request(self) -> ProvisionRequest:
        return request_of(self.definition)

    @property
    def release(self) -> ReleaseInfo:
        return release_info(self.definition)

    def serving(self) -> list[JSON]:
        """The instance's services whose tasks take traffic (are its endpoints)."""
        return [
            s
            for s in [self.live, *self.others]
            if s.get("status") == "ACTIVE" and service_tags(s).get(TAG_TRAFFIC, "on") == "on"
        ]

    def primary_deployment(self) -> JSON:
        deployments = self.live.get("deployments") or []
        return next((dict(d) for d in deployments if d.get("status") == "PRIMARY"), {})
