"""``NomadConfig``: every setting of the Nomad backend, documented and env-overridable.

Each field can be set from the environment as ``CTRLPLANE_NOMAD_<FIELD>`` (upper case),
e.g. ``CTRLPLANE_NOMAD_MHZ_PER_CORE=2400``. Nomad's own variables are honoured where they
mean the same thing: ``NOMAD_ADDR``, ``NOMAD_TOKEN``, ``NOMAD_NAMESPACE``, ``NOMAD_REGION``,
``NOMAD_CACERT``, ``NOMAD_CLIENT_CERT``, ``NOMAD_CLIENT_KEY`` (a ``CTRLPLANE_NOMAD_*``
variable wins over them; explicit arguments win over both). The token is a
:class:`~pydantic.SecretStr` and never appears in ``repr``. ``volume_sources`` is JSON in
the environment (``CTRLPLANE_NOMAD_VOLUME_SOURCES='{"data": {"type": "csi", "source":
"pg"}}'``). Every field carries its ``description``, so the model describes itself
(``NomadConfig.model_json_schema()``).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ctrlplane.provider._config import BackendConfig, CommaList, Seconds

__all__ = [
    "BACKEND",
    "ENV_PREFIX",
    "NOMAD_ENV",
    "CSIAccessMode",
    "DependencyHealth",
    "NetworkMode",
    "NomadConfig",
    "ServiceProvider",
    "VolumeSource",
    "VolumeSourceType",
]

BACKEND = "nomad"
"""The provider's name: ``info().name``, and the backend that errors name."""

ENV_PREFIX = "CTRLPLANE_NOMAD_"
"""Environment variables ``CTRLPLANE_NOMAD_<FIELD>`` override the defaults."""

NOMAD_ENV = {
    "address": "NOMAD_ADDR",
    "token": "NOMAD_TOKEN",
    "namespace": "NOMAD_NAMESPACE",
    "region": "NOMAD_REGION",
    "ca_cert": "NOMAD_CACERT",
    "client_cert": "NOMAD_CLIENT_CERT",
    "client_key": "NOMAD_CLIENT_KEY",
}
"""Nomad's own environment variables, read when no ``CTRLPLANE_NOMAD_*`` one is set."""


class NetworkMode(StrEnum):
    """Group network mode. ``bridge`` needs CNI plugins on the clients; ``host`` is the
    fallback where the group's tasks still share the host's localhost."""

    BRIDGE = "bridge"
    HOST = "host"


class ServiceProvider(StrEnum):
    """Where services (and their checks) are registered.

    ``auto`` (default): Consul when the agent's client nodes have it, Nomad's own
    service discovery from 1.3, otherwise no registration (ports still work). ``nomad``,
    ``consul`` and ``none`` choose one. Health checks that the chosen provider cannot
    run (exec checks without Consul, any check without Consul before 1.4, or without
    registration) are run by the provider's own probe engine instead."""

    AUTO = "auto"
    NOMAD = "nomad"
    CONSUL = "consul"
    NONE = "none"


class DependencyHealth(StrEnum):
    """What to do with ``depends_on`` naming a service that has a health check. Nomad's
    lifecycle hooks start a task once its dependency *started* (the spec's "must reach
    Running"), never once it is healthy: accept that ``started`` ordering (default), or
    ``refuse`` such a spec with ``NotSupported``."""

    STARTED = "started"
    REFUSE = "refuse"


class VolumeSourceType(StrEnum):
    """Where a persistent volume's data lives: a ``host`` volume (declared in a client's
    ``host_volume`` configuration, or a dynamic host volume of Nomad 1.10+) or a
    registered ``csi`` volume."""

    HOST = "host"
    CSI = "csi"


class CSIAccessMode(StrEnum):
    """CSI ``access_mode`` values a job may request (Nomad's volume specification)."""

    SINGLE_NODE_WRITER = "single-node-writer"
    MULTI_NODE_SINGLE_WRITER = "multi-node-single-writer"
    MULTI_NODE_MULTI_WRITER = "multi-node-multi-writer"


class VolumeSource(BaseModel):
    """The operator-created Nomad volume behind a ctrlplane ``persistent`` volume.

    ``source`` is the host volume's name or the CSI volume's ID (empty: the ctrlplane
    volume's name). For ``stateful_set`` workloads the group volume is ``per_alloc``, so
    allocation ``N`` mounts ``<source>[N]``: create one volume per replica under that name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: VolumeSourceType = Field(
        default=VolumeSourceType.HOST, description="``host`` volume or registered ``csi`` volume."
    )
    source: str = Field(
        default="",
        description="The host volume's name or the CSI volume's ID; empty: the ctrlplane "
        "volume's name (``stateful_set``: ``<source>[N]`` per replica).",
    )
    access_mode: CSIAccessMode = Field(
        default=CSIAccessMode.SINGLE_NODE_WRITER,
        description="CSI only: must match a ``capability`` block of the registered volume.",
    )
    attachment_mode: str = Field(
        default="file-system",
        pattern="^(file-system|block-device)$",
        description="CSI only: ``file-system`` (a mounted directory) or ``block-device``.",
    )


class NomadConfig(BackendConfig):
    """Settings of :class:`~ctrlplane.provider.nomad.NomadProvider`."""

    env_prefix = ENV_PREFIX
    env_subject = "Nomad config"
    env_json_fields = frozenset({"volume_sources"})
    env_native = NOMAD_ENV

    address: str = Field(
        default="http://127.0.0.1:4646",
        description="HTTP address of a Nomad agent (``$NOMAD_ADDR``).",
    )

    token: SecretStr | None = Field(
        default=None,
        description="ACL token sent as ``X-Nomad-Token`` on every request (``$NOMAD_TOKEN``).",
    )

    namespace: str = Field(
        default="default",
        description=(
            "Namespace of every job and variable; sent on every request (``$NOMAD_NAMESPACE``)."
        ),
    )

    region: str = Field(
        default="",
        description="Region sent on every request; empty: the agent's own (``$NOMAD_REGION``).",
    )

    datacenters: CommaList = Field(
        default_factory=lambda: ["*"],
        description=(
            "Datacenters jobs may run in (comma-separated in the environment). ``*`` is every "
            "datacenter (Nomad 1.5+; name them explicitly for older servers)."
        ),
    )

    ca_cert: str | None = Field(
        default=None,
        description="CA bundle to verify the agent's TLS certificate (``$NOMAD_CACERT``).",
    )

    client_cert: str | None = Field(
        default=None, description="Client certificate for mutual TLS (``$NOMAD_CLIENT_CERT``)."
    )

    client_key: str | None = Field(
        default=None, description="Key of ``client_cert`` (``$NOMAD_CLIENT_KEY``)."
    )

    driver: str = Field(
        default="docker",
        description="Task driver; the job translation writes docker-driver ``config`` blocks.",
    )

    network_mode: NetworkMode = Field(
        default=NetworkMode.BRIDGE,
        description="Group network mode: ``bridge`` (default) or ``host`` for clients without CNI.",
    )

    service_provider: ServiceProvider = Field(
        default=ServiceProvider.AUTO,
        description=(
            "Service registration: ``auto`` (Consul when the nodes have it, Nomad's own from "
            "1.3, else none), ``nomad``, ``consul`` or ``none``. Checks the provider cannot run "
            "are run by ctrlplane's own probes."
        ),
    )

    dependency_health: DependencyHealth = Field(
        default=DependencyHealth.STARTED,
        description=(
            "``depends_on`` a service with a health check: ``started`` (default: the dependant "
            "starts once the dependency's task started, Nomad's only ordering) or ``refuse`` "
            "(``NotSupported``)."
        ),
    )

    mhz_per_core: int = Field(
        default=1000,
        ge=1,
        description=(
            "CPU conversion: ``cpu_millis`` 1000 (one core) is this many MHz in ``resources.cpu``."
        ),
    )

    default_cpu_mhz: int = Field(
        default=100,
        ge=1,
        description="``resources.cpu`` of a task whose service sets no ``cpu_millis``.",
    )

    default_memory_mb: int = Field(
        default=128,
        ge=10,
        description="``resources.memory`` of a task whose service sets no ``memory_mb``.",
    )

    release_history: int = Field(
        default=6,
        ge=1,
        description=(
            "Releases listed (and restorable) per instance: 6, not the 10 of the other backends, "
            "because history is read from job versions and the server keeps only its "
            "``job_tracked_versions`` (6 by default); a larger value lists no more than that."
        ),
    )

    provision_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of ``provision``: registration until every allocation is healthy.",
    )

    deploy_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of ``deploy``/``rollback``/``scale``/``start`` waits.",
    )

    min_healthy_time: Seconds = Field(
        default=timedelta(seconds=10),
        description="Update stanza: how long an allocation must be healthy to count as healthy.",
    )

    healthy_deadline: Seconds = Field(
        default=timedelta(minutes=5),
        description="Update stanza: deadline for one allocation to become healthy.",
    )

    progress_deadline: Seconds = Field(
        default=timedelta(minutes=10),
        description="Update stanza: deadline for a deployment to make progress.",
    )

    max_parallel: int = Field(
        default=1,
        ge=1,
        description="Update stanza: allocations updated at once by a rolling deploy.",
    )

    restart_attempts: int = Field(
        default=2,
        ge=0,
        description=(
            "Restarts of a crashed long-lived task (within ``restart_interval``) before it fails; "
            "inits never restart."
        ),
    )

    restart_delay: Seconds = Field(
        default=timedelta(seconds=1), description="Pause before a crashed task is restarted."
    )

    restart_interval: Seconds = Field(
        default=timedelta(minutes=30), description="Window in which ``restart_attempts`` count."
    )

    canary_count: int = Field(
        default=1,
        ge=1,
        description=(
            "``canary`` deploys: allocations that get the new version first (``update.canary``)."
        ),
    )

    canary_observation: Seconds = Field(
        default=timedelta(seconds=10),
        description="``canary`` deploys: how long healthy canaries are watched before promotion.",
    )

    kill_timeout: Seconds = Field(
        default=timedelta(seconds=5),
        description="Grace period between SIGTERM (``kill_signal``) and SIGKILL when tasks stop.",
    )

    poll_interval: Seconds = Field(
        default=timedelta(milliseconds=500), description="How often waits poll the agent."
    )

    connect_timeout: Seconds = Field(
        default=timedelta(seconds=5),
        description="Timeout of opening a connection to the agent, on every request.",
    )

    request_timeout: Seconds = Field(
        default=timedelta(seconds=30),
        description=(
            "Timeout of one HTTP request (sending it, and each read of the answer; a followed "
            "log stream's agent sends a heartbeat every second, so it is bounded too)."
        ),
    )

    cleanup_timeout: Seconds = Field(
        default=timedelta(minutes=1),
        description=(
            "Deadline of the cleanup after a failed provision (purging the job and its "
            "Variables); what is left past it is named in the error."
        ),
    )

    stability_window: Seconds = Field(
        default=timedelta(seconds=2),
        description=(
            "After provision, deploy, start, scale and restart are healthy, their allocations "
            "must keep running this long with restart counts unchanged: a crash is a failure."
        ),
    )

    lease_ttl: Seconds = Field(
        default=timedelta(seconds=30),
        description=(
            "Duration of an instance's operation lease (renewed every third of it while an "
            "operation works); a holder that died loses it after this long."
        ),
    )

    lock_wait: Seconds = Field(
        default=timedelta(seconds=30),
        description=(
            "How long a mutating call waits for another operation on the same instance "
            "before ``InstanceBusy``."
        ),
    )

    lease_prefix: str = Field(
        default="ctrlplane/leases",
        description=(
            "Nomad 1.4+: operation leases are Variables at ``<prefix>/<instance>``; older "
            "agents hold them in a parameterized job ``ctrlplane-lease-<instance>``."
        ),
    )

    exec_timeout: Seconds = Field(
        default=timedelta(minutes=5),
        description=(
            "Deadline of one ``exec`` session, from connecting until the exit code arrives; past "
            "it the session is closed and ``OperationTimeout`` raised."
        ),
    )

    variables_prefix: str = Field(
        default="nomad/jobs",
        description=(
            "Secrets go to Variables at ``<prefix>/<job>/<group>/<task>``; the default is the "
            "job-scoped path Nomad's workload identity grants the task read access to."
        ),
    )

    group_name: str = Field(default="unit", description="Name of the one task group of every job.")

    volume_sources: dict[str, VolumeSource] = Field(
        default_factory=dict,
        description=(
            "ctrlplane ``persistent`` volume name -> the Nomad volume holding its data. A name not "
            'listed is a host volume of the same name (``host_volume "<name>"`` in the clients\' '
            "configuration). JSON in the environment."
        ),
    )

    def token_value(self) -> str:
        """The ACL token, or ``""``."""
        return self.token.get_secret_value() if self.token is not None else ""
