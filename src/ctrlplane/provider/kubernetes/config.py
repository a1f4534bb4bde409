"""``KubernetesConfig``: every setting of the Kubernetes backend, documented and env-overridable.

Each field can be set from the environment as ``CTRLPLANE_K8S_<FIELD>`` (upper case), e.g.
``CTRLPLANE_K8S_NAMESPACE=apps``. Explicit constructor arguments win over the environment;
:meth:`KubernetesConfig.from_env` reads it (``KubernetesProvider()`` uses it when no config
is passed). Durations accept Go strings (``"1m30s"``) or plain seconds; maps and lists are
JSON in the environment.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import Field, field_validator

from ctrlplane.provider._config import BackendConfig, Seconds
from ctrlplane.provider.validation import is_dns_label

__all__ = ["ENV_PREFIX", "KubernetesConfig", "LogStreams", "ServiceType", "SidecarMode"]

ENV_PREFIX = "CTRLPLANE_K8S_"
"""Environment variables ``CTRLPLANE_K8S_<FIELD>`` override the defaults."""

_JSON_FIELDS = frozenset({"labels", "image_pull_secrets"})


class ServiceType(StrEnum):
    """Type of the Service that exposes a workload's ports."""

    CLUSTER_IP = "ClusterIP"
    NODE_PORT = "NodePort"
    LOAD_BALANCER = "LoadBalancer"


class SidecarMode(StrEnum):
    """How sidecar services run: native sidecars need a 1.29+ server."""

    AUTO = "auto"
    """Native sidecars (init containers with ``restartPolicy: Always``) on 1.29+, else plain
    containers (started together with the main container, without ordering)."""
    NATIVE = "native"
    """Always native sidecars (fails on servers older than 1.29)."""
    CONTAINERS = "containers"
    """Always plain containers."""


class LogStreams(StrEnum):
    """Whether ``logs`` reads stdout and stderr apart."""

    MERGED = "merged"
    """One request per container; every line is reported as stdout (works everywhere)."""
    SPLIT = "split"
    """One request per stream with the ``stream`` parameter of ``pods/log`` (servers with
    the ``PodLogsQuerySplitStreams`` feature, 1.32+); falls back to merged when refused."""


class KubernetesConfig(BackendConfig):
    """Settings of :class:`~ctrlplane.provider.kubernetes.KubernetesProvider`.

    Every field's meaning is its ``description`` (shown in the JSON schema, e.g. by
    ``KubernetesConfig.model_json_schema()``).
    """

    env_prefix = ENV_PREFIX
    env_subject = "Kubernetes config"
    env_json_fields = _JSON_FIELDS

    kubeconfig: str | None = Field(
        default=None,
        description="Path of the kubeconfig file. None: $KUBECONFIG, then ~/.kube/config.",
    )
    context: str | None = Field(
        default=None, description="Context of the kubeconfig to use; None: its current context."
    )
    in_cluster: bool = Field(
        default=False,
        description="Use the pod's service account instead of a kubeconfig (running inside "
        "a cluster).",
    )
    namespace: str = Field(
        default="default",
        description="Namespace every object of every instance is created in (it must exist).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels put on every object (request labels win over these, "
        "reserved ones win over both).",
    )
    image_pull_secrets: list[str] = Field(
        default_factory=list,
        description="Names of existing kubernetes.io/dockerconfigjson Secrets used for "
        "image pulls.",
    )
    storage_class: str | None = Field(
        default=None,
        description="Storage class of the PersistentVolumeClaims of persistent volumes; "
        "None: the cluster default.",
    )
    service_type: ServiceType = Field(
        default=ServiceType.CLUSTER_IP,
        description="Type of the Service exposing the workload's ports.",
    )
    sidecars: SidecarMode = Field(
        default=SidecarMode.AUTO,
        description="Sidecar services as native sidecars (init containers with restartPolicy "
        "Always, servers 1.29+) or plain containers: auto (native on 1.29+), native "
        "(refused on older servers), containers.",
    )
    log_streams: LogStreams = Field(
        default=LogStreams.MERGED,
        description="split to report stderr lines as stderr (needs the "
        "PodLogsQuerySplitStreams feature: a server without it may ignore the parameter, "
        "so this is opt-in); merged reports every line as stdout.",
    )
    keep_volumes: bool = Field(
        default=False,
        description="Keep the PersistentVolumeClaims of StatefulSets on deprovision.",
    )
    release_history: int = Field(
        default=10,
        ge=1,
        le=50,
        description="How many releases are retained per instance (in an annotation of the "
        "controller).",
    )
    field_manager: str = Field(
        default="ctrlplane", description="Field manager name of every server-side apply."
    )
    cluster_domain: str = Field(
        default="cluster.local",
        description="DNS domain of the cluster, used in the endpoints of in-cluster addresses.",
    )
    provision_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of a whole provision, start, restart or scale (until every pod "
        "is ready).",
    )
    deprovision_timeout: Seconds = Field(
        default=timedelta(minutes=5),
        description="How long deprovision waits for the objects and pods to be gone; also "
        "how long the cleanup after a failed provision waits for them.",
    )
    progress_deadline: Seconds = Field(
        default=timedelta(minutes=10),
        description="Deadline of a whole deploy or rollback (every wait of it shares it; the "
        "canary observation and the blue-green retire delay are added to it); also the "
        "controllers' progressDeadlineSeconds.",
    )
    restore_timeout: Seconds = Field(
        default=timedelta(minutes=10),
        description="How long restoring the previous release after a failed or cancelled "
        "deploy may take (its own budget, after the deploy's); past it "
        "DeployFailed.rolled_back is false.",
    )
    max_surge: str = Field(
        default="1",
        description="Rolling deploys of Deployments: extra pods above the replica count (a "
        "number or a percentage such as '25%').",
    )
    max_unavailable: str = Field(
        default="0",
        description="Rolling deploys of Deployments: pods that may be unavailable (a number "
        "or a percentage).",
    )
    canary_units: int = Field(
        default=1,
        ge=1,
        description="canary deploys: pods of the new version started beside the stable ones first.",
    )
    canary_observation: Seconds = Field(
        default=timedelta(seconds=30),
        description="canary deploys: how long the canary pods must stay ready before promotion.",
    )
    blue_green_retire_delay: Seconds = Field(
        default=timedelta(seconds=30),
        description="blue-green deploys: how long the old pods stay (running, no longer "
        "routed to) after the Service switched to the new set, before they are retired; "
        "lets in-flight requests finish and endpoint updates catch up. A deploy cancelled "
        "during this delay switches back to them at once.",
    )
    probe_start_period: Seconds = Field(
        default=timedelta(0),
        description="Delay before the first readiness probe of a container "
        "(initialDelaySeconds); a new pod fails a deploy's gate once its probe failed "
        "'retries' times, so give slow starters a start period.",
    )
    termination_grace: Seconds = Field(
        default=timedelta(seconds=10), description="Pods' terminationGracePeriodSeconds."
    )
    poll_interval: Seconds = Field(
        default=timedelta(milliseconds=500),
        description="How often waits read the state back from the server.",
    )
    request_timeout: Seconds = Field(
        default=timedelta(seconds=30),
        description="Timeout of one HTTP request to the API server (connect, and reading "
        "the answer; a followed log stream has no read timeout).",
    )
    lease_ttl: Seconds = Field(
        default=timedelta(seconds=30),
        description="Duration of an instance's operation lease (a coordination.k8s.io "
        "Lease): renewed every third of it while a mutating operation works; a holder that "
        "died loses it this long after its last renewal, and the next mutating call then "
        "repairs what it left.",
    )
    lock_wait: Seconds = Field(
        default=timedelta(seconds=30),
        description="How long a mutating call waits for another operation's lease on the "
        "same instance before it gives up with InstanceBusy.",
    )
    stability_window: Seconds = Field(
        default=timedelta(seconds=5),
        description="How long new pods must stay ready, with their containers' restart "
        "counts unchanged, before provision, start, restart, scale or a deploy counts them "
        "as up (a main that crashes at once, or soon, fails the operation).",
    )
    region: str = Field(
        default="", description="The region info() reports (free text; empty by default)."
    )

    @field_validator("namespace")
    @classmethod
    def _dns_namespace(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError("must be a DNS-1123 label")
        return value

    @field_validator("lease_ttl")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0")
        return value

    @field_validator("lock_wait", "stability_window")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("max_surge", "max_unavailable")
    @classmethod
    def _int_or_percent(cls, value: str) -> str:
        text = value.strip()
        if not (text.isdigit() or (text.endswith("%") and text[:-1].isdigit())):
            raise ValueError("must be a number or a percentage such as '25%'")
        return text

    @field_validator("field_manager")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value
