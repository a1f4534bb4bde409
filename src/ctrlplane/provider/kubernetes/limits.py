"""What the Kubernetes backend cannot do for a given request, and why. Pure.

:class:`KubernetesLimits` is the backend's :class:`~ctrlplane.provider.preflight.Limits`:
the refusals the preflight raises before any I/O. The functions below are the refusals
that depend on a fact only the cluster knows (the live controller's kind, the server
version, the exec protocol it speaks); the operations compute them as soon as the fact is
read and raise them with :meth:`~ctrlplane.provider.preflight.Preflight.refuse`, before
anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from ctrlplane.provider.capabilities import Capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.kubernetes.config import SidecarMode
from ctrlplane.provider.kubernetes.render import Features, container_layout
from ctrlplane.provider.kubernetes.render.metadata import label_problems
from ctrlplane.provider.preflight import Refusal
from ctrlplane.provider.spec import DeployRequest, ExecRequest, ProvisionRequest, ResourceSpec

__all__ = [
    "CLAIM_RETENTION_SINCE",
    "NATIVE_SIDECARS_SINCE",
    "NO_STDIN_CLOSE",
    "KubernetesLimits",
    "deploy_refusals",
    "exec_refusals",
    "features",
    "native_sidecars",
    "sidecar_refusals",
]

NATIVE_SIDECARS_SINCE = (1, 29)
"""The first server version with native sidecars (``SidecarContainers`` on by default)."""

CLAIM_RETENTION_SINCE = (1, 23)
"""The first server version that declares a StatefulSet's
``persistentVolumeClaimRetentionPolicy`` (a 1.21 server refuses it in server-side apply)."""

_NO_BLUE_GREEN = (
    "not for stateful_set workloads: blue-green runs a second full set of pods beside the "
    "old one, and a StatefulSet's replicas own their volumes (one ReadWriteOnce claim per "
    "ordinal), so the second set would start on empty volumes or share the live ones; "
    "deploy stateful sets with strategy 'canary' (a partitioned rolling update that keeps "
    "every replica's volume) or 'rolling'"
)

_NO_TTY = (
    "tty: the client library (lightkube) has no tty option for pods/exec; run the command "
    "without tty (stdin, stdout, stderr and the exit code work)"
)

NO_STDIN_CLOSE = Refusal(
    Capability.EXEC, "stdin needs the v5.channel.k8s.io exec protocol (servers 1.30+)"
)
"""An exec with stdin on a server that cannot close stdin (it speaks only v4)."""


class KubernetesLimits:
    """The refusals the preflight raises before any I/O (see the module)."""

    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        """A request label that is not a valid Kubernetes label (every object carries the
        request's labels)."""
        return [
            Refusal(Capability.PROVISION, problem.message, path=problem.path)
            for problem in label_problems(req)
        ]

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        """Nothing before the live controller is read (see :func:`deploy_refusals`)."""
        return ()

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        """Nothing: replicas and every resource of a scale request are applied."""
        return ()


def deploy_refusals(req: DeployRequest, kind: str) -> list[Refusal]:
    """A deploy of a live controller of ``kind``: blue-green of a StatefulSet is refused
    (a second set of pods cannot keep the replicas' volumes)."""
    if kind == "StatefulSet" and req.strategy is DeployStrategy.BLUE_GREEN:
        return [Refusal(strategy_capability(req.strategy), _NO_BLUE_GREEN)]
    return []


def exec_refusals(req: ExecRequest) -> list[Refusal]:
    """An exec with a tty (lightkube's ``pods/exec`` has no tty option)."""
    return [Refusal(Capability.EXEC, _NO_TTY)] if req.tty else []


def native_sidecars(mode: SidecarMode, version: tuple[int, int]) -> bool:
    """Whether sidecars are rendered as native sidecars in ``mode`` on a server of
    ``version`` (``auto``: from :data:`NATIVE_SIDECARS_SINCE` on)."""
    if mode is SidecarMode.AUTO:
        return version >= NATIVE_SIDECARS_SINCE
    return mode is SidecarMode.NATIVE


def features(mode: SidecarMode, version: tuple[int, int]) -> Features:
    """What manifests for a server of ``version`` may use (sidecars per ``mode``)."""
    return Features(
        native_sidecars=native_sidecars(mode, version),
        claim_retention=version >= CLAIM_RETENTION_SINCE,
    )


def sidecar_refusals(
    req: ProvisionRequest, mode: SidecarMode, version: tuple[int, int]
) -> list[Refusal]:
    """``sidecars = native`` for a request with a sidecar that would be native, on a
    server older than :data:`NATIVE_SIDECARS_SINCE` (it would reject the pod template)."""
    if mode is not SidecarMode.NATIVE or version >= NATIVE_SIDECARS_SINCE:
        return []
    native = container_layout(req.services, native_sidecars=True).native
    if not native:
        return []
    names = ", ".join(s.name for s in native)
    reason = (
        f"sidecars = native, but the server is {version[0]}.{version[1]} and native sidecars "
        f"(here: {names}) need {NATIVE_SIDECARS_SINCE[0]}.{NATIVE_SIDECARS_SINCE[1]}+; set "
        "the Kubernetes config's sidecars to 'auto' or 'containers'"
    )
    return [Refusal(Capability.PROVISION, reason)]
