"""The task definition of an instance's release (pure): the ``RegisterTaskDefinition``
request that ``provision``, ``deploy``, ``rollback`` and ``scale`` send and ``render()``
shows.

One task definition holds every service as a container of one task (``awsvpc``: the
containers share the task's network interface, so they reach each other on localhost):

- ``essential`` for mains and sidecars; inits are non-essential containers the others
  ``dependsOn`` with ``SUCCESS`` (an init depending on another init waits for its
  ``SUCCESS`` too, so chained inits run in order);
- a service's ``depends_on`` on a main or sidecar becomes ``HEALTHY`` when that service
  has a health check, else ``START``;
- ``command``/``args`` become ``entryPoint``/``command``; ``env`` the ``environment``;
  env secrets ``secrets`` entries whose ``valueFrom`` is where the value is stored
  (:mod:`~ctrlplane.provider.ecs.secrets` writes it there; never the value); registry
  secrets ``repositoryCredentials``; file secrets and config files the task volumes of
  :mod:`.files`;
- ports become ``portMappings`` on the task's own address (host port = container port);
  health checks :mod:`.health`; sizes :mod:`.sizes`; logs the ``awslogs`` driver into
  ``log_group``, stream prefix the instance ID;
- the main container's docker labels record the release and the request
  (:mod:`.labels`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.ecs.config import EcsConfig, LaunchType, SecretStore
from ctrlplane.provider.ecs.render.files import file_plan
from ctrlplane.provider.ecs.render.health import health_check
from ctrlplane.provider.ecs.render.labels import ReleaseInfo, container_labels, record_labels
from ctrlplane.provider.ecs.render.names import (
    family,
    registry_secret_name,
    secret_name,
    stream_prefix,
)
from ctrlplane.provider.ecs.render.sizes import TaskSize, container_cpu
from ctrlplane.provider.ecs.render.tags import instance_tags, tag_list
from ctrlplane.provider.enums import SecretType, ServiceRole
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import secret_target, startup_order

__all__ = ["log_configuration", "placeholder_references", "task_definition"]

References = Mapping[tuple[str, str], str]
"""``(service, secret key)`` -> where the secret's value is stored (an ARN)."""


def log_configuration(cfg: EcsConfig, instance_id: str, region: str) -> JSON:
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": cfg.log_group,
            "awslogs-region": region,
            "awslogs-stream-prefix": stream_prefix(instance_id),
        },
    }


def placeholder_references(
    req: ProvisionRequest, cfg: EcsConfig, region: str
) -> dict[tuple[str, str], str]:
    """The references ``render()`` shows (no I/O: the account is not known)."""
    out: dict[tuple[str, str], str] = {}
    for svc in req.services:
        for ref in svc.secrets:
            if ref.type is SecretType.REGISTRY or cfg.secret_store is SecretStore.SECRETS_MANAGER:
                name = (
                    registry_secret_name(cfg, req.instance_id, svc.name, ref.key)
                    if ref.type is SecretType.REGISTRY
                    else secret_name(cfg, req.instance_id, svc.name, ref.key)
                )
                out[(svc.name, ref.key)] = (
                    f"arn:aws:secretsmanager:{region}:<account>:secret:{name}"
                )
            else:
                path = secret_name(cfg, req.instance_id, svc.name, ref.key)
                out[(svc.name, ref.key)] = f"arn:aws:ssm:{region}:<account>:parameter{path}"
    return out


def _depends(svc: ServiceSpec, req: ProvisionRequest, writer: bool) -> list[JSON]:
    out: list[JSON] = []
    if writer:
        out.append({"containerName": "ctrlplane_files", "condition": "SUCCESS"})
    deps = list(svc.depends_on)
    if svc.role is not ServiceRole.INIT:
        deps = [s.name for s in req.services if s.role is ServiceRole.INIT] + [
            d for d in deps if req.service(d).role is not ServiceRole.INIT
        ]
    for name in dict.fromkeys(deps):
        target = req.service(name)
        if target.role is ServiceRole.INIT:
            condition = "SUCCESS"
        elif target.health_check is not None:
            condition = "HEALTHY"
        else:
            condition = "START"
        out.append({"containerName": name, "condition": condition})
    return out


def _container(
    svc: ServiceSpec,
    req: ProvisionRequest,
    cfg: EcsConfig,
    *,
    log: JSON,
    references: References,
    mounts: list[JSON],
    labels: dict[str, str],
    writer: bool,
) -> JSON:
    c: JSON = {
        "name": svc.name,
        "image": svc.image,
        "essential": svc.role is not ServiceRole.INIT,
        "environment": [{"name": k, "value": v} for k, v in sorted(svc.env.items())],
        "portMappings": [
            {"containerPort": p.container, "hostPort": p.container, "protocol": str(p.protocol)}
            for p in svc.ports
        ],
        "logConfiguration": log,
        "dockerLabels": labels,
        "stopTimeout": max(2, min(120, int(seconds(cfg.stop_timeout)))),
    }
    if svc.command:
        c["entryPoint"] = list(svc.command)
    if svc.args:
        c["command"] = list(svc.args)
    cpu = container_cpu(svc.resources.cpu_millis)
    if cpu:
        c["cpu"] = cpu
    if svc.resources.memory_mb:
        c["memory"] = svc.resources.memory_mb
    env_secrets = [
        {"name": secret_target(ref), "valueFrom": references[(svc.name, ref.key)]}
        for ref in svc.secrets
        if ref.type is SecretType.ENV
    ]
    if env_secrets:
        c["secrets"] = env_secrets
    registry = [ref for ref in svc.secrets if ref.type is SecretType.REGISTRY]
    if registry:
        c["repositoryCredentials"] = {
            "credentialsParameter": references[(svc.name, registry[0].key)]
        }
    if mounts:
        c["mountPoints"] = mounts
    if svc.health_check is not None and svc.role is not ServiceRole.INIT:
        c["healthCheck"] = health_check(svc.health_check, cfg)
    depends = _depends(svc, req, writer)
    if depends:
        c["dependsOn"] = depends
    return c


def task_definition(
    req: ProvisionRequest,
    release: ReleaseInfo,
    cfg: EcsConfig,
    *,
    region: str,
    references: References,
    size: TaskSize,
) -> JSON:
    """The ``RegisterTaskDefinition`` request of ``req`` running ``release``."""
    iid = req.instance_id
    log = log_configuration(cfg, iid, region)
    files = file_plan(req, cfg, references, log)
    writer = files.writer is not None
    containers: list[JSON] = [files.writer] if files.writer is not None else []
    main = req.main.name
    for wave in startup_order(req.services):
        for svc in wave:
            labels = (
                record_labels(req, release)
                if svc.name == main
                else container_labels(iid, svc.name, release.release_id)
            )
            containers.append(
                _container(
                    svc,
                    req,
                    cfg,
                    log=log,
                    references=references,
                    mounts=files.mounts.get(svc.name, []),
                    labels=labels,
                    writer=writer,
                )
            )
    fargate = cfg.launch_type is LaunchType.FARGATE or bool(cfg.capacity_provider)
    body: JSON = {
        "family": family(cfg, iid),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE" if fargate else "EC2"],
        "cpu": str(size.cpu),
        "memory": str(size.memory),
        "containerDefinitions": containers,
        "volumes": files.volumes,
        "runtimePlatform": {
            "operatingSystemFamily": "LINUX",
            "cpuArchitecture": str(cfg.cpu_architecture),
        },
        "tags": tag_list(instance_tags(req, release.release_id)),
    }
    if cfg.execution_role_arn:
        body["executionRoleArn"] = cfg.execution_role_arn
    if cfg.task_role_arn:
        body["taskRoleArn"] = cfg.task_role_arn
    disk = sum(s.resources.disk_mb for s in req.services)
    if fargate and disk > 20 * 1024:
        body["ephemeralStorage"] = {"sizeInGiB": min(200, -(-disk // 1024))}
    return body
