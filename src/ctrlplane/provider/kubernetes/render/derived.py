"""What deploys derive from the rendered objects: the second controller of a canary or
blue-green deploy, the Service switched to it, and the partitioned StatefulSet of a
StatefulSet canary. Each takes and returns plain manifests, read into lightkube's typed
resources and changed there. Pure (see :mod:`.render`)."""

from __future__ import annotations

from lightkube.models.apps_v1 import RollingUpdateStatefulSetStrategy, StatefulSetUpdateStrategy
from lightkube.models.meta_v1 import LabelSelector
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Service

from ctrlplane.provider.kubernetes.render.metadata import manifest, typed
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    LABEL_INSTANCE,
    LABEL_SERVING,
    LABEL_TRACK,
)
from ctrlplane.provider.native import JSON

__all__ = ["aux_workload", "canary_stateful_set", "switched_service"]


def aux_workload(main: JSON, *, track: str, serving: str, replicas: int) -> JSON:
    """A second controller beside the instance's Deployment ``main`` (a canary or the green
    set of a blue-green deploy): same pod template, its own name ``<main>-<track>``, its own
    selector (``track``), routed to when ``serving`` matches the Service's selector.

    It carries the instance labels (so deprovision finds it) but none of the controller
    annotations (spec, history, replicas): only the main controller describes the instance.
    """
    aux = typed(Deployment, main)
    assert aux.metadata is not None
    assert aux.spec is not None
    assert aux.spec.template.metadata is not None
    release = (aux.metadata.annotations or {})[ANN_RELEASE]
    aux.metadata.name = f"{aux.metadata.name}-{track}"
    aux.metadata.annotations = {ANN_RELEASE: release}
    pod_meta = aux.spec.template.metadata
    labels = {**(pod_meta.labels or {}), LABEL_TRACK: track, LABEL_SERVING: serving}
    pod_meta.labels = labels
    aux.spec.selector = LabelSelector(
        matchLabels={LABEL_INSTANCE: labels[LABEL_INSTANCE], LABEL_TRACK: track}
    )
    aux.spec.replicas = replicas
    return manifest(aux)


def switched_service(service: JSON, serving: str) -> JSON:
    """The Service ``service`` routing to the pods whose serving label is ``serving``."""
    out = typed(Service, service)
    assert out.spec is not None
    out.spec.selector = {**(out.spec.selector or {}), LABEL_SERVING: serving}
    return manifest(out)


def canary_stateful_set(new: JSON, old: JSON, partition: int) -> JSON:
    """The StatefulSet of a canary deploy: ``new``'s pod template, rolled out only to the
    ordinals ``>= partition`` (``updateStrategy.rollingUpdate.partition``), while the
    controller keeps ``old``'s annotations (request, release history, live release).

    So until promotion the instance still reads back as the old release (a provider that
    dies mid-canary leaves a consistent record; the next deploy or rollback applies a full
    template, partition 0, and converges every pod). ``new`` and ``old`` are StatefulSets
    rendered by :func:`~.render.render` for the same instance.
    """
    if new.get("kind") != "StatefulSet" or old.get("kind") != "StatefulSet":
        raise ValueError("canary_stateful_set needs two StatefulSets")
    out = typed(StatefulSet, new)
    assert out.metadata is not None
    assert out.spec is not None
    out.metadata.annotations = dict((old.get("metadata") or {}).get("annotations") or {})
    out.spec.updateStrategy = StatefulSetUpdateStrategy(
        type="RollingUpdate",
        rollingUpdate=RollingUpdateStatefulSetStrategy(partition=max(0, int(partition))),
    )
    return manifest(out)
