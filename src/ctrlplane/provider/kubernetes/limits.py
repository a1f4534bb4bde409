"""What the Kubernetes backend cannot do for a given request, and why. Pure.

:class:`KubernetesLimits` is the backend's :class:`~ctrlplane.provider.preflight.Limits`:
the refusals the preflight raises before any I/O, among them everything of a request the
API server would refuse once objects of it were already applied (so nothing is half
made): request labels and service annotation keys that are not qualified names,
annotations over the server's size limit, volume names too long for their pod volume
(``vol-<name>``, a DNS label of at most 63 characters), a request too large to be kept
in its controller's annotation. The functions below are the refusals that depend on a
fact only the cluster knows (the live controller's kind, the server version, the exec
protocol it speaks): the operations compute them as soon as the fact is read and raise
them with :meth:`~ctrlplane.provider.preflight.Preflight.refuse`, before anything
changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ctrlplane.provider.capabilities import Capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy, SecretType
from ctrlplane.provider.kubernetes.config import SidecarMode
from ctrlplane.provider.kubernetes.render import Features, container_layout
from ctrlplane.provider.kubernetes.render.metadata import (
    ANNOTATIONS_LIMIT,
    is_qualified_name,
    label_problems,
)
from ctrlplane.provider.kubernetes.render.naming import volume_name
from ctrlplane.provider.preflight import Refusal
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    ProvisionRequest,
    ResourceSpec,
    ServiceSpec,
)
from ctrlplane.provider.validation import secret_target

__all__ = [
    "CAPABILITIES",
    "CLAIM_RETENTION_SINCE",
    "NATIVE_SIDECARS_SINCE",
    "NO_STDIN_CLOSE",
    "SPEC_ANNOTATION_LIMIT",
    "KubernetesLimits",
    "deploy_refusals",
    "env_refusals",
    "exec_refusals",
    "features",
    "native_sidecars",
    "sidecar_refusals",
    "spec_refusals",
]

CAPABILITIES: tuple[Capability, ...] = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.BLUE_GREEN,
    Capability.CANARY,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
    Capability.GPU,
)
"""What this backend declares: each one passes the conformance suite on the fake server
(GPUs: a service's ``gpu`` becomes an ``nvidia.com/gpu`` limit)."""

SPEC_ANNOTATION_LIMIT = 100 * 1024
"""The largest request (as JSON, config files included) kept in the controller's
``ctrlplane.io/spec`` annotation; the release history shares the rest of the server's
256 KiB of annotations."""

RELAXED_ENV_NAMES_SINCE = (1, 32)
"""From this server version on, env var names may be any printable ASCII but ``=``
(``RelaxedEnvironmentVariableValidation``); before, a C-identifier-like name."""

_STRICT_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_DNS_LABEL_LENGTH = 63

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
        request's labels), and :func:`spec_refusals`."""
        labels = [
            Refusal(Capability.PROVISION, problem.message, path=problem.path)
            for problem in label_problems(req)
        ]
        return labels + spec_refusals(req)

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        """Nothing before the live controller is read (see :func:`deploy_refusals`)."""
        return ()

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        """Nothing: replicas and every resource of a scale request are applied."""
        return ()


def spec_refusals(req: ProvisionRequest) -> list[Refusal]:
    """What of ``req`` the API server would refuse, whatever its version: service
    annotation keys that are not qualified names and annotations over its size limit (the
    pod template carries every service's annotations), volume names whose pod volume
    ``vol-<name>`` would be longer than a DNS label, a request too large for its
    controller's annotation (:data:`SPEC_ANNOTATION_LIMIT`)."""
    out: list[Refusal] = []
    size = 0
    for i, svc in enumerate(req.services):
        for key, value in svc.annotations.items():
            size += len(key.encode()) + len(value.encode())
            if not is_qualified_name(key):
                out.append(
                    Refusal(
                        Capability.PROVISION,
                        f"{key!r} is not a Kubernetes annotation key (an optional DNS "
                        "subdomain and '/', then 1-63 letters, digits, '-', '_' or '.', "
                        "starting and ending with a letter or digit)",
                        path=f"services[{i}].annotations[{key!r}]",
                    )
                )
        for j, vol in enumerate(svc.volumes):
            if len(volume_name(vol.name)) > _DNS_LABEL_LENGTH:
                longest = _DNS_LABEL_LENGTH - len(volume_name(""))
                out.append(
                    Refusal(
                        Capability.VOLUMES,
                        f"{vol.name!r} is {len(vol.name)} characters; on Kubernetes it "
                        f"becomes the pod volume {volume_name('')}<name>, a DNS label of at "
                        f"most {_DNS_LABEL_LENGTH} characters: use at most {longest}",
                        path=f"services[{i}].volumes[{j}].name",
                    )
                )
    if size > ANNOTATIONS_LIMIT - 1024:
        out.append(
            Refusal(
                Capability.PROVISION,
                f"the services' annotations take {size} bytes; a Kubernetes pod's "
                f"annotations must stay under {ANNOTATIONS_LIMIT} bytes",
                path="services[*].annotations",
            )
        )
    whole = len(req.model_dump_json().encode())
    if whole > SPEC_ANNOTATION_LIMIT:
        out.append(
            Refusal(
                Capability.PROVISION,
                f"the request is {whole} bytes as JSON (config files included); the "
                f"Kubernetes backend keeps it in an annotation of at most "
                f"{SPEC_ANNOTATION_LIMIT} bytes: keep large files out of config_files",
                path="services",
            )
        )
    return out


def _env_name_ok(name: str, version: tuple[int, int]) -> bool:
    if version >= RELAXED_ENV_NAMES_SINCE:
        return bool(name) and "=" not in name and all(32 <= ord(c) <= 126 for c in name)
    return bool(_STRICT_ENV_NAME.match(name))


def env_refusals(services: Iterable[ServiceSpec], version: tuple[int, int]) -> list[Refusal]:
    """Env var names (and secret env targets) a server of ``version`` refuses: before
    1.32 they must look like C identifiers (letters, digits, ``_``, ``-``, ``.``, not
    starting with a digit); from 1.32 any printable ASCII but ``=``."""
    rule = (
        "any printable ASCII but '='"
        if version >= RELAXED_ENV_NAMES_SINCE
        else "letters, digits, '_', '-' or '.', not starting with a digit"
    )
    server = f"{version[0]}.{version[1]}"
    out: list[Refusal] = []
    for i, svc in enumerate(services):
        names = [(f"services[{i}].env[{k!r}]", k) for k in svc.env]
        names += [
            (f"services[{i}].secrets[{j}].target", secret_target(ref))
            for j, ref in enumerate(svc.secrets)
            if ref.type is SecretType.ENV
        ]
        for path, name in names:
            if not _env_name_ok(name, version):
                reason = (
                    f"{name!r} is not an env var name a Kubernetes {server} server takes ({rule})"
                )
                out.append(Refusal(Capability.PROVISION, reason, path=path))
    return out


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
