"""Request-side types: what a caller asks a provider to create, change or run.

Field names and JSON shapes equal the Go package's (``provider`` v1.5.1). Fields marked
"beyond Go" are optional additions that are left out of JSON when unset.

Zero values keep their Go meaning: a ``ResourceSpec`` field of 0 is "unset" (no limit;
``replicas`` 0 means one replica at provision time and "unchanged" in ``scale``).
Structural problems (wrong types, unknown fields, unknown enum values) raise
:class:`~ctrlplane.errors.InvalidSpec` on construction; the semantic rules (names,
cycles, ports, ...) are checked by :func:`ctrlplane.provider.validate_request`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, ClassVar, Protocol, TypeVar

from pydantic import BeforeValidator, Field, field_validator

from ctrlplane.provider._wire import Duration, SpecModel, Timestamp
from ctrlplane.provider.enums import (
    ConfigFormat,
    DeployStrategy,
    PortProtocol,
    SecretType,
    ServiceRole,
    VolumeType,
    WorkloadKind,
)

__all__ = [
    "ConfigFile",
    "DeployRequest",
    "ExecRequest",
    "HealthCheckSpec",
    "LogOptions",
    "PortSpec",
    "ProvisionRequest",
    "ResourceSpec",
    "SecretRef",
    "ServiceDeploySpec",
    "ServiceSnapshot",
    "ServiceSpec",
    "VolumeSpec",
    "find_named",
]


_E = TypeVar("_E", bound=StrEnum)


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def find_named(items: Iterable[_N], name: str) -> _N:
    """The first of ``items`` called ``name`` (a service of a request or a release);
    ``KeyError(name)`` if there is none."""
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


def _enum_or_default(enum: type[_E], default: _E) -> Callable[[object], object]:
    """Before-validator: Go's empty string means ``default``; matching is case-insensitive."""

    def convert(value: object) -> object:
        if value is None or value == "":
            return default
        if isinstance(value, str) and not isinstance(value, enum):
            return value.strip().lower()
        return value

    return convert


def _str_map(value: object) -> object:
    """Maps of strings written by people: numbers and booleans become their text."""
    if not isinstance(value, dict):
        return value
    out: dict[object, object] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[key] = str(item)
        else:
            out[key] = item
    return out


StrMap = Annotated[dict[str, str], BeforeValidator(_str_map)]


def _argv(value: object) -> object:
    if isinstance(value, str):
        raise ValueError(
            "must be a list of arguments, not a shell string; "
            "to use a shell, pass ['sh', '-c', '...']"
        )
    return value


Argv = Annotated[list[str], BeforeValidator(_argv)]


class ResourceSpec(SpecModel):
    """Desired resources of a service (and, through the main service, the replica count).

    Every field is optional in effect: 0 means "unset" (no limit), exactly as Go's zero
    values. In ``scale`` a 0 leaves that setting unchanged.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"disk_mb", "gpu"})

    cpu_millis: int = 0
    memory_mb: int = 0
    disk_mb: int = 0
    replicas: int = 0
    gpu: str = ""


class PortSpec(SpecModel):
    """A container port, optionally published on a host port (0: engine chooses)."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"host"})

    container: int
    host: int = 0
    protocol: Annotated[
        PortProtocol, BeforeValidator(_enum_or_default(PortProtocol, PortProtocol.TCP))
    ] = PortProtocol.TCP


class VolumeSpec(SpecModel):
    """A volume mounted at ``mount_path``; ``size_mb`` 0 means no size limit."""

    name: str
    mount_path: str
    size_mb: int = 0
    type: Annotated[
        VolumeType, BeforeValidator(_enum_or_default(VolumeType, VolumeType.PERSISTENT))
    ] = VolumeType.PERSISTENT


class HealthCheckSpec(SpecModel):
    """How to tell that a service is healthy.

    - HTTP probe: ``path`` (and ``port``): healthy on a 2xx or 3xx answer.
    - TCP probe: ``port`` only: healthy when a connection opens.
    - Exec probe: ``command`` (beyond Go), run inside the service: healthy on exit 0.

    ``interval``/``timeout`` of zero mean the provider's defaults; ``retries`` is the
    number of consecutive failures that make the service unhealthy (0: the default).
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"path", "command"})

    path: str = ""
    port: int = 0
    interval: Duration = timedelta(0)
    timeout: Duration = timedelta(0)
    retries: int = 0
    command: Argv = Field(default_factory=list)
    """Beyond Go: an exec probe's argv."""


class SecretRef(SpecModel):
    """A reference to a secret resolved at provision/deploy time; never the value.

    ``target`` (beyond Go) says where it goes: the environment variable name for ``env``
    secrets (default: the key upper-cased, other characters as ``_``), the absolute file
    path for ``file``/``tls`` secrets (default ``/run/secrets/<key>``); unused for
    ``registry`` secrets, which authenticate image pulls.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"target"})

    key: str
    type: Annotated[SecretType, BeforeValidator(_enum_or_default(SecretType, SecretType.ENV))] = (
        SecretType.ENV
    )
    target: str = ""


class ConfigFile(SpecModel):
    """A configuration file mounted into a service at ``path`` with literal ``content``."""

    name: str
    path: str
    format: Annotated[
        ConfigFormat, BeforeValidator(_enum_or_default(ConfigFormat, ConfigFormat.TEXT))
    ] = ConfigFormat.TEXT
    content: str = ""


class ServiceSpec(SpecModel):
    """One service of a workload: one container (Docker, Kubernetes) or task (Nomad).

    ``name`` must be DNS-safe and unique in the workload: it is the service's network
    alias. ``role`` defaults to main. ``depends_on`` names siblings that must be running
    (and healthy, where they have a health check) before this one starts.
    ``command``/``args`` override the image's entrypoint and cmd.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset(
        {
            "depends_on",
            "env",
            "ports",
            "volumes",
            "health_check",
            "secrets",
            "config_files",
            "annotations",
            "command",
            "args",
        }
    )
    __omitdefault__: ClassVar[frozenset[str]] = frozenset({"role"})

    name: str
    image: str
    role: Annotated[
        ServiceRole, BeforeValidator(_enum_or_default(ServiceRole, ServiceRole.MAIN))
    ] = ServiceRole.MAIN
    depends_on: list[str] = Field(default_factory=list)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    env: StrMap = Field(default_factory=dict)
    ports: list[PortSpec] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    health_check: HealthCheckSpec | None = None
    secrets: list[SecretRef] = Field(default_factory=list)
    config_files: list[ConfigFile] = Field(default_factory=list)
    annotations: StrMap = Field(default_factory=dict)
    command: Argv = Field(default_factory=list)
    args: Argv = Field(default_factory=list)


class ProvisionRequest(SpecModel):
    """What to create for one instance: one co-scheduling unit holding every service.

    ``labels`` apply to every object the provider creates; the provider's own labels
    (instance, tenant, ...) win over a request label of the same name.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"labels"})

    instance_id: str
    tenant_id: str = ""
    name: str = ""
    kind: Annotated[
        WorkloadKind, BeforeValidator(_enum_or_default(WorkloadKind, WorkloadKind.DEPLOYMENT))
    ] = WorkloadKind.DEPLOYMENT
    services: list[ServiceSpec] = Field(default_factory=list)
    labels: StrMap = Field(default_factory=dict)

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name``; ``KeyError`` if there is none."""
        return find_named(self.services, name)

    @property
    def main(self) -> ServiceSpec:
        """The main service (the request must be valid)."""
        return next(s for s in self.services if s.role is ServiceRole.MAIN)


class ServiceDeploySpec(SpecModel):
    """The new version of one service in a deploy; unlisted services keep theirs."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"env", "health_check"})

    name: str
    image: str
    env: StrMap = Field(default_factory=dict)
    health_check: HealthCheckSpec | None = None


class DeployRequest(SpecModel):
    """A rollout of new service versions. An empty ``release_id`` lets the provider mint one."""

    instance_id: str
    release_id: str = ""
    services: list[ServiceDeploySpec] = Field(default_factory=list)
    strategy: Annotated[
        DeployStrategy,
        BeforeValidator(_enum_or_default(DeployStrategy, DeployStrategy.ROLLING)),
    ] = DeployStrategy.ROLLING


class ServiceSnapshot(SpecModel):
    """One service's slice of a release; releases are always complete snapshots."""

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"env"})

    name: str
    image: str
    env: StrMap = Field(default_factory=dict)


class LogOptions(SpecModel):
    """Which logs to read. An empty ``service_name`` means the main service.

    ``replica`` (beyond Go) picks one replica unit; ``None`` merges all of them.
    ``tail`` 0 means all retained lines; ``since`` ``None`` means from the start.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset(
        {"service_name", "since", "tail", "replica"}
    )

    service_name: str = ""
    follow: bool = False
    since: Timestamp | None = None
    tail: int = 0
    replica: int | None = None

    @field_validator("replica", mode="after")
    @classmethod
    def _replica_non_negative(cls, value: int | None) -> int | None:
        if value is not None and value < 0:
            raise ValueError("must be >= 0")
        return value


class ExecRequest(SpecModel):
    """A command to run inside a service (by default the main service of replica 0).

    ``command`` is an argv list, never a shell string. ``stdin`` bytes are written to the
    process and then closed; they are never serialised (Go: ``json:"-"``).
    ``service`` and ``replica`` are beyond Go.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"service", "replica"})

    command: Argv
    stdin: bytes | None = Field(default=None, exclude=True, repr=False)
    tty: bool = False
    service: str = ""
    replica: int | None = None

    @field_validator("command", mode="after")
    @classmethod
    def _command_not_empty(cls, value: list[str]) -> list[str]:
        if not value or not value[0]:
            raise ValueError("must name a program to run (a non-empty list)")
        return value
