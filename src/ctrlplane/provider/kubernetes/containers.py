"""The pod template, rendered: where each service goes (init container, native sidecar or
plain container), each container's image, env, ports, resources, mounts and probes, and the
pod's volumes. Pure (see :mod:`.manifests`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.health import probe_kind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.materials import config_key, secret_key
from ctrlplane.provider.kubernetes.metadata import JSON
from ctrlplane.provider.kubernetes.naming import (
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

__all__ = ["container_layout", "pod_template", "probe", "seconds"]


def seconds(value: timedelta, default: int) -> int:
    """``value`` in whole seconds (rounded up, at least 1); ``default`` when not positive."""
    if value <= timedelta(0):
        return default
    return max(1, math.ceil(value.total_seconds()))


def probe(hc: HealthCheckSpec, start_period: timedelta = timedelta(0)) -> JSON:
    """The probe of a health check: httpGet, tcpSocket or exec, with its timing."""
    kind = probe_kind(hc)
    out: JSON
    if kind == "exec":
        out = {"exec": {"command": list(hc.command)}}
    elif kind == "http":
        out = {"httpGet": {"path": hc.path, "port": hc.port}}
    else:
        out = {"tcpSocket": {"port": hc.port}}
    out["periodSeconds"] = seconds(hc.interval, 10)
    out["timeoutSeconds"] = seconds(hc.timeout, 1)
    out["failureThreshold"] = hc.retries or 3
    out["successThreshold"] = 1
    if start_period > timedelta(0):
        out["initialDelaySeconds"] = seconds(start_period, 0)
    return out


def _resources(svc: ServiceSpec) -> JSON:
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
        return {}
    return {"requests": dict(limits), "limits": limits}


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


def _env(svc: ServiceSpec, secret: str) -> list[JSON]:
    env: list[JSON] = [{"name": k, "value": v} for k, v in sorted(svc.env.items())]
    for i, ref in enumerate(svc.secrets):
        if ref.type is SecretType.ENV:
            env = [e for e in env if e["name"] != secret_target(ref)]
            env.append(
                {
                    "name": secret_target(ref),
                    "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key(svc.name, i)}},
                }
            )
    return env


def _container(
    svc: ServiceSpec,
    req: ProvisionRequest,
    *,
    native: bool,
    startup: bool,
    start_period: timedelta = timedelta(0),
) -> JSON:
    iid = req.instance_id
    c: JSON = {"name": svc.name, "image": svc.image, "imagePullPolicy": "IfNotPresent"}
    if svc.command:
        c["command"] = list(svc.command)
    if svc.args:
        c["args"] = list(svc.args)
    env = _env(svc, secret_name(iid))
    if env:
        c["env"] = env
    if svc.ports:
        c["ports"] = [
            {"containerPort": p.container, "protocol": p.protocol.value.upper()} for p in svc.ports
        ]
    resources = _resources(svc)
    if resources:
        c["resources"] = resources
    mounts: list[JSON] = [
        {"name": volume_name(v.name), "mountPath": v.mount_path} for v in svc.volumes
    ]
    for i, ref in enumerate(svc.secrets):
        if ref.type in (SecretType.FILE, SecretType.TLS):
            mounts.append(
                {
                    "name": "secrets",
                    "mountPath": secret_target(ref),
                    "subPath": secret_key(svc.name, i),
                    "readOnly": True,
                }
            )
    for i, cf in enumerate(svc.config_files):
        mounts.append(
            {
                "name": "config",
                "mountPath": cf.path,
                "subPath": config_key(svc.name, i),
                "readOnly": True,
            }
        )
    if mounts:
        c["volumeMounts"] = mounts
    if native:
        c["restartPolicy"] = "Always"
    if svc.role is not ServiceRole.INIT and svc.health_check is not None:
        c["readinessProbe"] = probe(svc.health_check, start_period)
        if startup:
            c["startupProbe"] = probe(svc.health_check, start_period)
    return c


def _pod_volumes(req: ProvisionRequest, *, has_secrets: bool, has_config: bool) -> list[JSON]:
    volumes: dict[str, JSON] = {}
    for svc in req.services:
        for v in svc.volumes:
            name = volume_name(v.name)
            if v.type is VolumeType.TMPFS:
                empty: JSON = {"medium": "Memory"}
                if v.size_mb:
                    empty["sizeLimit"] = f"{v.size_mb}Mi"
                volumes.setdefault(name, {"name": name, "emptyDir": empty})
            elif req.kind is WorkloadKind.DEPLOYMENT:
                volumes.setdefault(
                    name,
                    {
                        "name": name,
                        "persistentVolumeClaim": {"claimName": pvc_name(req.instance_id, v.name)},
                    },
                )
    out = list(volumes.values())
    if has_secrets:
        out.append({"name": "secrets", "secret": {"secretName": secret_name(req.instance_id)}})
    if has_config:
        out.append({"name": "config", "configMap": {"name": config_map_name(req.instance_id)}})
    return out


def pod_template(
    req: ProvisionRequest,
    config: KubernetesConfig,
    labels: Mapping[str, str],
    *,
    release: str,
    native_sidecars: bool,
    restarted_at: str,
    has_secrets: bool,
    has_config: bool,
    pull_secrets: list[JSON],
) -> JSON:
    """The controller's pod ``template``: every service of ``req`` in one pod (see
    :func:`container_layout`), the stable track and main serving labels, the services'
    annotations plus the release and restart stamp, and the pod's volumes (the instance's
    Secret and ConfigMap when ``has_secrets`` / ``has_config``)."""
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

    pod_labels = {**labels, LABEL_TRACK: TRACK_STABLE, LABEL_SERVING: SERVING_MAIN}
    pod_annotations: dict[str, str] = {}
    for svc in req.services:
        pod_annotations.update(svc.annotations)
    pod_annotations[ANN_RELEASE] = release
    if restarted_at:
        pod_annotations[ANN_RESTARTED_AT] = restarted_at
    pod_spec: JSON = {
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [s.name for s in req.services]}],
        "containers": containers,
        "terminationGracePeriodSeconds": seconds(config.termination_grace, 10),
        "enableServiceLinks": False,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    volumes = _pod_volumes(req, has_secrets=has_secrets, has_config=has_config)
    if volumes:
        pod_spec["volumes"] = volumes
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets
    return {"metadata": {"labels": pod_labels, "annotations": pod_annotations}, "spec": pod_spec}
