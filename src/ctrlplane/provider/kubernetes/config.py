"""``KubernetesConfig``: every setting of the Kubernetes backend, documented and env-overridable.

Each field can be set from the environment as ``CTRLPLANE_K8S_<FIELD>`` (upper case), e.g.
``CTRLPLANE_K8S_NAMESPACE=apps``. Explicit constructor arguments win over the environment;
:meth:`KubernetesConfig.from_env` reads it (``KubernetesProvider()`` uses it when no config
is passed). Durations accept Go strings (``"1m30s"``) or plain seconds; maps and lists are
JSON in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctrlplane.provider._config import Seconds, config_from_env
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


class KubernetesConfig(BaseModel):
    """Settings of :class:`~ctrlplane.provider.kubernetes.KubernetesProvider`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kubeconfig: str | None = None
    """Path of the kubeconfig file. ``None``: ``$KUBECONFIG``, then ``~/.kube/config``."""

    context: str | None = None
    """Context of the kubeconfig to use; ``None``: its current context."""

    in_cluster: bool = False
    """Use the pod's service account instead of a kubeconfig (running inside a cluster)."""

    namespace: str = "default"
    """Namespace every object of every instance is created in (it must exist)."""

    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels put on every object (request labels win over these, reserved ones win
    over both)."""

    image_pull_secrets: list[str] = Field(default_factory=list)
    """Names of existing ``kubernetes.io/dockerconfigjson`` Secrets used for image pulls."""

    storage_class: str | None = None
    """Storage class of the PersistentVolumeClaims of persistent volumes; ``None``: the
    cluster default."""

    service_type: ServiceType = ServiceType.CLUSTER_IP
    """Type of the Service exposing the workload's ports."""

    sidecars: SidecarMode = SidecarMode.AUTO
    """Native sidecars or plain containers (see :class:`SidecarMode`)."""

    log_streams: LogStreams = LogStreams.MERGED
    """``split`` to report stderr lines as stderr (needs ``PodLogsQuerySplitStreams``: a
    server without it may ignore the parameter, so this is opt-in)."""

    keep_volumes: bool = False
    """Keep the PersistentVolumeClaims of StatefulSets on deprovision."""

    release_history: int = Field(default=10, ge=1, le=50)
    """How many releases are retained per instance (in an annotation of the controller)."""

    field_manager: str = "ctrlplane"
    """Field manager name of every server-side apply."""

    cluster_domain: str = "cluster.local"
    """DNS domain of the cluster, used in the endpoints of in-cluster addresses."""

    provision_timeout: Seconds = timedelta(minutes=10)
    """Deadline of a whole ``provision``, ``start`` or ``scale`` (until every pod is ready)."""

    deprovision_timeout: Seconds = timedelta(minutes=5)
    """How long ``deprovision`` waits for the objects and pods to be gone; also how long
    the cleanup after a failed ``provision`` waits for them."""

    progress_deadline: Seconds = timedelta(minutes=10)
    """Deadline of a whole ``deploy`` or ``rollback`` (every wait of it shares it; the
    canary observation and the blue-green retire delay are added to it); also the
    controllers' ``progressDeadlineSeconds``."""

    restore_timeout: Seconds = timedelta(minutes=10)
    """How long restoring the previous release after a failed or cancelled deploy may take
    (its own budget, after the deploy's); past it ``DeployFailed.rolled_back`` is false."""

    max_surge: str = "1"
    """Rolling deploys of Deployments: extra pods above the replica count (a number or a
    percentage such as ``"25%"``)."""

    max_unavailable: str = "0"
    """Rolling deploys of Deployments: pods that may be unavailable (number or percentage)."""

    canary_units: int = Field(default=1, ge=1)
    """``canary`` deploys: pods of the new version started beside the stable ones first."""

    canary_observation: Seconds = timedelta(seconds=30)
    """``canary`` deploys: how long the canary pods must stay ready before promotion."""

    blue_green_retire_delay: Seconds = timedelta(seconds=30)
    """``blue-green`` deploys: how long the old pods stay (running, no longer routed to)
    after the Service switched to the new set, before they are retired. Lets in-flight
    requests finish and endpoint updates (kube-proxy, ingress controllers) catch up; a
    deploy cancelled during this delay switches back to them at once."""

    probe_start_period: Seconds = timedelta(0)
    """Delay before the first readiness probe of a container (``initialDelaySeconds``); a
    new pod fails a deploy's gate once its probe failed ``retries`` times, so give slow
    starters a start period."""

    termination_grace: Seconds = timedelta(seconds=10)
    """Pods' ``terminationGracePeriodSeconds``."""

    poll_interval: Seconds = timedelta(milliseconds=500)
    """How often waits read the state back from the server."""

    request_timeout: Seconds = timedelta(seconds=30)
    """Timeout of one HTTP request to the API server."""

    region: str = ""
    """Reported by ``info()``; ``""``: the context's cluster name."""

    @field_validator("namespace")
    @classmethod
    def _dns_namespace(cls, value: str) -> str:
        if not is_dns_label(value):
            raise ValueError("must be a DNS-1123 label")
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Defaults, overridden by ``CTRLPLANE_K8S_*`` variables, overridden by ``overrides``.

        Raises :class:`~ctrlplane.errors.InvalidSpec` naming the variable for a bad value.
        """
        return config_from_env(
            cls,
            os.environ if environ is None else environ,
            overrides,
            prefix=ENV_PREFIX,
            subject="Kubernetes config",
            json_fields=_JSON_FIELDS,
        )
