"""The pod template, rendered: where each service goes (init container, native sidecar or
plain container), each container's image, env, ports, resources, mounts and probes, and the
pod's volumes, as lightkube's typed models. Pure (see :mod:`.render`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from lightkube.models.core_v1 import (
    ConfigMapVolumeSource,
    Container,
    ContainerPort,
    EmptyDirVolumeSource,
    EnvVar,
    EnvVarSource,
    ExecAction,
    HostAlias,
    HTTPGetAction,
    LocalObjectReference,
    PersistentVolumeClaimVolumeSource,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ResourceRequirements,
    SecretKeySelector,
    SecretVolumeSource,
    TCPSocketAction,
    Volume,
    VolumeMount,
)
from lightkube.models.meta_v1 import ObjectMeta

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.health import probe_kind
from ctrlplane.provider.kubernetes.render.materials import config_key, secret_key
from ctrlplane.provider.kubernetes.render.metadata import Scope
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    ANN_RESTARTED_AT,
    LABEL_SERVING,
    LABEL_TRACK,
    SERVING_MAIN,
    TRACK_STABLE,
    config_map_name,
    pvc_name,
    secret_name,
    volume_name,
)
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import secret_target, startup_order

__all__ = ["container_layout", "pod_template", "probe", "whole_seconds"]


def whole_seconds(value: timedelta, default: int) -> int:
    """``value`` in whole seconds (rounded up, at least 1); ``default`` when not positive."""
    if value <= timedelta(0):
        return default
    return max(1, math.ceil(seconds(value)))


def probe(hc: HealthCheckSpec, start_period: timedelta = timedelta(0)) -> Probe:
    """The probe of a health check: httpGet, tcpSocket or exec, with its timing."""
    kind = probe_kind(hc)
    return Probe(
        exec=ExecAction(command=list(hc.command)) if kind == "exec" else None,
        httpGet=HTTPGetAction(path=hc.path, port=hc.port) if kind == "http" else None,
        tcpSocket=TCPSocketAction(port=hc.port) if kind not in ("exec", "http") else None,
        periodSeconds=whole_seconds(hc.interval, 10),
        timeoutSeconds=whole_seconds(hc.timeout, 1),
        failureThreshold=hc.retries or 3,
        successThreshold=1,
        initialDelaySeconds=(
            whole_seconds(start_period, 0) if start_period > timedelta(0) else None
        ),
    )


def _resources(svc: ServiceSpec) -> ResourceRequirements | None:
    res = svc.resources
    limits: dict[str, str] = {}
    if res.cpu_millis > 0:
        limits["cpu"] = f"{res.cpu_millis}m"
    if res.memory_mb > 0:
        limits["memory"] = f"{res.memory_mb}Mi"
    if res.disk_mb > 0:
        limits["ephemeral-storage"] = f"{res.disk_mb}Mi"
    if res.gpu:
        count = res.gpu if res.gpu.isdigit() else "1"
        limits["nvidia.com/gpu"] = count
    if not limits:
        return None
    return ResourceRequirements(requests=dict(limits), limits=limits)


@dataclass(frozen=True)
class _Layout:
    inits: list[ServiceSpec]
    native: list[ServiceSpec]
    containers: list[ServiceSpec]


def container_layout(services: Sequence[ServiceSpec], native_sidecars: bool) -> _Layout:
    """Where each service goes: init containers, native sidecars, or plain containers.

    Order is :func:`startup_order`. A sidecar that (transitively) depends on the main
    service cannot start before it, so it stays a plain container after the main one.
    """
    waves = startup_order(services)
    ordered = [s for wave in waves for s in wave]
    by_name = {s.name: s for s in services}
    after_main: set[str] = set()
    for svc in ordered:
        for dep in svc.depends_on:
            if by_name[dep].role is ServiceRole.MAIN or dep in after_main:
                after_main.add(svc.name)
    inits = [s for s in ordered if s.role is ServiceRole.INIT]
    native = [
        s
        for s in ordered
        if native_sidecars and s.role is ServiceRole.SIDECAR and s.name not in after_main
    ]
    native_names = {s.name for s in native}
    containers = [
        s for s in ordered if s.role is not ServiceRole.INIT and s.name not in native_names
    ]
    return _Layout(inits, native, containers)


def _env(svc: ServiceSpec, secret: str) -> list[EnvVar]:
    env = [EnvVar(name=k, value=v) for k, v in sorted(svc.env.items())]
    for i, ref in enumerate(svc.secrets):
        if ref.type is SecretType.ENV:
            target = secret_target(ref)
            env = [e for e in env if e.name != target]
            selector = SecretKeySelector(name=secret, key=secret_key(svc.name, i))
            env.append(EnvVar(name=target, valueFrom=EnvVarSource(secretKeyRef=selector)))
    return env


def _mounts(svc: ServiceSpec) -> list[VolumeMount]:
    mounts = [VolumeMount(name=volume_name(v.name), mountPath=v.mount_path) for v in svc.volumes]
    for i, ref in enumerate(svc.secrets):
        if ref.type in (SecretType.FILE, SecretType.TLS):
            mounts.append(
                VolumeMount(
                    name="secrets",
                    mountPath=secret_target(ref),
                    subPath=secret_key(svc.name, i),
                    readOnly=True,
                )
            )
    for i, cf in enumerate(svc.config_files):
        mounts.append(
            VolumeMount(
                name="config", mountPath=cf.path, subPath=config_key(svc.name, i), readOnly=True
            )
        )
    return mounts


def _container(
    svc: ServiceSpec,
    req: ProvisionRequest,
    *,
    native: bool,
    startup: bool,
    start_period: timedelta = timedelta(0),
) -> Container:
    hc = svc.health_check if svc.role is not ServiceRole.INIT else None
    readiness = probe(hc, start_period) if hc is not None else None
    return Container(
        name=svc.name,
        image=svc.image,
        imagePullPolicy="IfNotPresent",
        command=list(svc.command) or None,
        args=list(svc.args) or None,
        env=_env(svc, secret_name(req.instance_id)) or None,
        ports=[
            ContainerPort(containerPort=p.container, protocol=p.protocol.value.upper())
            for p in svc.ports
        ]
        or None,
        resources=_resources(svc),
        volumeMounts=_mounts(svc) or None,
        restartPolicy="Always" if native else None,
        readinessProbe=readiness,
        startupProbe=readiness if startup else None,
    )


def _pod_volumes(req: ProvisionRequest, *, has_secrets: bool, has_config: bool) -> list[Volume]:
    volumes: dict[str, Volume] = {}
    for svc in req.services:
        for v in svc.volumes:
            name = volume_name(v.name)
            if v.type is VolumeType.TMPFS:
                size = f"{v.size_mb}Mi" if v.size_mb else None
                empty = EmptyDirVolumeSource(medium="Memory", sizeLimit=size)
                volumes.setdefault(name, Volume(name=name, emptyDir=empty))
            elif req.kind is WorkloadKind.DEPLOYMENT:
                claim = PersistentVolumeClaimVolumeSource(
                    claimName=pvc_name(req.instance_id, v.name)
                )
                volumes.setdefault(name, Volume(name=name, persistentVolumeClaim=claim))
    out = list(volumes.values())
    if has_secrets:
        source = SecretVolumeSource(secretName=secret_name(req.instance_id))
        out.append(Volume(name="secrets", secret=source))
    if has_config:
        config_map = ConfigMapVolumeSource(name=config_map_name(req.instance_id))
        out.append(Volume(name="config", configMap=config_map))
    return out


def pod_template(
    scope: Scope,
    *,
    native_sidecars: bool,
    restarted_at: str,
    has_secrets: bool,
    has_config: bool,
    pull_secrets: list[LocalObjectReference],
) -> PodTemplateSpec:
    """The controller's pod ``template``: every service of the request in one pod (see
    :func:`container_layout`), the stable track and main serving labels, the services'
    annotations plus the release and restart stamp, and the pod's volumes (the instance's
    Secret and ConfigMap when ``has_secrets`` / ``has_config``)."""
    req, config = scope.req, scope.config
    layout = container_layout(req.services, native_sidecars)
    grace = config.probe_start_period
    init_containers = [_container(s, req, native=False, startup=False) for s in layout.inits]
    init_containers += [
        _container(s, req, native=True, startup=True, start_period=grace) for s in layout.native
    ]
    containers = [
        _container(s, req, native=False, startup=False, start_period=grace)
        for s in layout.containers
    ]
    pod_labels = {**scope.labels, LABEL_TRACK: TRACK_STABLE, LABEL_SERVING: SERVING_MAIN}
    pod_annotations: dict[str, str] = {}
    for svc in req.services:
        pod_annotations.update(svc.annotations)
    pod_annotations[ANN_RELEASE] = scope.release
    if restarted_at:
        pod_annotations[ANN_RESTARTED_AT] = restarted_at
    volumes = _pod_volumes(req, has_secrets=has_secrets, has_config=has_config)
    spec = PodSpec(
        hostAliases=[HostAlias(ip="127.0.0.1", hostnames=[s.name for s in req.services])],
        containers=containers,
        terminationGracePeriodSeconds=whole_seconds(config.termination_grace, 10),
        enableServiceLinks=False,
        initContainers=init_containers or None,
        volumes=volumes or None,
        imagePullSecrets=pull_secrets or None,
    )
    return PodTemplateSpec(
        metadata=ObjectMeta(labels=pod_labels, annotations=pod_annotations), spec=spec
    )
