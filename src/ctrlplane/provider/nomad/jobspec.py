"""A provision request as a Nomad job in the HTTP API's JSON shape (pure; no I/O).

One job per instance (ID = the instance ID, type ``service``), one task group
(``count`` = the main service's replicas, network mode from the config), one task per
service:

- lifecycle: see :mod:`~ctrlplane.provider.nomad.lifecycle` (inits are prestart tasks,
  sidecars prestart or poststart sidecars; unorderable ``depends_on`` is refused);
- docker driver ``config``: ``image``; ``entrypoint`` = ``command``; ``command`` /
  ``args`` = ``args``; ``extra_hosts`` maps every service name of the workload to
  127.0.0.1, so names resolve to the own replica (tasks of a group share localhost);
- ports: group network ports labelled ``<service>_<port>`` (dynamic host port mapped
  ``To`` the container port; a fixed ``host`` port is reserved). In ``host`` mode the
  tasks bind the host's ports directly, so each port is reserved at its container port;
- one native service per port (``<service>-<instance suffix>``), the health check on the
  service of its port: ``http`` (path), ``tcp`` (port only) or ``script`` (command,
  Consul provider only). Nomad's minimum check interval and timeout is 1 s;
- resources: ``cpu`` MHz = ``ceil(cpu_millis * mhz_per_core / 1000)``, ``memory`` MB;
  the group's ephemeral disk is the largest ``disk_mb``;
- config files: templates with the literal content (delimiters chosen so the content is
  never interpreted), rendered under ``local/`` and bind-mounted at their path;
- secrets: values live in Nomad Variables (``<variables_prefix>/<job>/<group>/<task>``,
  one item per secret, written by the provider); templates read them with ``nomadVar``
  into env vars (``env = true``) or files under ``secrets/``, bind-mounted at the target;
- ``Meta``: see :mod:`~ctrlplane.provider.nomad.meta`; ``Update``: the rolling update
  stanza (health from checks, ``auto_revert``).

- registry secrets: the docker driver's ``auth`` block names env vars that the task's
  env template fills from its Variable (:mod:`~ctrlplane.provider.nomad.registry`).
- volumes: persistent ones as group ``Volumes`` (host or CSI, ``per_alloc`` for
  ``stateful_set``) and task ``VolumeMounts``; tmpfs ones as docker ``mount`` blocks
  (:mod:`~ctrlplane.provider.nomad.volumes`).

Refused with :class:`~ctrlplane.errors.NotSupported` (before any side effect): what
:func:`~ctrlplane.provider.nomad.volumes.check_volumes` refuses, GPUs, more than one
registry secret per service (or any with another driver), exec checks on the native
provider, ``depends_on`` a health-checked service (unless ``dependency_health`` is
``started``), a fixed host port with more than one replica, and
``host`` mode ports whose host port differs from the container's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import SecretType, ServiceRole
from ctrlplane.provider.nomad.checkgate import DEFAULT_RETRIES, check_name
from ctrlplane.provider.nomad.config import (
    DependencyHealth,
    NetworkMode,
    NomadConfig,
    ServiceProvider,
)
from ctrlplane.provider.nomad.lifecycle import (
    PROVIDER,
    check_dependency_health,
    lifecycle_block,
    phases,
)
from ctrlplane.provider.nomad.meta import ReleaseMeta, job_meta
from ctrlplane.provider.nomad.registry import (
    PASSWORD_ENV,
    PASSWORD_ITEM,
    USERNAME_ENV,
    USERNAME_ITEM,
    auth_block,
)
from ctrlplane.provider.nomad.volumes import (
    check_canaries,
    check_volumes,
    docker_mounts,
    group_volumes,
    volume_mounts,
)
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import secret_target

__all__ = [
    "JOB_FIELDS",
    "check_supported",
    "cpu_mhz",
    "job_id",
    "port_label",
    "secret_item",
    "service_name",
    "translate",
    "variable_path",
]

JSON = dict[str, Any]

_MIN_CHECK = timedelta(seconds=1)
_DEFAULT_INTERVAL = timedelta(seconds=10)
_DEFAULT_TIMEOUT = timedelta(seconds=2)

JOB_FIELDS = frozenset(
    {"ID", "Name", "Type", "Namespace", "Region", "Datacenters", "Meta", "Update", "TaskGroups"}
)
"""The job-level fields :func:`translate` writes."""


def _ns(value: timedelta) -> int:
    return int(value / timedelta(microseconds=1)) * 1000


def job_id(instance_id: str) -> str:
    """The job of an instance: its ID is the instance ID."""
    return instance_id


def port_label(service: str, port: int) -> str:
    """The group network port label of ``service``'s container ``port``."""
    return f"{service.replace('-', '_')}_{port}"


def service_name(instance_id: str, service: str) -> str:
    """The registered service name: ``<service>-<instance suffix>`` (DNS-safe, unique)."""
    suffix = instance_id.rpartition("_")[2]
    return f"{service[:36]}-{suffix}"


def variable_path(cfg: NomadConfig, job: str, task: str) -> str:
    """The Variable holding ``task``'s secrets (readable by that task only)."""
    return f"{cfg.variables_prefix}/{job}/{cfg.group_name}/{task}"


def secret_item(index: int) -> str:
    """The Variable item key of a service's ``index``-th secret."""
    return f"secret_{index}"


def cpu_mhz(cfg: NomadConfig, cpu_millis: int) -> int:
    """``cpu_millis`` as MHz (rounded up); the default when 0."""
    if cpu_millis <= 0:
        return cfg.default_cpu_mhz
    return max(1, math.ceil(cpu_millis * cfg.mhz_per_core / 1000))


def _refuse(capability: Capability, detail: str) -> NotSupported:
    return NotSupported(PROVIDER, capability.value, detail=detail)


def check_supported(req: ProvisionRequest, cfg: NomadConfig) -> None:
    """Raise :class:`NotSupported` for what this backend cannot do (module docs)."""
    phases(req.services)
    check_dependency_health(req.services, cfg.dependency_health == DependencyHealth.STARTED)
    check_volumes(req, cfg)
    replicas = max(req.main.resources.replicas, 1)
    for svc in req.services:
        if svc.resources.gpu:
            raise _refuse(Capability.GPU, f"service {svc.name!r} asks for a GPU")
        registry = [ref for ref in svc.secrets if ref.type is SecretType.REGISTRY]
        if registry and cfg.driver != "docker":
            raise _refuse(
                Capability.PROVISION,
                f"registry secret {registry[0].key!r} of {svc.name!r}: pull credentials are "
                f"written as the docker driver's auth block, not for driver {cfg.driver!r}",
            )
        if len(registry) > 1:
            raise _refuse(
                Capability.PROVISION,
                f"service {svc.name!r} has {len(registry)} registry secrets; the docker "
                "driver takes one auth block per task (keep the one for its image's registry)",
            )
        hc = svc.health_check
        if hc is not None and hc.command and cfg.service_provider == ServiceProvider.NOMAD:
            raise _refuse(
                Capability.PROVISION,
                f"exec health check of {svc.name!r}: Nomad's native service provider has no "
                "script checks (set service_provider = consul)",
            )
        for port in svc.ports:
            if port.host and replicas > 1:
                raise _refuse(
                    Capability.PROVISION,
                    f"fixed host port {port.host} of {svc.name!r} with {replicas} replicas",
                )
            if cfg.network_mode == NetworkMode.HOST and port.host not in (0, port.container):
                raise _refuse(
                    Capability.PROVISION,
                    f"host network mode binds container ports directly; {svc.name!r} maps "
                    f"{port.container} to host port {port.host}",
                )


def _delims(content: str) -> tuple[str, str]:
    """Template delimiters that never occur in ``content`` (so it renders literally)."""
    n = 0
    while True:
        left, right = f"[[ctrlplane-{n}<", f">ctrlplane-{n}]]"
        if left not in content and right not in content:
            return left, right
        n += 1


def _check(job: str, svc: ServiceSpec, hc: HealthCheckSpec, cfg: NomadConfig) -> JSON:
    interval = max(hc.interval or _DEFAULT_INTERVAL, _MIN_CHECK)
    timeout = min(max(hc.timeout or _DEFAULT_TIMEOUT, _MIN_CHECK), interval)
    check: JSON = {
        "Name": check_name(svc.name),
        "Interval": _ns(interval),
        "Timeout": _ns(timeout),
    }
    if hc.command:
        check.update({"Type": "script", "Command": hc.command[0], "Args": hc.command[1:]})
        check["TaskName"] = svc.name
    elif hc.path:
        check.update({"Type": "http", "Path": hc.path, "PortLabel": port_label(svc.name, hc.port)})
    else:
        check.update({"Type": "tcp", "PortLabel": port_label(svc.name, hc.port)})
    if cfg.service_provider == ServiceProvider.CONSUL and not hc.command:
        check["FailuresBeforeCritical"] = hc.retries or DEFAULT_RETRIES
    return check


def _ports_of(svc: ServiceSpec) -> list[tuple[int, int]]:
    """(container, host) ports of a service, plus its health check's port if extra."""
    found = [(p.container, p.host) for p in svc.ports]
    hc = svc.health_check
    if hc is not None and hc.port and not hc.command and hc.port not in {c for c, _ in found}:
        found.append((hc.port, 0))
    return found


def _network(services: Sequence[ServiceSpec], cfg: NomadConfig) -> JSON:
    dynamic: list[JSON] = []
    reserved: list[JSON] = []
    host_mode = cfg.network_mode == NetworkMode.HOST
    for svc in services:
        for container, host in _ports_of(svc):
            label = port_label(svc.name, container)
            if host_mode:
                reserved.append({"Label": label, "Value": container})
            elif host:
                reserved.append({"Label": label, "Value": host, "To": container})
            else:
                dynamic.append({"Label": label, "To": container})
    net: JSON = {"Mode": str(cfg.network_mode)}
    if dynamic:
        net["DynamicPorts"] = dynamic
    if reserved:
        net["ReservedPorts"] = reserved
    return net


def _services(instance_id: str, job: str, svc: ServiceSpec, cfg: NomadConfig) -> list[JSON]:
    out: list[JSON] = []
    hc = svc.health_check
    for container, _ in _ports_of(svc):
        entry: JSON = {
            "Name": service_name(instance_id, svc.name),
            "PortLabel": port_label(svc.name, container),
            "Provider": str(cfg.service_provider),
            "TaskName": svc.name,
            "Tags": ["ctrlplane", f"port-{container}"],
            "CanaryTags": ["ctrlplane", f"port-{container}", "canary"],
        }
        if hc is not None and not hc.command and hc.port == container:
            entry["Checks"] = [_check(job, svc, hc, cfg)]
        out.append(entry)
    if hc is not None and hc.command:
        script: JSON = {
            "Name": service_name(instance_id, svc.name),
            "Provider": str(cfg.service_provider),
            "TaskName": svc.name,
            "Tags": ["ctrlplane", "script-check"],
            "Checks": [_check(job, svc, hc, cfg)],
        }
        out.append(script)
    return out


def _lookup(path: str, item: str) -> str:
    """A template expression reading ``item`` of the Variable at ``path``."""
    return f'{{{{ with nomadVar "{path}" }}}}{{{{ .{item} }}}}{{{{ end }}}}'


def _templates(job: str, svc: ServiceSpec, cfg: NomadConfig) -> tuple[list[JSON], list[str]]:
    """Templates of a task and the docker bind mounts that put their files in place."""
    templates: list[JSON] = []
    binds: list[str] = []
    for cf in svc.config_files:
        left, right = _delims(cf.content)
        dest = f"local/ctrlplane/config/{cf.name}"
        templates.append(
            {
                "EmbeddedTmpl": cf.content,
                "DestPath": dest,
                "ChangeMode": "restart",
                "Perms": "0644",
                "LeftDelim": left,
                "RightDelim": right,
            }
        )
        binds.append(f"{dest}:{cf.path}:ro")
    path = variable_path(cfg, job, svc.name)
    env_lines: list[str] = []
    for i, ref in enumerate(svc.secrets):
        lookup = _lookup(path, secret_item(i))
        target = secret_target(ref)
        if ref.type is SecretType.REGISTRY:
            env_lines.append(f"{USERNAME_ENV}={_lookup(path, USERNAME_ITEM)}")
            env_lines.append(f"{PASSWORD_ENV}={_lookup(path, PASSWORD_ITEM)}")
        elif ref.type is SecretType.ENV:
            env_lines.append(f"{target}={lookup}")
        else:
            dest = f"secrets/ctrlplane/file_{i}"
            templates.append(
                {"EmbeddedTmpl": lookup, "DestPath": dest, "ChangeMode": "restart", "Perms": "0400"}
            )
            binds.append(f"{dest}:{target}:ro")
    if env_lines:
        templates.append(
            {
                "EmbeddedTmpl": "\n".join(env_lines) + "\n",
                "DestPath": "secrets/ctrlplane/env",
                "ChangeMode": "restart",
                "Envvars": True,
            }
        )
    return templates, binds


def _task(
    req: ProvisionRequest, job: str, svc: ServiceSpec, phase_block: JSON | None, cfg: NomadConfig
) -> JSON:
    config: JSON = {
        "image": svc.image,
        "extra_hosts": [f"{s.name}:127.0.0.1" for s in req.services],
    }
    if svc.command:
        config["entrypoint"] = list(svc.command)
    if svc.args:
        config["command"] = svc.args[0]
        if svc.args[1:]:
            config["args"] = list(svc.args[1:])
    if cfg.network_mode == NetworkMode.HOST:
        config["network_mode"] = "host"
    if any(ref.type is SecretType.REGISTRY for ref in svc.secrets):
        config["auth"] = auth_block(svc.image)
    templates, binds = _templates(job, svc, cfg)
    if binds:
        config["volumes"] = binds
    mounts = docker_mounts(svc)
    if mounts:
        config["mount"] = mounts
    init = svc.role is ServiceRole.INIT
    task: JSON = {
        "Name": svc.name,
        "Driver": cfg.driver,
        "Config": config,
        "Env": dict(svc.env),
        "Resources": {
            "CPU": cpu_mhz(cfg, svc.resources.cpu_millis),
            "MemoryMB": svc.resources.memory_mb or cfg.default_memory_mb,
        },
        "KillTimeout": _ns(cfg.kill_timeout),
        "Meta": dict(svc.annotations),
        "RestartPolicy": {
            "Attempts": 0 if init else cfg.restart_attempts,
            "Interval": _ns(cfg.restart_interval),
            "Delay": _ns(cfg.restart_delay),
            "Mode": "fail",
        },
    }
    if phase_block is not None:
        task["Lifecycle"] = phase_block
    if templates:
        task["Templates"] = templates
    vmounts = volume_mounts(svc)
    if vmounts:
        task["VolumeMounts"] = vmounts
    return task


def translate(
    req: ProvisionRequest,
    release: ReleaseMeta,
    cfg: NomadConfig,
    *,
    canary: int = 0,
    created: datetime | None = None,
) -> JSON:
    """The ``Job`` object (API JSON) for ``req`` running ``release``; ``canary`` > 0 asks
    the update stanza for that many canaries (canary and blue-green deploys); ``created``
    is when the instance was first provisioned (kept in ``Meta``; default: the release's
    time).

    ``req`` must be valid and :func:`check_supported`; this raises ``NotSupported`` for
    unorderable ``depends_on`` and for canaries with ``per_alloc`` volumes only.
    Deterministic: the same inputs give the same job, so re-registering it changes
    nothing.
    """
    job = job_id(req.instance_id)
    order = phases(req.services)
    check_canaries(req, canary)
    replicas = max(req.main.resources.replicas, 1)
    disk = max((s.resources.disk_mb for s in req.services), default=0)
    group: JSON = {
        "Name": cfg.group_name,
        "Count": replicas,
        "Networks": [_network(req.services, cfg)],
        "Services": [
            entry for svc in req.services for entry in _services(req.instance_id, job, svc, cfg)
        ],
        "Tasks": [
            _task(req, job, svc, lifecycle_block(order[svc.name]), cfg) for svc in req.services
        ],
        "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
        "EphemeralDisk": {"SizeMB": disk or 300},
    }
    volumes = group_volumes(req, cfg)
    if volumes:
        group["Volumes"] = volumes
    out: JSON = {
        "ID": job,
        "Name": req.name or job,
        "Type": "service",
        "Namespace": cfg.namespace,
        "Datacenters": list(cfg.datacenters),
        "Meta": job_meta(req, release, created),
        "Update": update_stanza(cfg, canary=canary),
        "TaskGroups": [group],
    }
    if cfg.region:
        out["Region"] = cfg.region
    return out


def update_stanza(cfg: NomadConfig, *, canary: int = 0) -> JSON:
    """The job's ``Update`` block: rolling by ``max_parallel``, health from checks,
    automatic revert to the last stable version when a deployment fails."""
    return {
        "MaxParallel": cfg.max_parallel,
        "HealthCheck": "checks",
        "MinHealthyTime": _ns(cfg.min_healthy_time),
        "HealthyDeadline": _ns(cfg.healthy_deadline),
        "ProgressDeadline": _ns(cfg.progress_deadline),
        "AutoRevert": True,
        "AutoPromote": False,
        "Canary": canary,
    }
