"""A service of one replica -> the body that creates or updates its Machine (pure).

Every service of every replica is its own Machine (the Swagger file's ``processes`` share
one image and have no name, state or exit code of their own). Its configuration:

- ``image``; ``init.entrypoint``/``init.cmd`` from the service's ``command``/``args``;
  ``env`` (plain values only); ``guest`` (:mod:`.guest`);
- secrets by reference only: env secrets as ``processes[0].secrets`` entries
  (``env_var`` <- app secret ``name``), with ``ignore_app_secrets`` so a Machine sees no
  other app secret; file and tls secrets as ``files`` entries with ``secret_name`` (an
  app secret holding the base64 content). The values are app secrets written by
  :mod:`~ctrlplane.provider.fly.secrets`, never in this body;
- config files as ``files`` with ``raw_value`` (base64 of the literal content);
- long-lived services: their ports as Fly ``services`` (``internal_port`` = the container
  port, public port = the host port or the container port; ``autostop`` off: ctrlplane
  decides when Machines run), their http/tcp health check as ``checks``, restart policy
  ``on-failure`` (``restart_max_retries``); inits: ``auto_destroy`` and restart policy
  ``no`` (run once);
- a persistent volume as the one ``mounts`` entry (its volume ID is given);
- ``metadata`` (:mod:`.meta`) and ``dns.searches`` = ``process.<app>.internal``, so a
  bare service name resolves to ``<service>.process.<app>.internal``: that service's
  Machines (of every replica: Fly's DNS has no per-replica names for a process group);
- ``stop_config``: SIGTERM, then SIGKILL after ``stop_timeout``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType
from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.render import meta
from ctrlplane.provider.fly.render.checks import go_duration, machine_checks
from ctrlplane.provider.fly.render.guest import guest
from ctrlplane.provider.fly.render.names import init_machine_name, machine_name, secret_name
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import secret_target

__all__ = ["Placement", "create_body", "machine_config", "persistent_volume", "stop_body"]


@dataclass(frozen=True)
class Placement:
    """Where a service's Machine goes and what it runs: instance, app, replica, region,
    release, blue-green generation (0 for the first set) and the volume to mount."""

    instance_id: str
    tenant_id: str
    app: str
    replica: int
    region: str
    release_id: str
    generation: int = 0
    volume_id: str = ""


def persistent_volume(svc: ServiceSpec) -> str:
    """The name of the service's persistent volume (``""``: none)."""
    return next((v.name for v in svc.volumes if v.type is VolumeType.PERSISTENT), "")


def _files(svc: ServiceSpec, instance_id: str) -> list[JSON]:
    files: list[JSON] = [
        {"guest_path": cf.path, "raw_value": base64.b64encode(cf.content.encode()).decode()}
        for cf in svc.config_files
    ]
    for ref in svc.secrets:
        if ref.type in (SecretType.FILE, SecretType.TLS):
            files.append(
                {
                    "guest_path": secret_target(ref),
                    "secret_name": secret_name(instance_id, ref.key, file=True),
                }
            )
    return files


def _process(svc: ServiceSpec, instance_id: str) -> JSON:
    wanted = [
        {"env_var": secret_target(ref), "name": secret_name(instance_id, ref.key)}
        for ref in svc.secrets
        if ref.type is SecretType.ENV
    ]
    process: JSON = {"ignore_app_secrets": True}
    if wanted:
        process["secrets"] = wanted
    return process


def _services(svc: ServiceSpec) -> list[JSON]:
    return [
        {
            "protocol": "udp" if str(p.protocol) == "udp" else "tcp",
            "internal_port": p.container,
            "ports": [{"port": p.host or p.container}],
            "autostart": False,
            "autostop": False,
        }
        for p in svc.ports
    ]


def machine_config(svc: ServiceSpec, place: Placement, config: FlyConfig) -> JSON:
    """The ``config`` of ``svc``'s Machine at ``place`` (see the module docs)."""
    init = svc.role is ServiceRole.INIT
    body: JSON = {
        "image": svc.image,
        "guest": guest(svc.resources, config),
        "processes": [_process(svc, place.instance_id)],
        "metadata": {
            meta.INSTANCE: place.instance_id,
            meta.TENANT: place.tenant_id,
            meta.SERVICE: svc.name,
            meta.REPLICA: str(place.replica),
            meta.ROLE: str(svc.role),
            meta.RELEASE: place.release_id,
            meta.GENERATION: str(place.generation),
            meta.PROCESS_GROUP: svc.name,
        },
        "dns": {"searches": [f"process.{place.app}.internal"]},
        "stop_config": {"signal": "SIGTERM", "timeout": go_duration(config.stop_timeout)},
    }
    if svc.env:
        body["env"] = dict(svc.env)
    entry = {"entrypoint": list(svc.command), "cmd": list(svc.args)}
    entry = {k: v for k, v in entry.items() if v}
    if entry:
        body["init"] = entry
    files = _files(svc, place.instance_id)
    if files:
        body["files"] = files
    if init:
        body["auto_destroy"] = True
        body["restart"] = {"policy": "no"}
    else:
        body["restart"] = {"policy": "on-failure", "max_retries": config.restart_max_retries}
        services = _services(svc)
        if services:
            body["services"] = services
        checks = machine_checks(svc.health_check, config)
        if checks:
            body["checks"] = checks
    volume = persistent_volume(svc)
    if volume and place.volume_id:
        path = next(v.mount_path for v in svc.volumes if v.name == volume)
        body["mounts"] = [{"volume": place.volume_id, "path": path}]
    return body


def create_body(
    svc: ServiceSpec,
    place: Placement,
    config: FlyConfig,
    *,
    cordoned: bool = False,
) -> JSON:
    """The ``CreateMachineRequest`` of ``svc``'s Machine at ``place``; ``cordoned``: not
    registered with the Fly Proxy until uncordoned (a blue-green set)."""
    name = (
        init_machine_name(svc.name, place.replica)
        if svc.role is ServiceRole.INIT
        else machine_name(svc.name, place.replica, place.generation)
    )
    body: JSON = {
        "name": name,
        "region": place.region,
        "config": machine_config(svc, place, config),
    }
    if cordoned:
        body["skip_service_registration"] = True
    return body


def stop_body(config: FlyConfig) -> JSON:
    """The ``StopRequest`` of a graceful stop."""
    return {"signal": "SIGTERM", "timeout": go_duration(config.stop_timeout)}
