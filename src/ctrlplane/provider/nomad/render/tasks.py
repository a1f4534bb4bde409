"""One task per service (pure): the docker driver ``config``, resources, restart policy,
lifecycle hook, templates for config files and secrets, and volume mounts.

- docker ``config``: ``image``; ``entrypoint`` = ``command``; ``command`` / ``args`` =
  ``args``; ``extra_hosts`` maps every service name of the workload to 127.0.0.1, so names
  resolve to the own replica (the tasks of a group share localhost); the ``auth`` block of
  a registry secret (:mod:`~ctrlplane.provider.nomad.render.pull_auth`); tmpfs ``mount``s;
- resources: ``cpu`` MHz = ``ceil(cpu_millis * mhz_per_core / 1000)``, ``memory`` MB;
- config files: templates with the literal content (delimiters chosen so the content is
  never interpreted), rendered under ``local/`` and bind-mounted at their path;
- secrets: values live in Nomad Variables (``<variables_prefix>/<job>/<group>/<task>``,
  one item per secret, written by the provider); templates read them with ``nomadVar``
  into env vars (``env = true``) or files under ``secrets/``, bind-mounted at the target;
- restart policy: long-lived tasks restart ``restart_attempts`` times; inits never.
"""

from __future__ import annotations

from ctrlplane.provider.enums import SecretType, ServiceRole
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import NetworkMode, NomadConfig
from ctrlplane.provider.nomad.render.names import cpu_mhz, nanos, secret_item, variable_path
from ctrlplane.provider.nomad.render.pull_auth import (
    PASSWORD_ENV,
    PASSWORD_ITEM,
    USERNAME_ENV,
    USERNAME_ITEM,
    auth_block,
)
from ctrlplane.provider.nomad.render.volumes import docker_mounts, volume_mounts
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import secret_target

__all__ = ["task"]


def _delims(content: str) -> tuple[str, str]:
    """Template delimiters that never occur in ``content`` (so it renders literally)."""
    n = 0
    while True:
        left, right = f"[[ctrlplane-{n}<", f">ctrlplane-{n}]]"
        if left not in content and right not in content:
            return left, right
        n += 1


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


def task(
    req: ProvisionRequest,
    job: str,
    svc: ServiceSpec,
    lifecycle: dict[str, object] | None,
    cfg: NomadConfig,
) -> JSON:
    """The ``Task`` of ``svc`` in ``job``; ``lifecycle`` is its hook (``None``: main)."""
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
    out: JSON = {
        "Name": svc.name,
        "Driver": cfg.driver,
        "Config": config,
        "Env": dict(svc.env),
        "Resources": {
            "CPU": cpu_mhz(cfg, svc.resources.cpu_millis),
            "MemoryMB": svc.resources.memory_mb or cfg.default_memory_mb,
        },
        "KillTimeout": nanos(cfg.kill_timeout),
        "Meta": dict(svc.annotations),
        "RestartPolicy": {
            "Attempts": 0 if init else cfg.restart_attempts,
            "Interval": nanos(cfg.restart_interval),
            "Delay": nanos(cfg.restart_delay),
            "Mode": "fail",
        },
    }
    if lifecycle is not None:
        out["Lifecycle"] = lifecycle
    if templates:
        out["Templates"] = templates
    vmounts = volume_mounts(svc)
    if vmounts:
        out["VolumeMounts"] = vmounts
    return out
