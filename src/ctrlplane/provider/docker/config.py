"""``DockerConfig``: every setting of the Docker backend, self-describing and env-overridable.

Each field carries its description (shown by ``DockerConfig.model_json_schema()``) and
can be set from the environment as ``CTRLPLANE_DOCKER_<FIELD>`` (upper case), e.g.
``CTRLPLANE_DOCKER_STOP_TIMEOUT=5s``. Explicit constructor arguments win over the
environment; :meth:`DockerConfig.from_env` reads it (``DockerProvider()`` uses it when
no config is passed). Durations accept Go strings (``"1m30s"``) or plain seconds.
Registry credentials (``registry_auth``) are JSON in the environment and never appear in
``repr``.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
)

from ctrlplane.provider._config import BackendConfig, Seconds

__all__ = [
    "BACKEND",
    "ENV_PREFIX",
    "DockerConfig",
    "PullPolicy",
    "RegistryCredentials",
    "RestartPolicy",
]

BACKEND = "docker"
"""The backend's name: ``info().name``, and the ``backend`` of its errors."""

ENV_PREFIX = "CTRLPLANE_DOCKER_"
"""Environment variables ``CTRLPLANE_DOCKER_<FIELD>`` override the defaults."""


class PullPolicy(StrEnum):
    """When images are pulled before containers are created."""

    IF_NOT_PRESENT = "if-not-present"
    ALWAYS = "always"
    NEVER = "never"


class RestartPolicy(StrEnum):
    """Engine restart policy of long-lived services."""

    NO = "no"
    ON_FAILURE = "on-failure"
    UNLESS_STOPPED = "unless-stopped"
    ALWAYS = "always"


class RegistryCredentials(BaseModel):
    """Credentials for one registry (``serveraddress`` is the registry host)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(description="Registry user name.")
    password: SecretStr = Field(description="Registry password or token (hidden in repr).")
    serveraddress: str = Field(
        default="", description="Registry host the credentials are for; empty: the key's host."
    )


class DockerConfig(BackendConfig):
    """Settings of :class:`~ctrlplane.provider.docker.DockerProvider`."""

    env_prefix = ENV_PREFIX
    env_subject = "Docker config"
    env_json_fields = frozenset({"registry_auth"})

    docker_host: str | None = Field(
        default=None,
        description="Engine URL (unix:///var/run/docker.sock, tcp://host:2375, ssh://...). "
        "None: $DOCKER_HOST, the current docker context, then the default socket.",
    )
    api_version: str = Field(
        default="auto",
        description="Docker API version to speak; auto negotiates (needed for older engines).",
    )
    connect_timeout: Seconds = Field(
        default=timedelta(seconds=10),
        description="How long connecting to the engine may take, on every call.",
    )
    request_timeout: Seconds = Field(
        default=timedelta(seconds=60),
        description="How long the engine may stay silent while answering one request. "
        "Waits that are not single requests (following logs, waiting for a container to "
        "exit, an exec's output, a pull's progress) are not cut by it; a stop gets its "
        "grace period on top.",
    )
    publish_host: str = Field(
        default="127.0.0.1",
        description="Host address ports are published on; published endpoints use it.",
    )
    front_image: str = Field(
        default="ctrlplane-front:1",
        description="Image of the front containers that hold an instance's published ports "
        "for its whole life and forward each new connection to the service's current units. "
        "Its entrypoint must be socat (1.7+): the default is built locally by "
        "scripts/build-images.sh from Debian's socat; alpine/socat works too. Pulled only "
        "when the engine lacks it, whatever pull_policy says (never: it must be there; "
        "registry_auth applies).",
    )
    pod_image: str = Field(
        default="ctrlplane-pod:1",
        description="Image of the holder container that owns each replica unit's network "
        "namespace (every service of the unit joins it, so a service the engine restarts "
        "finds its siblings' namespace intact). Its default command must wait until SIGTERM "
        "(Kubernetes' pause image does): the default is built locally by "
        "scripts/build-images.sh (busybox sleep behind a TERM trap). Made available by "
        "pull_policy like the services' images (registry_auth applies).",
    )
    stop_timeout: Seconds = Field(
        default=timedelta(seconds=10),
        description="Grace period between SIGTERM and SIGKILL when stopping a container.",
    )
    init_timeout: Seconds = Field(
        default=timedelta(minutes=5),
        description="How long one init service may run before provision fails.",
    )
    provision_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of a whole provision (pulls included).",
    )
    settle_time: Seconds = Field(
        default=timedelta(milliseconds=300),
        description="The stability window: a long-lived service started by provision, "
        "deploy, start, restart or scale must keep running this long after its start with "
        "its restart count and start time unchanged (a crash the engine restarted fails "
        "the operation too).",
    )
    restart_policy: RestartPolicy = Field(
        default=RestartPolicy.ON_FAILURE,
        description="Engine restart policy of long-lived services (inits never restart).",
    )
    restart_max_retries: int = Field(
        default=3,
        ge=0,
        description="With on-failure: restarts before a crashing service stays failed "
        "(0: unlimited).",
    )
    pull_policy: PullPolicy = Field(
        default=PullPolicy.IF_NOT_PRESENT,
        description="When images are pulled: if-not-present (default), always or never.",
    )
    registry_auth: dict[str, RegistryCredentials] = Field(
        default_factory=dict,
        description='Pull credentials per registry host ("registry.example.com:5000"). A '
        "service's registry secret, when present, wins for that service's image.",
    )
    max_surge: int = Field(
        default=1,
        ge=0,
        description="rolling/canary: how many units get their new version beside the old "
        "one at a time (the old ones keep serving until the new ones passed their gate). "
        "Used when the unit's network owner changes and the workload is a deployment "
        "without changed inits; 0 turns it off. Otherwise "
        "units are replaced in place, max_unavailable at a time.",
    )
    max_unavailable: int = Field(
        default=1,
        ge=1,
        description="rolling/canary: how many units are replaced in place (stopped, then "
        "started in their new version) at a time when they cannot be surged.",
    )
    progress_deadline: Seconds = Field(
        default=timedelta(minutes=10),
        description="deploy/rollback: the whole rollout must finish within this; past it, "
        "every touched unit gets its previous version back and DeployFailed says the "
        "deadline passed.",
    )
    probe_start_period: Seconds = Field(
        default=timedelta(0),
        description="Grace period after a new unit starts before its health gate probes it.",
    )
    drain_period: Seconds = Field(
        default=timedelta(seconds=1),
        description="How long a unit that is about to stop keeps serving after its service "
        "names stop resolving to it (its address stays), so lookups made just before and "
        "requests in flight complete. Applies to retired surge and blue-green units and, "
        "with 2+ replicas, to units replaced in place.",
    )
    blue_green_retire_delay: Seconds = Field(
        default=timedelta(seconds=5),
        description="blue-green: how long the old set stays (off the service names) after "
        "the traffic switch before it is stopped and removed.",
    )
    canary_units: int = Field(
        default=1, ge=1, description="canary: how many replica units get the new version first."
    )
    canary_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="canary: the share of the units that get the new version first (rounded "
        "up); when set it wins over canary_units.",
    )
    canary_observation: Seconds = Field(
        default=timedelta(seconds=30),
        description="canary: how long the canary units must stay up and healthy before the "
        "rest are promoted.",
    )
    lease_ttl: Seconds = Field(
        default=timedelta(seconds=30),
        gt=timedelta(0),
        description="How long an instance's operation lease lives unless renewed: a "
        "mutating call renews it every third of this while it works; a holder that died "
        "(a killed process) loses it this long after its last renewal, and the next "
        "mutating call then takes it over and repairs what the interrupted operation left.",
    )
    lock_wait: Seconds = Field(
        default=timedelta(seconds=30),
        ge=timedelta(0),
        description="How long a mutating call waits for another operation on the same "
        "instance to finish before it raises InstanceBusy (0: refuse at once).",
    )
    keep_volumes: bool = Field(
        default=False,
        description="deprovision keeps the instance's named volumes (persistent data); "
        "its containers, network, release records and lease are removed. A later "
        "provision of the same instance ID uses them again.",
    )
    release_history: int = Field(
        default=10, ge=1, description="How many releases are retained per instance."
    )
    label_prefix: str = Field(
        default="io.ctrlplane",
        description="Prefix of every label the provider writes and reads (<prefix>.instance, ...).",
    )
    name_prefix: str = Field(
        default="cp",
        description="Prefix of container, network and volume names (cp-<instance>-...).",
    )
    log_tail_on_failure: int = Field(
        default=20,
        ge=0,
        description="How many log lines of a failed init/service go into the error message.",
    )
    region: str = Field(default="local", description="Reported by info().")

    @field_validator("label_prefix", "name_prefix")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value or any(c.isspace() for c in value):
            raise ValueError("must be a non-empty string without spaces")
        return value
