"""Names, labels and annotation keys of the objects the Kubernetes backend writes. Pure.

Every object of an instance is named ``<prefix>-<instance id with '_' as '-'>`` (plus a
suffix) and carries the reserved labels below, so one label selector finds all of it.
"""

from __future__ import annotations

import re

__all__ = [
    "ANN_OPERATION",
    "ANN_RELEASE",
    "ANN_RELEASES",
    "ANN_REPLICAS",
    "ANN_RESTARTED_AT",
    "ANN_SPEC",
    "BACKEND",
    "LABEL_INSTANCE",
    "LABEL_MANAGED_BY",
    "LABEL_NAME",
    "LABEL_ORDINAL",
    "LABEL_SERVING",
    "LABEL_TENANT",
    "LABEL_TRACK",
    "MANAGER",
    "SERVING_MAIN",
    "TRACK_STABLE",
    "base_name",
    "config_map_name",
    "controller_selector",
    "headless_name",
    "instance_selector",
    "is_label_value",
    "pvc_name",
    "registry_secret_name",
    "secret_name",
    "service_selector",
    "volume_name",
]

BACKEND = "kubernetes"
"""The provider's name: what ``info()`` reports and errors carry."""

MANAGER = "ctrlplane"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "ctrlplane.io/instance"
LABEL_TENANT = "ctrlplane.io/tenant"
LABEL_TRACK = "ctrlplane.io/track"
"""On pods: which controller owns them (``stable``, ``canary`` or ``green``)."""
LABEL_SERVING = "ctrlplane.io/serving"
"""On pods: which set the Service routes to (``main``, or ``green`` during a blue-green
switch); the Service selects on it."""
TRACK_STABLE = "stable"
LABEL_ORDINAL = "statefulset.kubernetes.io/pod-name"
"""On a StatefulSet's pods, set by the controller (not by ctrlplane): the pod's name,
which ends with its ordinal."""
SERVING_MAIN = "main"

ANN_SPEC = "ctrlplane.io/spec"
"""On the controller: the provisioned request (JSON; secret references only, no values)."""
ANN_RELEASES = "ctrlplane.io/releases"
"""On the controller: the retained release history (JSON list, newest first)."""
ANN_RELEASE = "ctrlplane.io/release"
"""On every object and the pod template: the live release ID."""
ANN_REPLICAS = "ctrlplane.io/replicas"
"""On the controller: the replica count ``start`` restores after ``stop``."""
ANN_OPERATION = "ctrlplane.io/operation"
"""On the instance's operation Lease: the lease record (holder, operation, times, intent)."""
ANN_RESTARTED_AT = "ctrlplane.io/restarted-at"
"""On the pod template: the time of the last ``restart`` (changing it rolls the pods)."""

_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def is_label_value(value: str) -> bool:
    """Whether ``value`` is a valid label value (empty, or <= 63 alphanumerics and ``-_.``)."""
    return bool(_LABEL_VALUE.match(value))


def base_name(instance_id: str) -> str:
    """The name of the controller and Service of an instance (a DNS-1123 label)."""
    return "cp-" + instance_id.replace("_", "-").lower()


def headless_name(instance_id: str) -> str:
    """The headless Service of a StatefulSet."""
    return base_name(instance_id) + "-pods"


def secret_name(instance_id: str) -> str:
    """The Secret holding the instance's resolved env and file secrets."""
    return base_name(instance_id) + "-secrets"


def registry_secret_name(instance_id: str, index: int) -> str:
    """The ``dockerconfigjson`` Secret of the ``index``-th registry secret reference."""
    return f"{base_name(instance_id)}-registry-{index}"


def config_map_name(instance_id: str) -> str:
    """The ConfigMap holding the instance's config files."""
    return base_name(instance_id) + "-config"


def volume_name(volume: str) -> str:
    """The pod volume of a spec volume."""
    return f"vol-{volume}"


def pvc_name(instance_id: str, volume: str) -> str:
    """The PersistentVolumeClaim of a Deployment's persistent volume."""
    return f"{base_name(instance_id)}-{volume}"


def instance_selector(instance_id: str) -> dict[str, str]:
    """The label selector of everything of an instance (and of its pods)."""
    return {LABEL_INSTANCE: instance_id}


def controller_selector(instance_id: str, track: str = TRACK_STABLE) -> dict[str, str]:
    """The selector of one controller of an instance (``track`` tells them apart)."""
    return {LABEL_INSTANCE: instance_id, LABEL_TRACK: track}


def service_selector(instance_id: str, serving: str = SERVING_MAIN) -> dict[str, str]:
    """The selector of the instance's Services: the pods of the serving set."""
    return {LABEL_INSTANCE: instance_id, LABEL_SERVING: serving}
