"""The semantic rules ECS enforces beyond the API model, for task definitions and services.

Each check raises :class:`~..errors.AwsError` (``ClientException`` or
``InvalidParameterException``, as ECS does) for the first rule a request breaks:

task definitions (``RegisterTaskDefinition``)
    at most 10 containers, unique names, at least one essential container; ``dependsOn``
    names existing other containers, ``SUCCESS``/``COMPLETE`` only on non-essential ones,
    ``HEALTHY`` only on ones with a health check, no cycles; health check bounds (interval
    5-300 s, timeout 2-60 s, retries 1-10, start period 0-300 s) and its command form;
    mount points name declared volumes at absolute paths; container memory at least
    6 MiB; ``awsvpc``: host ports equal container ports, no ``links``, ``hostname`` or
    ``extraHosts``; Fargate: ``awsvpc``, a task size that is one of Fargate's cpu/memory
    combinations and holds the containers' sizes, log drivers Fargate offers, no host
    paths, no privileged containers, an execution role for ``awslogs``, ``secrets`` and
    registry credentials, and ``awslogs-stream-prefix``; role ARNs well formed.

services (``CreateService``/``UpdateService``)
    an ``awsvpc`` task definition needs an ``awsvpcConfiguration`` whose subnets (1-16)
    and security groups (at most 5) exist, a public IP only on Fargate; the launch type
    must be one the task definition is compatible with; ``launchType`` and
    ``capacityProviderStrategy`` are exclusive; deployment percentages in range.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from ..errors import AwsError

__all__ = [
    "FARGATE_SIZES",
    "check_service",
    "check_task_definition",
    "fargate_allows",
    "size_mib",
    "size_units",
]

JSON = dict[str, Any]

FARGATE_SIZES: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}
"""Fargate's task sizes (Linux): CPU units -> the memory values (MiB) it allows."""

_ROLE = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]{1,512}")
_FARGATE_LOG_DRIVERS = {"awslogs", "splunk", "awsfirelens"}


def _client(message: str) -> AwsError:
    return AwsError("ClientException", message)


def size_units(text: str) -> int:
    """Task CPU as units: ``"1024"`` or ``"1 vCPU"``; ``ClientException`` otherwise."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(vcpu)?\s*", text, re.IGNORECASE)
    if m is None:
        raise _client(f"Invalid 'cpu' setting for task: {text!r}")
    value = float(m.group(1))
    return int(value * 1024) if m.group(2) else int(value)


def size_mib(text: str) -> int:
    """Task memory in MiB: ``"2048"`` or ``"2 GB"``; ``ClientException`` otherwise."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*(gb)?\s*", text, re.IGNORECASE)
    if m is None:
        raise _client(f"Invalid 'memory' setting for task: {text!r}")
    value = float(m.group(1))
    return int(value * 1024) if m.group(2) else int(value)


def fargate_allows(cpu: int, memory: int) -> bool:
    return memory in FARGATE_SIZES.get(cpu, [])


def _cycle(deps: Mapping[str, list[str]]) -> bool:
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1 or (nxt not in state and visit(nxt)):
                return True
        state[node] = 2
        return False

    return any(node not in state and visit(node) for node in deps)


def _health(name: str, hc: JSON) -> None:
    command = hc.get("command") or []
    if not command or command[0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise _client(
            f"Container {name}: the health check command must start with CMD, CMD-SHELL or NONE"
        )
    if command[0] == "CMD-SHELL" and len(command) != 2:
        raise _client(f"Container {name}: CMD-SHELL takes exactly one command string")
    bounds = {"interval": (5, 300), "timeout": (2, 60), "retries": (1, 10), "startPeriod": (0, 300)}
    for key, (lo, hi) in bounds.items():
        value = hc.get(key)
        if value is not None and not lo <= value <= hi:
            raise _client(f"Container {name}: health check {key} must be between {lo} and {hi}")


def _container(c: JSON, *, awsvpc: bool, fargate: bool, volumes: Collection[str]) -> None:
    name = c["name"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name):
        raise _client(
            f"Container name {name!r}: up to 255 letters, numbers, hyphens and underscores"
        )
    if not c.get("image"):
        raise _client(f"Container {name}: image is required")
    memory = c.get("memory")
    if memory is not None and memory < 6:
        raise _client(f"Invalid 'memory' setting for container '{name}': the minimum is 6 MiB")
    reservation = c.get("memoryReservation")
    if memory is not None and reservation is not None and reservation > memory:
        raise _client(f"Container {name}: memoryReservation must not exceed memory")
    for pm in c.get("portMappings") or []:
        port = pm.get("containerPort")
        if port is None or not 1 <= port <= 65535:
            raise _client(f"Container {name}: containerPort must be between 1 and 65535")
        host = pm.get("hostPort")
        if awsvpc and host not in (None, port):
            raise _client(
                "When networkMode=awsvpc, the host ports and container ports in port "
                "mappings must match."
            )
    if awsvpc:
        for unsupported in ("links", "hostname", "extraHosts"):
            if c.get(unsupported):
                raise _client(f"{unsupported} is not supported when networkMode=awsvpc")
    for mp in c.get("mountPoints") or []:
        if mp.get("sourceVolume") not in volumes:
            raise _client(
                f"Container {name}: mount point sourceVolume {mp.get('sourceVolume')!r} is "
                "not a volume of the task definition"
            )
        if not str(mp.get("containerPath", "")).startswith("/"):
            raise _client(f"Container {name}: mount point containerPath must be absolute")
    for secret in c.get("secrets") or []:
        if not secret.get("name") or not secret.get("valueFrom"):
            raise _client(f"Container {name}: a secret needs a name and a valueFrom")
    if c.get("healthCheck"):
        _health(name, c["healthCheck"])
    if fargate:
        if c.get("privileged"):
            raise _client("Fargate does not support privileged containers")
        log = c.get("logConfiguration") or {}
        if log and log.get("logDriver") not in _FARGATE_LOG_DRIVERS:
            raise _client(
                f"Log driver {log.get('logDriver')} is not supported on Fargate; use awslogs, "
                "splunk or awsfirelens"
            )
    log = c.get("logConfiguration") or {}
    if log.get("logDriver") == "awslogs":
        options = log.get("options") or {}
        for needed in ("awslogs-group", "awslogs-region"):
            if not options.get(needed):
                raise _client(f"Container {name}: the awslogs driver needs the {needed} option")
        if fargate and not options.get("awslogs-stream-prefix"):
            raise _client(f"Container {name}: Fargate requires the awslogs-stream-prefix option")


def _dependencies(containers: list[JSON]) -> None:
    by_name = {c["name"]: c for c in containers}
    graph: dict[str, list[str]] = {}
    for c in containers:
        for dep in c.get("dependsOn") or []:
            target = by_name.get(dep["containerName"])
            if target is None or dep["containerName"] == c["name"]:
                raise _client(
                    f"Container {c['name']}: dependsOn names {dep['containerName']!r}, which is "
                    "not another container of the task definition"
                )
            condition = dep["condition"]
            if condition in ("SUCCESS", "COMPLETE") and target.get("essential", True):
                raise _client(
                    f"Container {c['name']}: dependency condition {condition} cannot be set on "
                    f"essential container {target['name']}"
                )
            if condition == "HEALTHY" and not target.get("healthCheck"):
                raise _client(
                    f"Container {c['name']}: dependency condition HEALTHY needs a health check "
                    f"on container {target['name']}"
                )
            graph.setdefault(c["name"], []).append(target["name"])
    if _cycle(graph):
        raise _client("The container dependencies of the task definition form a cycle")


def check_task_definition(body: JSON) -> None:
    """Every rule of a ``RegisterTaskDefinition`` request (see the module docs)."""
    containers = body["containerDefinitions"]
    if not 1 <= len(containers) <= 10:
        raise _client("A task definition holds 1 to 10 containers")
    names = [c["name"] for c in containers]
    if len(set(names)) != len(names):
        raise _client("Container names must be unique within a task definition")
    if not any(c.get("essential", True) for c in containers):
        raise _client("A task definition must have at least one essential container")
    family = body["family"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", family):
        raise _client("Family: up to 255 letters, numbers, hyphens and underscores")
    for key in ("executionRoleArn", "taskRoleArn"):
        if body.get(key) and not _ROLE.fullmatch(body[key]):
            raise _client(f"{key} {body[key]!r} is not a valid IAM role ARN")
    mode = body.get("networkMode", "bridge")
    fargate = "FARGATE" in (body.get("requiresCompatibilities") or [])
    volumes = [v["name"] for v in body.get("volumes") or []]
    if len(set(volumes)) != len(volumes):
        raise _client("Volume names must be unique within a task definition")
    for c in containers:
        _container(c, awsvpc=mode == "awsvpc", fargate=fargate, volumes=volumes)
    _dependencies(containers)
    cpu_text, memory_text = body.get("cpu"), body.get("memory")
    task_cpu = size_units(cpu_text) if cpu_text else None
    task_memory = size_mib(memory_text) if memory_text else None
    if fargate:
        if mode != "awsvpc":
            raise _client("Fargate only supports network mode 'awsvpc'.")
        if task_cpu is None or task_memory is None:
            raise _client("Fargate requires that 'cpu' be defined at the task level.")
        if not fargate_allows(task_cpu, task_memory):
            raise _client(
                f"No Fargate configuration exists for given values: {task_cpu} CPU, "
                f"{task_memory} memory. See the Amazon ECS documentation for the valid values."
            )
        for v in body.get("volumes") or []:
            if (v.get("host") or {}).get("sourcePath") or v.get("dockerVolumeConfiguration"):
                raise _client(
                    f"Fargate does not support host paths or docker volumes ({v['name']})"
                )
        needs_role = [
            c["name"]
            for c in containers
            if (c.get("logConfiguration") or {}).get("logDriver") == "awslogs"
            or c.get("secrets")
            or c.get("repositoryCredentials")
        ]
        if needs_role and not body.get("executionRoleArn"):
            raise _client(
                "Fargate requires task definition to have execution role ARN to support log "
                "driver awslogs, secrets and private registry authentication"
            )
    if task_memory is None:
        for c in containers:
            if not c.get("memory") and not c.get("memoryReservation"):
                raise _client(
                    f"Invalid setting for container '{c['name']}'. At least one of 'memory' or "
                    "'memoryReservation' must be specified."
                )
    else:
        total = sum(c.get("memory") or c.get("memoryReservation") or 0 for c in containers)
        if total > task_memory:
            raise _client(
                f"The sum of the containers' memory ({total} MiB) exceeds the task memory "
                f"({task_memory} MiB)"
            )
    if task_cpu is not None:
        total_cpu = sum(c.get("cpu") or 0 for c in containers)
        if total_cpu > task_cpu:
            raise _client(
                f"The sum of the containers' cpu ({total_cpu}) exceeds the task cpu ({task_cpu})"
            )


def check_service(
    body: JSON,
    definition: JSON,
    *,
    subnets: Collection[str],
    security_groups: Collection[str],
    launch_type: str,
) -> None:
    """The rules of a ``CreateService``/``UpdateService`` against its task definition."""
    if body.get("launchType") and body.get("capacityProviderStrategy"):
        raise AwsError(
            "InvalidParameterException",
            "Specifying both a launch type and capacity provider strategy is not supported. "
            "Remove one and try again.",
        )
    compat = definition.get("requiresCompatibilities") or ["EC2"]
    if launch_type not in compat:
        raise AwsError(
            "InvalidParameterException",
            f"Task definition does not support launch_type {launch_type}.",
        )
    if definition.get("networkMode") == "awsvpc":
        vpc = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if not vpc:
            raise AwsError(
                "InvalidParameterException",
                "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            )
        if not 1 <= len(vpc["subnets"]) <= 16:
            raise AwsError("InvalidParameterException", "subnets can have at most 16 items.")
        unknown = [s for s in vpc["subnets"] if s not in subnets]
        if unknown:
            raise AwsError(
                "InvalidParameterException",
                f"Error retrieving subnet information for {unknown}: The subnet ID "
                f"'{unknown[0]}' does not exist",
            )
        if vpc.get("assignPublicIp") == "ENABLED" and launch_type != "FARGATE":
            raise AwsError(
                "InvalidParameterException",
                "Assign public IP is not supported for this launch type.",
            )
        groups = vpc.get("securityGroups") or []
        if len(groups) > 5:
            raise AwsError("InvalidParameterException", "securityGroups can have at most 5 items.")
        bad = [g for g in groups if g not in security_groups]
        if bad:
            raise AwsError(
                "InvalidParameterException",
                f"Error retrieving security group information for {bad}: The security group "
                f"'{bad[0]}' does not exist",
            )
    config = body.get("deploymentConfiguration") or {}
    maximum, minimum = config.get("maximumPercent"), config.get("minimumHealthyPercent")
    if maximum is not None and maximum < 100:
        raise AwsError("InvalidParameterException", "maximumPercent must be at least 100.")
    if minimum is not None and not 0 <= minimum <= 100:
        raise AwsError(
            "InvalidParameterException", "minimumHealthyPercent must be between 0 and 100."
        )
