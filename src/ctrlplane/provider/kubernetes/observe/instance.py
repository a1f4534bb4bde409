"""What the cluster holds about one instance, read from its controller. Pure.

The controller (the instance's Deployment or StatefulSet) is the record of the instance:
its annotations hold the provisioned request, the release history and the replica count
``start`` restores; its pod template holds the live release and the restart stamp.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.errors import InstanceNotFound
from ctrlplane.provider.kubernetes.render.history import load_releases
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    ANN_RELEASES,
    ANN_REPLICAS,
    ANN_RESTARTED_AT,
    ANN_SPEC,
    BACKEND,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Instance", "read_instance"]


@dataclass
class Instance:
    """One instance as read back: its request, its controller and its retained releases."""

    req: ProvisionRequest
    workload: JSON
    releases: list[Release]

    @property
    def annotations(self) -> dict[str, str]:
        """The controller's annotations."""
        return dict(self.workload["metadata"].get("annotations") or {})

    @property
    def kind(self) -> str:
        """``Deployment`` or ``StatefulSet``."""
        return str(self.workload.get("kind", ""))

    @property
    def replicas(self) -> int:
        """The controller's replica count now (0 when stopped)."""
        return int((self.workload.get("spec") or {}).get("replicas", 0))

    @property
    def remembered(self) -> int:
        """The replica count ``start`` restores."""
        text = self.annotations.get(ANN_REPLICAS, "")
        return int(text) if text.isdigit() else 1

    @property
    def release_id(self) -> str:
        """The live release."""
        return self.annotations.get(ANN_RELEASE, "")

    @property
    def restarted_at(self) -> str:
        """The restart stamp of the pod template (``""``: never restarted)."""
        template = (self.workload.get("spec") or {}).get("template") or {}
        return str(
            ((template.get("metadata") or {}).get("annotations") or {}).get(ANN_RESTARTED_AT, "")
        )

    def metadata(self, namespace: str) -> dict[str, str]:
        """What a result's ``metadata`` says of the instance: namespace, controller kind,
        live release."""
        return {"namespace": namespace, "kind": self.kind, "release_id": self.release_id}


def read_instance(instance_id: str, workload: JSON) -> Instance:
    """The instance ``workload`` (its controller) records; :class:`InstanceNotFound` when
    the controller carries no readable request (not one of ours)."""
    ann = (workload.get("metadata") or {}).get("annotations") or {}
    try:
        req = ProvisionRequest.model_validate_json(ann[ANN_SPEC])
    except (KeyError, ValueError) as exc:
        raise InstanceNotFound(instance_id, provider=BACKEND) from exc
    return Instance(req, workload, load_releases(ann.get(ANN_RELEASES)))
