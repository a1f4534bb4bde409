"""The controllers and Services of an instance, rendered as lightkube's typed resources: the
Deployment or StatefulSet (with ``volumeClaimTemplates``), the Service of its ports and a
StatefulSet's headless Service. Pure (see :mod:`.render`)."""

from __future__ import annotations

from lightkube.models.apps_v1 import (
    DeploymentSpec,
    DeploymentStrategy,
    RollingUpdateDeployment,
    StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
)
from lightkube.models.core_v1 import PersistentVolumeClaim as ClaimTemplate
from lightkube.models.core_v1 import PodTemplateSpec, ServicePort
from lightkube.models.core_v1 import ServiceSpec as KubeServiceSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Service

from ctrlplane.provider.enums import ServiceRole, WorkloadKind
from ctrlplane.provider.kubernetes.render.containers import whole_seconds
from ctrlplane.provider.kubernetes.render.materials import claim_spec, persistent_volumes
from ctrlplane.provider.kubernetes.render.metadata import Scope
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASES,
    ANN_REPLICAS,
    ANN_SPEC,
    base_name,
    controller_selector,
    headless_name,
    service_selector,
    volume_name,
)
from ctrlplane.provider.spec import PortSpec, ProvisionRequest

__all__ = ["controller", "replicas_of", "services"]


def replicas_of(req: ProvisionRequest) -> int:
    """Replica count of a request: the main service's ``replicas`` (0 means 1)."""
    return req.main.resources.replicas or 1


def _int_or_percent(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _port_name(port: PortSpec) -> str:
    return f"{port.protocol.value}-{port.container}"


def services(scope: Scope) -> list[Service]:
    """The Service of the ports of every long-lived service (type from the config; none
    without ports), then a StatefulSet's headless Service."""
    req = scope.req
    iid = req.instance_id
    out: list[Service] = []
    ports = [p for svc in req.services if svc.role is not ServiceRole.INIT for p in svc.ports]
    selector = service_selector(iid)
    if ports:
        spec = KubeServiceSpec(
            type=scope.config.service_type.value,
            selector=dict(selector),
            ports=[
                ServicePort(
                    name=_port_name(p),
                    port=p.container,
                    targetPort=p.container,
                    protocol=p.protocol.value.upper(),
                )
                for p in ports
            ],
        )
        out.append(Service(metadata=scope.meta(base_name(iid)), spec=spec))
    if req.kind is WorkloadKind.STATEFUL_SET:
        headless = KubeServiceSpec(
            clusterIP="None",
            selector=dict(selector),
            publishNotReadyAddresses=True,
            ports=[ServicePort(name=_port_name(p), port=p.container) for p in ports]
            or [ServicePort(name="placeholder", port=80)],
        )
        out.append(Service(metadata=scope.meta(headless_name(iid)), spec=headless))
    return out


def controller(
    scope: Scope,
    template: PodTemplateSpec,
    *,
    replicas: int,
    remembered: int,
    releases: str,
    claim_retention: bool = True,
) -> Deployment | StatefulSet:
    """The Deployment or StatefulSet of the instance running pod ``template``: the
    controller annotations (request, release history ``releases``, the ``remembered``
    replica count ``start`` restores), and the controller's rollout settings (a
    StatefulSet's claim retention policy for ``keep_volumes`` where the server has the
    field: ``claim_retention``)."""
    req, config = scope.req, scope.config
    iid = req.instance_id
    meta = scope.meta(base_name(iid))
    meta.annotations = {
        **(meta.annotations or {}),
        ANN_SPEC: req.model_dump_json(),
        ANN_RELEASES: releases,
        ANN_REPLICAS: str(remembered),
    }
    selector = LabelSelector(matchLabels=controller_selector(iid))
    if req.kind is WorkloadKind.DEPLOYMENT:
        rolling = RollingUpdateDeployment(
            maxSurge=_int_or_percent(config.max_surge),
            maxUnavailable=_int_or_percent(config.max_unavailable),
        )
        return Deployment(
            metadata=meta,
            spec=DeploymentSpec(
                replicas=replicas,
                selector=selector,
                template=template,
                strategy=DeploymentStrategy(type="RollingUpdate", rollingUpdate=rolling),
                progressDeadlineSeconds=whole_seconds(config.progress_deadline, 600),
                revisionHistoryLimit=2,
            ),
        )
    claims = [
        ClaimTemplate(
            metadata=ObjectMeta(name=volume_name(vol), labels=dict(scope.labels)),
            spec=claim_spec(size, config),
        )
        for vol, size in sorted(persistent_volumes(req).items())
    ]
    retention = StatefulSetPersistentVolumeClaimRetentionPolicy(
        whenDeleted="Retain", whenScaled="Retain"
    )
    return StatefulSet(
        metadata=meta,
        spec=StatefulSetSpec(
            replicas=replicas,
            selector=selector,
            template=template,
            serviceName=headless_name(iid),
            podManagementPolicy="OrderedReady",
            updateStrategy=StatefulSetUpdateStrategy(type="RollingUpdate"),
            revisionHistoryLimit=2,
            volumeClaimTemplates=claims or None,
            persistentVolumeClaimRetentionPolicy=(
                retention if claims and config.keep_volumes and claim_retention else None
            ),
        ),
    )
