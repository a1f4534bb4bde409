"""Config files and file secrets on ECS (pure): task volumes written by an init container.

ECS has no way to mount a single file into a container, so:

- each directory holding a service's config files or file secrets becomes a task volume
  (``ctrlplane-files-<service>-<n>``: Fargate's task storage, shared by the task's
  containers, gone with the task), mounted read-only at that directory in that service's
  container only (files of the image in that directory are hidden by it);
- the non-essential init container ``ctrlplane_files`` (image ``files_image``) mounts
  every such volume and writes each file with ``printf '%s'``: a config file's content
  comes from a plain environment variable of that container (config files are not
  secret), a file secret's value from its ``secrets`` entry (the agent reads the stored
  value with the execution role when the task starts: the value is never in the task
  definition);
- every other container ``dependsOn`` it with ``SUCCESS``.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.ecs.render.names import FILES_CONTAINER
from ctrlplane.provider.enums import SecretType
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import secret_target

__all__ = ["FilePlan", "file_plan", "file_targets"]

_WRITER_ROOT = "/ctrlplane"


@dataclass
class FilePlan:
    """The volumes, the services' mount points and the writer container (if needed)."""

    volumes: list[JSON] = field(default_factory=list)
    mounts: dict[str, list[JSON]] = field(default_factory=dict)
    writer: JSON | None = None


def file_targets(req: ProvisionRequest) -> dict[str, list[tuple[str, str]]]:
    """Per service, the files it gets: ``(path, source)`` where source is ``config:<i>``
    (its i-th config file) or ``secret:<key>``."""
    out: dict[str, list[tuple[str, str]]] = {}
    for svc in req.services:
        files = [(cf.path, f"config:{i}") for i, cf in enumerate(svc.config_files)]
        files += [
            (secret_target(ref), f"secret:{ref.key}")
            for ref in svc.secrets
            if ref.type in (SecretType.FILE, SecretType.TLS)
        ]
        if files:
            out[svc.name] = files
    return out


def file_plan(
    req: ProvisionRequest,
    cfg: EcsConfig,
    references: Mapping[tuple[str, str], str],
    log: JSON,
) -> FilePlan:
    """The plan for ``req`` (see the module docs); ``references`` maps ``(service, key)``
    to where each secret is stored, ``log`` is the writer's log configuration."""
    plan = FilePlan()
    environment: list[JSON] = []
    secrets: list[JSON] = []
    writer_mounts: list[JSON] = []
    script: list[str] = []
    for svc_name, files in file_targets(req).items():
        svc = req.service(svc_name)
        directories: dict[str, str] = {}
        for path, source in files:
            directory = posixpath.dirname(path)
            if directory not in directories:
                volume = f"ctrlplane-files-{svc_name}-{len(directories)}"
                directories[directory] = volume
                plan.volumes.append({"name": volume})
                plan.mounts.setdefault(svc_name, []).append(
                    {"sourceVolume": volume, "containerPath": directory, "readOnly": True}
                )
                writer_mounts.append(
                    {
                        "sourceVolume": volume,
                        "containerPath": f"{_WRITER_ROOT}/{volume}",
                        "readOnly": False,
                    }
                )
            variable = f"CTRLPLANE_FILE_{len(environment) + len(secrets)}"
            kind, _, detail = source.partition(":")
            if kind == "config":
                environment.append(
                    {"name": variable, "value": svc.config_files[int(detail)].content}
                )
            else:
                secrets.append({"name": variable, "valueFrom": references[(svc_name, detail)]})
            target = f"{_WRITER_ROOT}/{directories[directory]}/{posixpath.basename(path)}"
            script.append(f"printf '%s' \"${variable}\" > {shlex.quote(target)}")
    if not script:
        return plan
    plan.writer = {
        "name": FILES_CONTAINER,
        "image": cfg.files_image,
        "essential": False,
        "entryPoint": ["sh", "-c"],
        "command": [" && ".join(script)],
        "environment": environment,
        "secrets": secrets,
        "mountPoints": writer_mounts,
        "logConfiguration": log,
    }
    if not secrets:
        del plan.writer["secrets"]
    return plan
