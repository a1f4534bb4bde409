"""Releases (beyond Go's provider package): the recorded history of an instance's versions.

Every ``provision`` and every successful ``deploy`` or ``rollback`` records a
:class:`Release`: a complete per-service snapshot of the deployable fields (image, env,
health check), never secret values. A provider keeps the history in its backend, retained
to a configurable depth (:data:`DEFAULT_HISTORY_DEPTH`), so a fresh provider object can
list it and roll back to any retained release.

Providers that can list the history implement the optional :class:`ReleaseHistory`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import Field

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider._wire import Timestamp, WireModel
from ctrlplane.provider.spec import ServiceDeploySpec

__all__ = ["DEFAULT_HISTORY_DEPTH", "Release", "ReleaseHistory", "require_new_release_id"]

DEFAULT_HISTORY_DEPTH = 10
"""Releases retained per instance unless a provider is configured otherwise."""


class Release(WireModel):
    """One recorded version of an instance.

    ``services`` holds every service's deployable fields (a complete snapshot: a partial
    deploy inherits the unlisted services from the release before it). ``strategy`` is the
    strategy that rolled it out (``""`` for the initial provision). ``rollback_of`` names the
    release a rollback restored. ``live`` marks the release the instance runs now.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"strategy", "rollback_of"})

    release_id: str
    created_at: Timestamp
    strategy: str = ""
    services: list[ServiceDeploySpec] = Field(default_factory=list)
    rollback_of: str = ""
    live: bool = False

    def service(self, name: str) -> ServiceDeploySpec:
        """The snapshot of service ``name``; ``KeyError`` if the release has none."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)


@runtime_checkable
class ReleaseHistory(Protocol):
    """Optional: providers that can list an instance's retained releases."""

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first; exactly one has ``live`` set.

        Unknown instance: :class:`~ctrlplane.errors.InstanceNotFound`.
        """
        ...


def require_new_release_id(instance_id: str, release_id: str, known: Iterable[str]) -> None:
    """Refuse a deploy whose requested ``release_id`` is already in the instance's
    history (``known``): release IDs name one version each. Empty IDs pass (the
    provider mints one). Raises :class:`~ctrlplane.errors.InvalidSpec` at ``release_id``.
    """
    if release_id and release_id in set(known):
        raise InvalidSpec(
            [
                Problem(
                    "release_id",
                    f"release {release_id!r} already exists in the history of instance "
                    f"{instance_id!r}; use a new release ID or leave it empty",
                )
            ],
            subject="deploy request",
        )
