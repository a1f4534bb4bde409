"""Pure translation of a :class:`ProvisionRequest` into Kubernetes manifests (plain dicts).

No I/O: the provider applies what :func:`render` returns; ``tests/kubernetes`` validates
every shape against the official OpenAPI schemas. The mapping:

- ``deployment`` -> Deployment; ``stateful_set`` -> StatefulSet plus a headless Service and
  ``volumeClaimTemplates`` for persistent volumes. One pod holds every service.
- init services -> ``initContainers`` in ``depends_on`` order; sidecars -> native sidecars
  (init containers with ``restartPolicy: Always``) after the inits on servers that have them,
  except sidecars that depend on the main service (they follow it as plain containers);
  without native sidecars, sidecars are plain containers in ``depends_on`` order.
- health checks -> readiness probes (and startup probes of native sidecars, so dependants
  wait for them); resources -> requests and limits; replicas from the main service.
- ports -> one Service (type from the config); secrets -> one Secret referenced by env
  ``valueFrom`` and ``subPath`` file mounts; registry secrets -> image pull Secrets; config
  files -> one ConfigMap mounted by ``subPath``; ``hostAliases`` resolve every service name
  to 127.0.0.1 (the pod shares one network namespace).
- labels: config labels, then request labels, then the reserved ones (which win).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.health import probe_kind
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.kubernetes.naming import (
    ANN_RELEASE,
    ANN_RELEASES,
    ANN_REPLICAS,
    ANN_RESTARTED_AT,
    ANN_SPEC,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_SERVING,
    LABEL_TENANT,
    LABEL_TRACK,
    MANAGER,
    SERVING_MAIN,
    TRACK_STABLE,
    base_name,
    config_map_name,
    controller_selector,
    headless_name,
    is_label_value,
    pvc_name,
    registry_secret_name,
    secret_name,
    service_selector,
    volume_name,
)
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import secret_target, startup_order

__all__ = [
    "JSON",
    "Manifests",
    "RenderInputs",
    "aux_workload",
    "canary_stateful_set",
    "common_labels",
    "container_layout",
    "probe",
    "render",
    "replicas_of",
    "secret_key",
    "switched_service",
]

JSON = dict[str, Any]

_LABEL_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_REDACTED = base64.b64encode(b"[redacted]").decode()


@dataclass(frozen=True)
class RenderInputs:
    """Everything besides the request that shapes the manifests.

    ``secret_values`` maps :func:`secret_key` names to resolved values (``None``: render
    redacted placeholders, for printing). ``releases`` is the history annotation's JSON.
    """

    release_id: str
    native_sidecars: bool
    replicas: int | None = None
    """Replica count to write; ``None``: the main service's (0 counts as 1)."""
    remembered_replicas: int | None = None
    releases: str = "[]"
    restarted_at: str = ""
    secret_values: Mapping[str, bytes] | None = None


@dataclass
class Manifests:
    """The objects of one instance, in apply order (controller last)."""

    secrets: list[JSON] = field(default_factory=list)
    config_maps: list[JSON] = field(default_factory=list)
    claims: list[JSON] = field(default_factory=list)
    services: list[JSON] = field(default_factory=list)
    workload: JSON = field(default_factory=dict)

    def all(self) -> list[JSON]:
        """Every object, dependencies first."""
        return [*self.secrets, *self.config_maps, *self.claims, *self.services, self.workload]


def replicas_of(req: ProvisionRequest) -> int:
    """Replica count of a request: the main service's ``replicas`` (0 means 1)."""
    return req.main.resources.replicas or 1


def secret_key(service: str, index: int) -> str:
    """Key of a service's ``index``-th secret in the instance's Secret."""
    return f"{service}.{index}"


def _config_key(service: str, index: int) -> str:
    return f"{service}.{index}"


def common_labels(req: ProvisionRequest, config: KubernetesConfig) -> dict[str, str]:
    """Labels of every object: config labels < request labels < reserved labels.

    Raises :class:`InvalidSpec` for a request label that is not a valid Kubernetes label.
    """
    problems = [
        Problem(f"labels[{key!r}]", "not a valid Kubernetes label key or value")
        for key, value in req.labels.items()
        if not _LABEL_KEY.match(key) or not is_label_value(value)
    ]
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


def _meta(name: str, config: KubernetesConfig, labels: Mapping[str, str], release: str) -> JSON:
    return {
        "name": name,
        "namespace": config.namespace,
        "labels": dict(labels),
        "annotations": {ANN_RELEASE: release},
    }


def _seconds(value: timedelta, default: int) -> int:
    if value <= timedelta(0):
        return default
    return max(1, math.ceil(value.total_seconds()))


def _int_or_percent(text: str) -> int | str:
    return int(text) if text.isdigit() else text


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
    out["periodSeconds"] = _seconds(hc.interval, 10)
    out["timeoutSeconds"] = _seconds(hc.timeout, 1)
    out["failureThreshold"] = hc.retries or 3
    out["successThreshold"] = 1
    if start_period > timedelta(0):
        out["initialDelaySeconds"] = _seconds(start_period, 0)
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
                "subPath": _config_key(svc.name, i),
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


def _persistent(req: ProvisionRequest) -> dict[str, int]:
    """Persistent volume name -> size in MB (the largest any service asks for)."""
    out: dict[str, int] = {}
    for svc in req.services:
        for v in svc.volumes:
            if v.type is VolumeType.PERSISTENT:
                out[v.name] = max(out.get(v.name, 0), v.size_mb)
    return out


def _claim_spec(size_mb: int, config: KubernetesConfig) -> JSON:
    spec: JSON = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{size_mb or 1024}Mi"}},
    }
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return spec


def _secret_data(
    req: ProvisionRequest, values: Mapping[str, bytes] | None
) -> tuple[dict[str, str], list[tuple[int, str]]]:
    """(Opaque Secret data, [(registry index, secret key)])."""
    data: dict[str, str] = {}
    registry: list[tuple[int, str]] = []
    for svc in req.services:
        for i, ref in enumerate(svc.secrets):
            key = secret_key(svc.name, i)
            if ref.type is SecretType.REGISTRY:
                registry.append((len(registry), key))
                continue
            raw = None if values is None else values.get(key)
            data[key] = _REDACTED if raw is None else base64.b64encode(raw).decode()
    return data, registry


def render(req: ProvisionRequest, config: KubernetesConfig, inputs: RenderInputs) -> Manifests:
    """Every object of the instance ``req`` describes (``req`` must be valid)."""
    iid = req.instance_id
    base = base_name(iid)
    labels = common_labels(req, config)
    release = inputs.release_id
    out = Manifests()

    data, registry = _secret_data(req, inputs.secret_values)
    if data:
        meta = _meta(secret_name(iid), config, labels, release)
        out.secrets.append(
            {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}
        )
    pull_secrets = [{"name": n} for n in config.image_pull_secrets]
    for index, key in registry:
        name = registry_secret_name(iid, index)
        raw = None if inputs.secret_values is None else inputs.secret_values.get(key)
        value = base64.b64encode(raw).decode() if raw is not None else _REDACTED
        out.secrets.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": _meta(name, config, labels, release),
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": value},
            }
        )
        pull_secrets.append({"name": name})

    config_data = {
        _config_key(svc.name, i): cf.content
        for svc in req.services
        for i, cf in enumerate(svc.config_files)
    }
    if config_data:
        out.config_maps.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(config_map_name(iid), config, labels, release),
                "data": config_data,
            }
        )

    persistent = _persistent(req)
    if req.kind is WorkloadKind.DEPLOYMENT:
        for vol, size in sorted(persistent.items()):
            out.claims.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": _meta(pvc_name(iid, vol), config, labels, release),
                    "spec": _claim_spec(size, config),
                }
            )

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
        out.services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(base, config, labels, release),
                "spec": svc_spec,
            }
        )
    if req.kind is WorkloadKind.STATEFUL_SET:
        out.services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": _meta(headless_name(iid), config, labels, release),
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

    layout = container_layout(req.services, inputs.native_sidecars)
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
    if inputs.restarted_at:
        pod_annotations[ANN_RESTARTED_AT] = inputs.restarted_at
    pod_spec: JSON = {
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": [s.name for s in req.services]}],
        "containers": containers,
        "terminationGracePeriodSeconds": _seconds(config.termination_grace, 10),
        "enableServiceLinks": False,
    }
    if init_containers:
        pod_spec["initContainers"] = init_containers
    volumes = _pod_volumes(req, has_secrets=bool(data), has_config=bool(config_data))
    if volumes:
        pod_spec["volumes"] = volumes
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets

    replicas = inputs.replicas if inputs.replicas is not None else replicas_of(req)
    remembered = inputs.remembered_replicas or replicas or replicas_of(req)
    meta = _meta(base, config, labels, release)
    meta["annotations"].update(
        {
            ANN_SPEC: req.model_dump_json(),
            ANN_RELEASES: inputs.releases,
            ANN_REPLICAS: str(remembered),
        }
    )
    spec: JSON = {
        "replicas": replicas,
        "selector": {"matchLabels": controller_selector(iid)},
        "template": {
            "metadata": {"labels": pod_labels, "annotations": pod_annotations},
            "spec": pod_spec,
        },
    }
    if req.kind is WorkloadKind.DEPLOYMENT:
        spec["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": _int_or_percent(config.max_surge),
                "maxUnavailable": _int_or_percent(config.max_unavailable),
            },
        }
        spec["progressDeadlineSeconds"] = _seconds(config.progress_deadline, 600)
        spec["revisionHistoryLimit"] = 2
        out.workload = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": spec,
        }
    else:
        spec["serviceName"] = headless_name(iid)
        spec["podManagementPolicy"] = "OrderedReady"
        spec["updateStrategy"] = {"type": "RollingUpdate"}
        spec["revisionHistoryLimit"] = 2
        claims = [
            {
                "metadata": {"name": volume_name(vol), "labels": dict(labels)},
                "spec": _claim_spec(size, config),
            }
            for vol, size in sorted(persistent.items())
        ]
        if claims:
            spec["volumeClaimTemplates"] = claims
            if config.keep_volumes:
                spec["persistentVolumeClaimRetentionPolicy"] = {
                    "whenDeleted": "Retain",
                    "whenScaled": "Retain",
                }
        out.workload = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta,
            "spec": spec,
        }
    return out


def dumps(obj: JSON) -> str:
    """Stable JSON of a manifest (for rendering and comparisons)."""
    return json.dumps(obj, sort_keys=True, indent=2)


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
    rendered by :func:`render` for the same instance.
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
