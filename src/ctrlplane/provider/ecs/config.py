"""``EcsConfig``: every setting of the ECS backend, documented and env-overridable.

Each field can be set from the environment as ``CTRLPLANE_ECS_<FIELD>`` (upper case),
e.g. ``CTRLPLANE_ECS_CLUSTER=prod``; lists are comma-separated
(``CTRLPLANE_ECS_SUBNETS=subnet-1,subnet-2``). AWS's own variables are honoured where
they mean the same thing: ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``), ``AWS_PROFILE`` and
``AWS_ENDPOINT_URL`` (a ``CTRLPLANE_ECS_*`` variable wins over them; explicit arguments
win over both). Credentials are never settings: they come from the standard AWS chain
(environment, shared credentials and config files, SSO, container and instance roles).
Every field carries its ``description``, so the model describes itself
(``EcsConfig.model_json_schema()``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field

from ctrlplane.provider._config import BackendConfig, CommaList, Seconds

__all__ = [
    "AWS_ENV",
    "BACKEND",
    "ENV_PREFIX",
    "CpuArchitecture",
    "EcsConfig",
    "LaunchType",
    "SecretStore",
]

BACKEND = "ecs"
"""The provider's name: ``info().name``, and the backend that errors name."""

ENV_PREFIX = "CTRLPLANE_ECS_"
"""Environment variables ``CTRLPLANE_ECS_<FIELD>`` override the defaults."""

AWS_ENV = {"region": "AWS_REGION", "profile": "AWS_PROFILE", "endpoint_url": "AWS_ENDPOINT_URL"}
"""AWS's own environment variables, read when no ``CTRLPLANE_ECS_*`` one is set
(``AWS_DEFAULT_REGION`` is read when ``AWS_REGION`` is not set)."""


class LaunchType(StrEnum):
    """Where tasks run: AWS Fargate (no servers to manage) or the cluster's EC2 instances."""

    FARGATE = "FARGATE"
    EC2 = "EC2"


class CpuArchitecture(StrEnum):
    """The CPU architecture of Fargate tasks (images must be built for it)."""

    X86_64 = "X86_64"
    ARM64 = "ARM64"


class SecretStore(StrEnum):
    """Where the provider writes resolved secret values for tasks to read: AWS Secrets
    Manager or SSM Parameter Store (``SecureString`` parameters)."""

    SECRETS_MANAGER = "secretsmanager"
    SSM = "ssm"


def _argv(value: object) -> object:
    if isinstance(value, str):
        return value.split()
    return value


class EcsConfig(BackendConfig):
    """Settings of :class:`~ctrlplane.provider.ecs.EcsProvider`."""

    env_prefix = ENV_PREFIX
    env_subject = "ECS config"
    env_native = AWS_ENV

    region: str = Field(
        default="",
        description=(
            "AWS region of the cluster (``$AWS_REGION``/``$AWS_DEFAULT_REGION``); empty: the "
            "region of the AWS profile in use."
        ),
    )
    profile: str = Field(
        default="",
        description="Named profile of the shared AWS config files (``$AWS_PROFILE``); empty: "
        "the default chain.",
    )
    endpoint_url: str = Field(
        default="",
        description=(
            "One endpoint for every AWS API the backend calls (ECS, CloudWatch Logs, DynamoDB, "
            "Secrets Manager, SSM, tagging), e.g. a local emulator (``$AWS_ENDPOINT_URL``); "
            "empty: AWS's own endpoints."
        ),
    )
    cluster: str = Field(default="default", description="Name (or ARN) of the ECS cluster.")
    subnets: CommaList = Field(
        default_factory=list,
        description="Subnet IDs of the tasks' network interfaces (``awsvpc``); at least one.",
    )
    security_groups: CommaList = Field(
        default_factory=list,
        description="Security group IDs of the tasks' network interfaces (at most 5).",
    )
    assign_public_ip: bool = Field(
        default=False,
        description="Give each task a public IP (for subnets without a NAT gateway).",
    )
    launch_type: LaunchType = Field(
        default=LaunchType.FARGATE,
        description="``FARGATE`` (default) or ``EC2`` (the cluster's container instances).",
    )
    capacity_provider: str = Field(
        default="",
        description=(
            "A capacity provider (e.g. ``FARGATE_SPOT``) used instead of the launch type; "
            "empty: the launch type."
        ),
    )
    platform_version: str = Field(
        default="LATEST", description="Fargate platform version of the services' tasks."
    )
    cpu_architecture: CpuArchitecture = Field(
        default=CpuArchitecture.X86_64,
        description="CPU architecture of the tasks (``X86_64`` or ``ARM64``).",
    )
    execution_role_arn: str = Field(
        default="",
        description=(
            "IAM role the ECS agent uses to pull images, write logs and read the instance's "
            "secrets (required on Fargate: the awslogs driver needs it)."
        ),
    )
    task_role_arn: str = Field(
        default="", description="IAM role the containers' own AWS calls use; empty: none."
    )
    task_cpu: int = Field(
        default=0,
        ge=0,
        description=(
            "Task CPU units (1024 = 1 vCPU); 0: the smallest Fargate size that holds the "
            "services' ``cpu_millis``."
        ),
    )
    task_memory: int = Field(
        default=0,
        ge=0,
        description=(
            "Task memory in MiB; 0: the smallest Fargate size that holds the services' "
            "``memory_mb``."
        ),
    )
    log_group: str = Field(
        default="/ctrlplane/ecs",
        description=(
            "CloudWatch Logs group of every container's ``awslogs`` stream "
            "(``<instance>/<service>/<task>``)."
        ),
    )
    create_log_group: bool = Field(
        default=True,
        description="Create ``log_group`` when a provision finds it missing (needs "
        "``logs:CreateLogGroup``).",
    )
    name_prefix: str = Field(
        default="ctrlplane-",
        pattern=r"^[A-Za-z0-9_-]{0,40}$",
        description="Prefix of the services and task definition families (``<prefix><instance>``).",
    )
    secret_store: SecretStore = Field(
        default=SecretStore.SECRETS_MANAGER,
        description=(
            "Where resolved secret values are written for the tasks: ``secretsmanager`` or "
            "``ssm`` (registry credentials always go to Secrets Manager, the only store ECS "
            "reads them from)."
        ),
    )
    secret_prefix: str = Field(
        default="ctrlplane",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description=(
            "First path element of the stored secrets: ``<prefix>/<instance>/<service>/<key>`` "
            "in Secrets Manager, ``/<prefix>/<instance>/<service>/<key>`` in SSM."
        ),
    )
    secrets_kms_key_id: str = Field(
        default="",
        description="KMS key of the stored secrets; empty: the store's AWS-managed key.",
    )
    files_image: str = Field(
        default="public.ecr.aws/docker/library/busybox:1.36",
        description=(
            "Image of the init container that writes config files and file secrets to the "
            "task volumes the services mount (it needs ``sh``, ``mkdir`` and ``printf``)."
        ),
    )
    http_check_command: Annotated[list[str], BeforeValidator(_argv)] = Field(
        default_factory=lambda: [
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "-T",
            "{timeout}",
            "http://127.0.0.1:{port}{path}",
        ],
        description=(
            "The container health check command of an http health check, run in the service's "
            "container (the image must have the program); ``{port}``, ``{path}`` and "
            "``{timeout}`` are filled in."
        ),
    )
    tcp_check_command: Annotated[list[str], BeforeValidator(_argv)] = Field(
        default_factory=lambda: ["nc", "-z", "-w", "{timeout}", "127.0.0.1", "{port}"],
        description="The container health check command of a tcp health check (as above).",
    )
    target_group_arn: str = Field(
        default="",
        description=(
            "An Elastic Load Balancing target group (target type ``ip``) the main service's "
            "tasks are registered in: deploys then also wait for its target health, and the "
            "load balancer's listeners are the instance's endpoints. Blue-green is not "
            "declared with one (a target group serves every task registered in it)."
        ),
    )
    load_balancer_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="The main service's port the target group reaches; 0: its first port.",
    )
    health_check_grace_period: Seconds = Field(
        default=timedelta(0),
        description=(
            "With a target group: how long ECS ignores failed target health checks of a new "
            "task (``healthCheckGracePeriodSeconds``)."
        ),
    )
    health_start_period: Seconds = Field(
        default=timedelta(0),
        description="Grace period (0-300 s) in which failed health checks of a new container "
        "do not count.",
    )
    stop_timeout: Seconds = Field(
        default=timedelta(seconds=30),
        description="Time between SIGTERM and SIGKILL when a container stops (at most 120 s).",
    )
    release_history: int = Field(
        default=10,
        ge=1,
        description="Releases retained per instance (task definition revisions kept).",
    )
    canary_count: int = Field(
        default=1, ge=1, description="``canary`` deploys: tasks that get the new version first."
    )
    canary_observation: Seconds = Field(
        default=timedelta(seconds=30),
        description="``canary`` deploys: how long the healthy canaries are watched.",
    )
    retire_delay: Seconds = Field(
        default=timedelta(0),
        description="``blue-green`` deploys: how long the old service keeps running after the "
        "switch.",
    )
    provision_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of ``provision``: from the first call until every task runs.",
    )
    deploy_timeout: Seconds = Field(
        default=timedelta(minutes=15),
        description="Deadline of ``deploy``/``rollback``/``scale``/``start``/``restart`` waits.",
    )
    poll_interval: Seconds = Field(
        default=timedelta(seconds=2),
        description="How often waits and followed logs poll AWS.",
    )
    connect_timeout: Seconds = Field(
        default=timedelta(seconds=10), description="Timeout of opening a connection to AWS."
    )
    request_timeout: Seconds = Field(
        default=timedelta(seconds=30), description="Timeout of reading one AWS answer."
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Attempts per AWS call (retries of throttled, failed or unanswered calls).",
    )
    lease_table: str = Field(
        default="ctrlplane-leases",
        description=(
            "DynamoDB table of the operation leases (partition key ``instance_id``, a string); "
            "create it once (see docs/ecs.md)."
        ),
    )
    lease_ttl: Seconds = Field(
        default=timedelta(seconds=30),
        description="Operation lease duration (renewed every third of it while an operation "
        "works).",
    )
    lock_wait: Seconds = Field(
        default=timedelta(seconds=30),
        description="How long a mutating call waits for another operation on the same "
        "instance before ``InstanceBusy``.",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """As :meth:`BackendConfig.from_env`, where ``AWS_DEFAULT_REGION`` stands in for an
        unset or empty ``AWS_REGION``.
        """
        env = dict(os.environ if environ is None else environ)
        if not env.get("AWS_REGION") and env.get("AWS_DEFAULT_REGION"):
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"]
        return super().from_env(env, **overrides)
