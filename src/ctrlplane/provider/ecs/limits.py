"""What the ECS backend can do, and what it cannot do for a given request, with reasons
(pure: every function returns :class:`~ctrlplane.provider.preflight.Refusal` values and
raises nothing; the provider's :class:`~ctrlplane.provider.preflight.Preflight` raises
them before anything is sent).

- :data:`CAPABILITIES`: the capability table (what works and is tested);
- :data:`EXEC_REFUSAL`: why ``exec`` is not declared;
- :class:`EcsLimits`: the spec-dependent refusals of every request
  (:func:`spec_refusals`): stateful sets, ports ``awsvpc`` cannot map, probes without a
  port, a task size Fargate does not offer, labels ECS cannot take as tags, missing
  subnets or execution role, a task definition over ECS's 64 KiB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.ecs.config import BACKEND, EcsConfig, LaunchType
from ctrlplane.provider.ecs.render.preview import placeholder_definition
from ctrlplane.provider.ecs.render.sizes import TaskSize, task_size
from ctrlplane.provider.enums import PortProtocol, SecretType, WorkloadKind
from ctrlplane.provider.preflight import Preflight, Refusal
from ctrlplane.provider.spec import DeployRequest, ProvisionRequest, ResourceSpec

__all__ = [
    "CAPABILITIES",
    "EXEC_REFUSAL",
    "EcsLimits",
    "declared",
    "preflight",
    "spec_refusals",
]

CAPABILITIES = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.CANARY,
    Capability.BLUE_GREEN,
    Capability.SCALE,
    Capability.LOGS,
)
"""What the backend declares: only what works and is tested (``docs/ecs.md``)."""

EXEC_REFUSAL = (
    "ECS Exec runs a command through an interactive SSM Session Manager session in a "
    "pseudo-terminal: stdout and stderr arrive merged, stdin is echoed and the command's "
    "exit code is never reported, so the exec contract (separate output streams and the "
    "exit code) cannot be kept"
)
"""Why the backend does not declare ``exec``."""

MAX_DEFINITION_BYTES = 65_536
_TAG = re.compile(r"^[\w .:/=+\-@]*$")


class EcsLimits:
    """The :class:`~ctrlplane.provider.preflight.Limits` of one configuration; without
    ``settings`` the configuration's own gaps (no subnets, no execution role) are not
    refused (what ``render`` uses: it shows the requests before the setup is done)."""

    def __init__(self, cfg: EcsConfig, *, settings: bool = True) -> None:
        self.cfg = cfg
        self.settings = settings

    def provision(self, req: ProvisionRequest) -> list[Refusal]:
        return spec_refusals(req, self.cfg, settings=self.settings)

    def deploy(self, req: DeployRequest) -> list[Refusal]:
        """Nothing before the live instance is read: the merged spec gets
        :func:`spec_refusals`."""
        return []

    def scale(self, spec: ResourceSpec) -> list[Refusal]:
        """Nothing before the live instance is read: the scaled spec gets
        :func:`spec_refusals`."""
        return []


def declared(cfg: EcsConfig) -> tuple[Capability, ...]:
    """What a provider with ``cfg`` declares: :data:`CAPABILITIES`, without blue-green when
    a target group is configured (one target group serves every task registered in it:
    a new set cannot wait beside the old one without taking traffic)."""
    if cfg.target_group_arn:
        return tuple(c for c in CAPABILITIES if c is not Capability.BLUE_GREEN)
    return CAPABILITIES


def preflight(
    cfg: EcsConfig, capabilities: Iterable[Capability] | None = None, *, settings: bool = True
) -> Preflight:
    """The preflight of a provider with ``cfg``, narrowed to ``capabilities`` if given
    (``settings``: see :class:`EcsLimits`)."""
    return Preflight(
        BACKEND, declared(cfg), limits=EcsLimits(cfg, settings=settings), narrowed_to=capabilities
    )


def _config_refusals(cfg: EcsConfig) -> list[Refusal]:
    out = []
    if not cfg.subnets:
        out.append(
            Refusal(
                Capability.PROVISION,
                "set the tasks' subnets (CTRLPLANE_ECS_SUBNETS): awsvpc tasks need at least one",
                "subnets (ECS config)",
            )
        )
    if len(cfg.security_groups) > 5:
        out.append(
            Refusal(
                Capability.PROVISION, "at most 5 security groups", "security_groups (ECS config)"
            )
        )
    fargate = cfg.launch_type is LaunchType.FARGATE or bool(cfg.capacity_provider)
    if not fargate and cfg.assign_public_ip:
        out.append(
            Refusal(
                Capability.PROVISION,
                "ECS assigns public IPs to Fargate tasks only; unset assign_public_ip",
                "assign_public_ip (ECS config)",
            )
        )
    if fargate and not cfg.execution_role_arn:
        out.append(
            Refusal(
                Capability.PROVISION,
                "set execution_role_arn (CTRLPLANE_ECS_EXECUTION_ROLE_ARN): Fargate tasks need "
                "an execution role for the awslogs driver and for secrets",
                "execution_role_arn (ECS config)",
            )
        )
    return out


def _tag_refusals(req: ProvisionRequest) -> list[Refusal]:
    out = []
    for key, value in req.labels.items():
        path = f"labels.{key}"
        if key.lower().startswith("aws:"):
            out.append(
                Refusal(Capability.PROVISION, "tag keys beginning with aws: are reserved", path)
            )
        elif len(key) > 128 or len(value) > 256 or not _TAG.match(key) or not _TAG.match(value):
            out.append(
                Refusal(
                    Capability.PROVISION,
                    "ECS tags take keys up to 128 and values up to 256 characters of letters, "
                    "digits, spaces and _ . : / = + - @",
                    path,
                )
            )
    if len(req.labels) > 40:
        out.append(
            Refusal(
                Capability.PROVISION,
                "at most 40 labels (ECS allows 50 tags; ctrlplane uses 10)",
                "labels",
            )
        )
    return out


def spec_refusals(req: ProvisionRequest, cfg: EcsConfig, *, settings: bool = True) -> list[Refusal]:
    """Everything the backend cannot do for ``req`` (see the module docs); with
    ``settings`` also the configuration's gaps."""
    out = (_config_refusals(cfg) if settings else []) + _tag_refusals(req)
    if req.kind is WorkloadKind.STATEFUL_SET:
        out.append(
            Refusal(
                Capability.PROVISION,
                "ECS services give their tasks no stable identity or per-replica volumes; "
                "use kind 'deployment'",
            )
        )
    if cfg.target_group_arn:
        main = req.main
        index = req.services.index(main)
        ports = [p.container for p in main.ports]
        if not ports or (cfg.load_balancer_port and cfg.load_balancer_port not in ports):
            wanted = f"port {cfg.load_balancer_port}" if cfg.load_balancer_port else "a port"
            out.append(
                Refusal(
                    Capability.PROVISION,
                    f"the target group reaches the main service at {wanted}: map it in ports",
                    f"services[{index}].ports",
                )
            )
    owners: dict[int, str] = {}
    for i, svc in enumerate(req.services):
        path = f"services[{i}]"
        for j, port in enumerate(svc.ports):
            where = f"{path}.ports[{j}]"
            if port.protocol is PortProtocol.SCTP:
                out.append(
                    Refusal(
                        Capability.PROVISION,
                        "ECS port mappings are tcp or udp",
                        f"{where}.protocol",
                    )
                )
            if port.host not in (0, port.container):
                out.append(
                    Refusal(
                        Capability.PROVISION,
                        "an awsvpc task serves each port on its own address at the container "
                        "port: leave host at 0 or equal to the container port",
                        f"{where}.host",
                    )
                )
            if port.container in owners and owners[port.container] != svc.name:
                out.append(
                    Refusal(
                        Capability.PROVISION,
                        f"port {port.container} is also {owners[port.container]!r}'s: the services "
                        "of a task share one network interface",
                        f"{where}.container",
                    )
                )
            owners.setdefault(port.container, svc.name)
        registry = [ref for ref in svc.secrets if ref.type is SecretType.REGISTRY]
        if len(registry) > 1:
            out.append(
                Refusal(
                    Capability.PROVISION,
                    "ECS takes one registry login per container",
                    f"{path}.secrets",
                )
            )
        for j, cf in enumerate(svc.config_files):
            if cf.path.rsplit("/", 1)[0] in ("", "/"):
                out.append(
                    Refusal(
                        Capability.PROVISION,
                        "a config file must be in a directory below / (its directory becomes a "
                        "volume)",
                        f"{path}.config_files[{j}].path",
                    )
                )
    size = task_size(req.services, cfg)
    if size.problem:
        where = "services[*].resources"
        if cfg.task_cpu or cfg.task_memory:
            where = "task_cpu/task_memory (ECS config)"
        out.append(Refusal(Capability.PROVISION, size.problem, where))
    elif not out:
        out += _size_refusals(req, cfg, size)
    return out


def _size_refusals(req: ProvisionRequest, cfg: EcsConfig, size: TaskSize) -> list[Refusal]:
    body = placeholder_definition(req, cfg, cfg.region or "us-east-1", size)
    length = len(json.dumps(body, separators=(",", ":")).encode())
    if length > MAX_DEFINITION_BYTES - 2048:
        return [
            Refusal(
                Capability.PROVISION,
                f"the task definition would take {length} bytes; ECS takes at most "
                f"{MAX_DEFINITION_BYTES} (config file contents count: keep them small)",
                "services",
            )
        ]
    return []
