"""``FlyConfig``: every setting of the Fly.io backend, documented and env-overridable.

Each field can be set from the environment as ``CTRLPLANE_FLY_<FIELD>`` (upper case),
e.g. ``CTRLPLANE_FLY_ORG_SLUG=acme``; flyctl's ``FLY_API_TOKEN`` is honoured for the
token (``CTRLPLANE_FLY_TOKEN`` wins over it; explicit arguments win over both). The token
is a :class:`~pydantic.SecretStr`: it never appears in ``repr``, and the CLI redacts it.
``regions`` is comma-separated in the environment. Every field carries its
``description``, so the model describes itself (``FlyConfig.model_json_schema()``).
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, SecretStr, field_validator

from ctrlplane.provider._config import BackendConfig, CommaList, Seconds

__all__ = ["BACKEND", "ENV_PREFIX", "FLY_ENV", "FlyConfig"]

BACKEND = "fly"
"""The provider's name: ``info().name``, and the backend that errors name."""

ENV_PREFIX = "CTRLPLANE_FLY_"
"""Environment variables ``CTRLPLANE_FLY_<FIELD>`` override the defaults."""

FLY_ENV = {"token": "FLY_API_TOKEN"}
"""flyctl's environment variables, read when no ``CTRLPLANE_FLY_*`` one is set."""

_APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class FlyConfig(BackendConfig):
    """Settings of :class:`~ctrlplane.provider.fly.FlyProvider`."""

    env_prefix = ENV_PREFIX
    env_subject = "Fly config"
    env_native = FLY_ENV

    api_url: str = Field(
        default="https://api.machines.dev",
        description=(
            "Base address of the Machines API (``/v1`` is appended): the public endpoint, or "
            "``http://_api.internal:4280`` over a WireGuard peer."
        ),
    )
    graphql_url: str = Field(
        default="https://api.fly.io/graphql",
        description=(
            "Fly's GraphQL endpoint, used only to write and remove the app secrets that carry "
            "secret values (the Machines API has no secrets endpoint)."
        ),
    )
    token: SecretStr | None = Field(
        default=None,
        description=(
            "Fly API token, sent as ``Authorization: Bearer`` (``$FLY_API_TOKEN``; ``fly auth "
            "token`` prints one). A secret: never printed."
        ),
    )
    org_slug: str = Field(
        default="personal",
        min_length=1,
        description="Organization new apps are created in (and listed from).",
    )
    regions: CommaList = Field(
        default_factory=lambda: ["ams"],
        min_length=1,
        description=(
            "Regions Machines are placed in (comma-separated in the environment): replica N "
            "goes to ``regions[N % len(regions)]``, and its volumes with it."
        ),
    )
    app: str = Field(
        default="",
        description=(
            "An existing app to run the instance in, instead of one new app per instance. It "
            "holds one instance: provisioning a second one there is refused, and "
            "deprovision keeps the app (removing only what ctrlplane created)."
        ),
    )
    app_prefix: str = Field(
        default="ctrlplane-",
        description=(
            "New apps are named ``<app_prefix><instance ID suffix>`` (lowercase, app names are "
            "global on Fly); ``list_instances`` lists the organization's apps with this prefix."
        ),
    )
    public_domain: str = Field(
        default="fly.dev",
        description="Public endpoints are ``<app>.<public_domain>:<port>`` (the Fly Proxy).",
    )
    control_image: str = Field(
        default="docker.io/library/busybox:1.36",
        description=(
            "Image of each instance's control Machine, which is never started: it holds the "
            "spec and release history (its metadata and versions) and the operation lease."
        ),
    )
    cpu_kind: str = Field(
        default="shared",
        pattern="^(shared|performance)$",
        description="``guest.cpu_kind`` of every Machine: ``shared`` or ``performance``.",
    )
    default_memory_mb: int = Field(
        default=256,
        ge=256,
        description="``guest.memory_mb`` of a service that sets no ``memory_mb`` (min 256).",
    )
    volume_size_gb: int = Field(
        default=1,
        ge=1,
        description="Size of a volume whose ``size_mb`` is 0 (Fly volumes are at least 1 GB).",
    )
    restart_max_retries: int = Field(
        default=3,
        ge=0,
        description=(
            "Long-lived Machines restart ``on-failure`` this many times before they stay "
            "stopped (failed); inits never restart."
        ),
    )
    release_history: int = Field(
        default=10, ge=1, description="Releases listed (and restorable) per instance."
    )
    check_interval: Seconds = Field(
        default=timedelta(seconds=10),
        description="Interval of a health check that sets none.",
    )
    check_timeout: Seconds = Field(
        default=timedelta(seconds=2), description="Timeout of a health check that sets none."
    )
    check_retries: int = Field(
        default=3,
        ge=1,
        description="Consecutive failed check results that fail a gate, when a check sets none.",
    )
    check_grace_period: Seconds = Field(
        default=timedelta(0),
        description="``grace_period`` of every Machine check: the time after start before checks.",
    )
    start_settle: Seconds = Field(
        default=timedelta(seconds=2),
        description=(
            "After a Machine without a health check reaches ``started``, how long it must keep "
            "running before it counts as started (a crash meanwhile fails the step)."
        ),
    )
    canary_observation: Seconds = Field(
        default=timedelta(seconds=10),
        description="``canary`` deploys: how long the updated Machine is watched before the rest.",
    )
    provision_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of ``provision``: creation until every Machine runs and passes.",
    )
    deploy_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Progress deadline of ``deploy``/``rollback``/``scale``/``start``/``restart``.",
    )
    init_timeout: Seconds = Field(
        default=timedelta(minutes=10), description="Deadline of one init Machine's run."
    )
    stop_timeout: Seconds = Field(
        default=timedelta(seconds=10),
        description="Grace period between the stop signal and SIGKILL (``stop_config.timeout``).",
    )
    exec_timeout: Seconds = Field(
        default=timedelta(minutes=1),
        description="Timeout of one ``exec`` (sent as the request's ``timeout``).",
    )
    poll_interval: Seconds = Field(
        default=timedelta(milliseconds=500), description="How often waits read a Machine again."
    )
    connect_timeout: Seconds = Field(
        default=timedelta(seconds=10), description="Timeout of opening a connection to the API."
    )
    request_timeout: Seconds = Field(
        default=timedelta(seconds=70),
        description=(
            "Timeout of one HTTP request (a ``/wait`` asks the API to answer well within it)."
        ),
    )
    lease_ttl: Seconds = Field(
        default=timedelta(seconds=30),
        description="The operation lease's duration (renewed every third of it while working).",
    )
    lease_retention: Seconds = Field(
        default=timedelta(minutes=10),
        description=(
            "How long the Machine lease outlives an operation lease whose holder died, so the "
            "next operation sees the interrupted operation and repairs it."
        ),
    )
    lock_wait: Seconds = Field(
        default=timedelta(seconds=30),
        description="How long a mutating call waits for another operation on the instance.",
    )

    @field_validator("app")
    @classmethod
    def _app_name(cls, value: str) -> str:
        if value and not _APP_NAME.match(value):
            raise ValueError("an app name is 3-63 lowercase letters, digits and dashes")
        return value

    @field_validator("app_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", value):
            raise ValueError("the prefix is up to 31 lowercase letters, digits and dashes")
        return value

    @field_validator("api_url", "graphql_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            value = "https://" + value
        return value.rstrip("/")

    def token_value(self) -> str:
        """The API token, or ``""``."""
        return self.token.get_secret_value() if self.token is not None else ""
