"""The one exception tree of ctrlplane.

Every error a caller can see from the library derives from :class:`CtrlplaneError`.
Backends translate their client library's exceptions (aiohttp, httpx, lightkube, ...)
at their boundary, so callers never have to catch a third-party type::

    CtrlplaneError
    ├── InvalidSpec            (also ValueError)   bad request, spec file or ID; .problems
    ├── ProviderNotFound       (also KeyError)     registry has no such name
    ├── ProviderConflict       (also ValueError)   name taken by another provider
    ├── MissingExtra           (also ImportError)  backend extra not installed
    ├── NotSupported                               capability not declared by the provider
    ├── InstanceNotFound       (also LookupError)  no workload with that instance ID
    ├── AmbiguousInstance      (also LookupError)  a workload name matches several instances
    ├── ReleaseNotFound        (also LookupError)  unknown or pruned release
    ├── SecretNotFound         (also LookupError)  resolver has no value for a key
    ├── BackendError                               the engine refused or failed an operation
    │   ├── BackendUnavailable                     engine unreachable (connection, DNS, TLS)
    │   └── PermissionDenied                       engine rejected our credentials
    ├── InstanceBusy                               another operation holds the instance's lease
    ├── ProvisionFailed                            provision failed at a named step
    ├── DeployFailed                               deploy/rollback failed; carries the evidence
    └── OperationTimeout       (also TimeoutError) a wait ran past its deadline

Messages say what failed and what to do about it. They never contain secret values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "AmbiguousInstance",
    "BackendError",
    "BackendUnavailable",
    "CtrlplaneError",
    "DeployFailed",
    "InstanceBusy",
    "InstanceNotFound",
    "InvalidSpec",
    "MissingExtra",
    "NotSupported",
    "OperationTimeout",
    "PermissionDenied",
    "Problem",
    "ProviderConflict",
    "ProviderNotFound",
    "ProvisionFailed",
    "ReleaseNotFound",
    "SecretNotFound",
]

PROVIDER_NOT_REGISTERED = "ctrlplane: provider not registered"
"""The Go package's ``ErrProviderNotFound`` text; :class:`ProviderNotFound` keeps it."""


class CtrlplaneError(Exception):
    """Root of every error raised by ctrlplane."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (a field path) and what.

    ``path`` uses Python-ish addressing rooted at the request, e.g.
    ``services[2].depends_on[0]``; an empty path means the input as a whole.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidSpec(CtrlplaneError, ValueError):
    """The input is invalid; ``problems`` lists every finding, each with its field path.

    Raised before any side effect: a provider that raises this has created nothing.
    """

    def __init__(self, problems: Iterable[Problem] | str, *, subject: str = "request") -> None:
        found = [Problem("", problems)] if isinstance(problems, str) else list(problems)
        self.problems: list[Problem] = found
        self.subject = subject
        if len(found) == 1:
            text = f"invalid {subject}: {found[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in found)
            text = f"invalid {subject} ({len(found)} problems):\n{lines}"
        super().__init__(text)


class ProviderNotFound(CtrlplaneError, KeyError):
    """No provider is registered under ``name`` (Go: ``ErrProviderNotFound``)."""

    def __init__(self, name: str, *, known: Sequence[str] = ()) -> None:
        self.name = name
        hint = f"; registered: {', '.join(known)}" if known else "; none are registered"
        super().__init__(f"{PROVIDER_NOT_REGISTERED}: {name!r}{hint}")


class ProviderConflict(CtrlplaneError, ValueError):
    """A different provider is already registered under ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"a different provider is already registered as {name!r}; "
            "pass replace=True to replace it"
        )


class MissingExtra(CtrlplaneError, ImportError):
    """A backend's client library is not installed; the message names the pip command."""

    def __init__(self, backend: str, package: str, *, install: str = "") -> None:
        self.backend = backend
        self.package = package
        self.install = install or f"pip install 'ctrlplane[{backend}]'"
        super().__init__(
            f"the {backend} backend needs {package!r}, which is not installed; run: {self.install}"
        )


class NotSupported(CtrlplaneError):
    """The provider does not declare the capability an operation needs.

    Raised before any work starts, so nothing was changed.
    """

    def __init__(self, provider: str, capability: str, *, detail: str = "") -> None:
        self.provider = provider
        self.capability = capability
        extra = f": {detail}" if detail else ""
        super().__init__(
            f"provider {provider!r} does not support {capability!r}{extra}; "
            "check capabilities() before calling"
        )


class InstanceNotFound(CtrlplaneError, LookupError):
    """No workload with this instance ID exists on the provider's backend."""

    def __init__(self, instance_id: str, *, provider: str = "") -> None:
        self.instance_id = instance_id
        self.provider = provider
        where = f" on provider {provider!r}" if provider else ""
        super().__init__(f"instance {instance_id!r} not found{where}")


class AmbiguousInstance(CtrlplaneError, LookupError):
    """A workload name (used instead of an instance ID) matches several instances."""

    def __init__(self, name: str, matches: Sequence[str]) -> None:
        self.name = name
        self.matches = list(matches)
        super().__init__(
            f"{name!r} matches {len(self.matches)} instances: {', '.join(self.matches)}; "
            "use an instance ID or narrow it with a tenant"
        )


class ReleaseNotFound(CtrlplaneError, LookupError):
    """The release is unknown for this instance, or was pruned from its history."""

    def __init__(self, instance_id: str, release_id: str, *, known: Sequence[str] = ()) -> None:
        self.instance_id = instance_id
        self.release_id = release_id
        hint = f"; retained releases: {', '.join(known)}" if known else ""
        super().__init__(
            f"release {release_id!r} of instance {instance_id!r} is unknown or pruned{hint}"
        )


class SecretNotFound(CtrlplaneError, LookupError):
    """A secret resolver has no value for a key. The message names the key, never a value."""

    def __init__(self, key: str, *, looked_in: str = "") -> None:
        self.key = key
        where = f" (looked in {looked_in})" if looked_in else ""
        super().__init__(f"secret {key!r} not found{where}")


class BackendError(CtrlplaneError):
    """The engine refused or failed an operation (a non-success answer we cannot map)."""

    def __init__(self, message: str, *, backend: str = "", status: int | None = None) -> None:
        self.backend = backend
        self.status = status
        super().__init__(message)


class BackendUnavailable(BackendError):
    """The engine cannot be reached: connection refused, DNS, TLS, or the daemon is down."""


class PermissionDenied(BackendError):
    """The engine rejected the credentials or the caller lacks a permission."""


class InstanceBusy(CtrlplaneError):
    """Another operation holds the instance's operation lease (mutating operations run one
    at a time per instance, across processes and machines). Nothing was changed.

    ``operation`` and ``holder`` say who holds it, ``since`` when it was taken, ``waited``
    how long this call waited (seconds) before giving up.
    """

    def __init__(
        self,
        instance_id: str,
        *,
        operation: str,
        holder: str,
        since: datetime,
        waited: float,
    ) -> None:
        self.instance_id = instance_id
        self.operation = operation
        self.holder = holder
        self.since = since
        self.waited = waited
        super().__init__(
            f"instance {instance_id!r} is busy: {operation} by {holder} since "
            f"{since.isoformat(timespec='seconds')} (waited {waited:g}s); retry when it "
            "finishes, or wait longer (lock_wait)"
        )


class ProvisionFailed(CtrlplaneError):
    """Provisioning failed at ``step``; everything the call created was removed."""

    def __init__(self, instance_id: str, step: str, reason: str) -> None:
        self.instance_id = instance_id
        self.step = step
        self.reason = reason
        super().__init__(f"provision of {instance_id!r} failed at {step}: {reason}")


class DeployFailed(CtrlplaneError):
    """A deploy or rollback failed; the instance was returned to its previous release.

    ``evidence`` holds what the gate observed (probe results), newest last.
    """

    def __init__(
        self,
        instance_id: str,
        *,
        strategy: str,
        step: str,
        reason: str,
        evidence: Sequence[Any] = (),
        rolled_back: bool = True,
    ) -> None:
        self.instance_id = instance_id
        self.strategy = strategy
        self.step = step
        self.reason = reason
        self.evidence = list(evidence)
        self.rolled_back = rolled_back
        after = (
            "; the previous release was restored"
            if rolled_back
            else "; the instance may be partly updated"
        )
        super().__init__(f"{strategy} deploy of {instance_id!r} failed at {step}: {reason}{after}")


class OperationTimeout(CtrlplaneError, TimeoutError):
    """A wait ran past its deadline. ``operation`` says which, ``timeout`` is in seconds."""

    def __init__(self, operation: str, timeout: float, *, detail: str = "") -> None:
        self.operation = operation
        self.timeout = timeout
        extra = f": {detail}" if detail else ""
        super().__init__(f"{operation} did not finish within {timeout:g}s{extra}")
