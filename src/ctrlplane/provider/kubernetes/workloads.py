"""The controllers and Services of an instance, rendered: the Deployment or StatefulSet
(with ``volumeClaimTemplates``), the Service of its ports and a StatefulSet's headless
Service, and what deploys derive from them (an auxiliary controller, a switched Service, a
partitioned StatefulSet). Pure (see :mod:`.manifests`)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from ctrlplane.provider.enums import ServiceRole, WorkloadKind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.containers import seconds
from ctrlplane.provider.kubernetes.materials import claim_spec, persistent_volumes
from ctrlplane.provider.kubernetes.metadata import JSON, object_meta
from ctrlplane.provider.kubernetes.naming import (
    ANN_RELEASE,
    ANN_RELEASES,
    ANN_REPLICAS,
    ANN_SPEC,
    LABEL_INSTANCE,
    LABEL_SERVING,
    LABEL_TRACK,
    base_name,
    controller_selector,
    headless_name,
    service_selector,
    volume_name,
)
from ctrlplane.provider.spec import ProvisionRequest

__all__ = [
    "aux_workload",
    "canary_stateful_set",
    "controller",
    "replicas_of",
    "services",
    "switched_service",
]


def replicas_of(req: ProvisionRequest) -> int:
    """Replica count of a request: the main service's ``replicas`` (0 means 1)."""
    return req.main.resources.replicas or 1


def _int_or_percent(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def services(
    req: ProvisionRequest, config: KubernetesConfig, labels: Mapping[str, str], release: str
) -> list[JSON]:
    """The Service of the ports of every long-lived service (type from the config; none
    without ports), then a StatefulSet's headless Service."""
    iid = req.instance_id
    out: list[JSON] = []
    ports = [
        (svc, p) for svc in req.services if svc.role is not ServiceRole.INIT for p in svc.ports
    ]
    selector = service_selector(iid)
    if ports:
        svc_spec: JSON = {
            "type": config.service_type.value,
            "selector": dict(selector),
            "ports": [
                {
                    "name": f"{p.protocol.value}-{p.container}",
                    "port": p.container,
                    "targetPort": p.container,
                    "protocol": p.protocol.value.upper(),
                }
                for _, p in ports
            ],
        }
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": object_meta(base_name(iid), config, labels, release),
                "spec": svc_spec,
            }
        )
    if req.kind is WorkloadKind.STATEFUL_SET:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": object_meta(headless_name(iid), config, labels, release),
                "spec": {
                    "clusterIP": "None",
                    "selector": dict(selector),
                    "publishNotReadyAddresses": True,
                    "ports": [{"name": "placeholder", "port": 80}]
                    if not ports
                    else [
                        {"name": f"{p.protocol.value}-{p.container}", "port": p.container}
                        for _, p in ports
                    ],
                },
            }
        )
    return out


def controller(
    req: ProvisionRequest,
    config: KubernetesConfig,
    labels: Mapping[str, str],
    template: JSON,
    *,
    release: str,
    replicas: int,
    remembered: int,
    releases: str,
) -> JSON:
    """The Deployment or StatefulSet of the instance running pod ``template``: the
    controller annotations (request, release history ``releases``, the ``remembered``
    replica count ``start`` restores), and the controller's rollout settings."""
    iid = req.instance_id
    meta = object_meta(base_name(iid), config, labels, release)
    meta["annotations"].update(
        {
            ANN_SPEC: req.model_dump_json(),
            ANN_RELEASES: releases,
            ANN_REPLICAS: str(remembered),
        }
    )
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": controller_selector(iid)},
        "template": template,
    }
    if req.kind is WorkloadKind.DEPLOYMENT:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": _int_or_percent(config.max_surge),
                "maxUnavailable": _int_or_percent(config.max_unavailable),
            },
        }
        spec["progressDeadlineSeconds"] = seconds(config.progress_deadline, 600)
        spec["revisionHistoryLimit"] = 2
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": spec,
        }
    spec["serviceName"] = headless_name(iid)
    spec["podManagementPolicy"] = "OrderedReady"
    spec["updateStrategy"] = {"type": "RollingUpdate"}
    spec["revisionHistoryLimit"] = 2
    claims = [
        {
            "metadata": {"name": volume_name(vol), "labels": dict(labels)},
            "spec": claim_spec(size, config),
        }
        for vol, size in sorted(persistent_volumes(req).items())
    ]
    if claims:
        spec["volumeClaimTemplates"] = claims
        if config.keep_volumes:
            spec["persistentVolumeClaimRetentionPolicy"] = {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta,
        "spec": spec,
    }


def aux_workload(main: JSON, *, track: str, serving: str, replicas: int) -> JSON:
    """A second controller beside the instance's Deployment ``main`` (a canary or the green
    set of a blue-green deploy): same pod template, its own name ``<main>-<track>``, its own
    selector (``track``), routed to when ``serving`` matches the Service's selector.

    It carries the instance labels (so deprovision finds it) but none of the controller
    annotations (spec, history, replicas): only the main controller describes the instance.
    """
    aux: JSON = json.loads(json.dumps(main))
    meta = aux["metadata"]
    meta["name"] = f"{main['metadata']['name']}-{track}"
    meta["annotations"] = {ANN_RELEASE: main["metadata"]["annotations"][ANN_RELEASE]}
    labels = aux["spec"]["template"]["metadata"]["labels"]
    labels[LABEL_TRACK] = track
    labels[LABEL_SERVING] = serving
    aux["spec"]["selector"] = {
        "matchLabels": {LABEL_INSTANCE: labels[LABEL_INSTANCE], LABEL_TRACK: track}
    }
    aux["spec"]["replicas"] = replicas
    return aux


def switched_service(service: JSON, serving: str) -> JSON:
    """The Service ``service`` routing to the pods whose serving label is ``serving``."""
    out: JSON = json.loads(json.dumps(service))
    out["spec"]["selector"][LABEL_SERVING] = serving
    return out


def canary_stateful_set(new: JSON, old: JSON, partition: int) -> JSON:
    """The StatefulSet of a canary deploy: ``new``'s pod template, rolled out only to the
    ordinals ``>= partition`` (``updateStrategy.rollingUpdate.partition``), while the
    controller keeps ``old``'s annotations (request, release history, live release).

    So until promotion the instance still reads back as the old release (a provider that
    dies mid-canary leaves a consistent record; the next deploy or rollback applies a full
    template, partition 0, and converges every pod). ``new`` and ``old`` are StatefulSets
    rendered by :func:`~.manifests.render` for the same instance.
    """
    if new.get("kind") != "StatefulSet" or old.get("kind") != "StatefulSet":
        raise ValueError("canary_stateful_set needs two StatefulSets")
    out: JSON = json.loads(json.dumps(new))
    out["metadata"]["annotations"] = dict(old["metadata"].get("annotations") or {})
    out["spec"]["updateStrategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": max(0, int(partition))},
    }
    return out
