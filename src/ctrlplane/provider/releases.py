"""Releases (beyond Go's provider package): the recorded history of an instance's versions.

Every ``provision`` and every successful ``deploy`` or ``rollback`` records a
:class:`Release`: a complete per-service snapshot of the deployable fields (image, env,
health check), never secret values. A provider keeps the history in its backend, retained
to a configurable depth (:data:`DEFAULT_HISTORY_DEPTH`), so a fresh provider object can
list it and roll back to any retained release.

Providers that can list the history implement the optional :class:`ReleaseHistory`.

The release plan lives here once, for every backend and the fake: what a release records
(:func:`snapshot`), how a partial deploy merges into the live services
(:func:`apply_deploy`), how a rollback restores a snapshot (:func:`apply_snapshot`), the
release-ID rules (:func:`require_new_release_id`), and the whole plan of one deploy or
rollback (:func:`plan_deploy`, :func:`plan_rollback`): a :class:`ReleasePlan` that a
backend only has to roll out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Protocol, runtime_checkable

from pydantic import Field

from ctrlplane.errors import InvalidSpec, Problem, ReleaseNotFound
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider._wire import Timestamp, WireModel
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.spec import (
    ConfigFile,
    DeployRequest,
    ServiceDeploySpec,
    ServiceSpec,
    find_named,
)
from ctrlplane.provider.validation import validate_deploy

__all__ = [
    "DEFAULT_HISTORY_DEPTH",
    "DEPLOYED",
    "Release",
    "ReleaseHistory",
    "ReleasePlan",
    "apply_deploy",
    "apply_snapshot",
    "config_digest",
    "new_release",
    "plan_deploy",
    "plan_rollback",
    "recorded_spec",
    "require_new_release_id",
    "snapshot",
]

DEFAULT_HISTORY_DEPTH = 10
"""Releases retained per instance unless a provider is configured otherwise."""

DEPLOYED = "deployed"
"""``DeployResult.status`` of a deploy that finished (every backend says the same)."""


class Release(WireModel):
    """One recorded version of an instance.

    ``services`` holds every service's deployable fields (a complete snapshot: a partial
    deploy inherits the unlisted services from the release before it). ``strategy`` is the
    strategy that rolled it out (``""`` for the initial provision). ``rollback_of`` names the
    release a rollback restored. ``live`` marks the release the instance runs now.
    """

    __omitempty__: ClassVar[frozenset[str]] = frozenset({"strategy", "rollback_of", "specs"})

    release_id: str
    created_at: Timestamp
    strategy: str = ""
    services: list[ServiceDeploySpec] = Field(default_factory=list)
    rollback_of: str = ""
    live: bool = False
    specs: list[ServiceSpec] = Field(default_factory=list)
    """Every service's whole spec as released (beyond the deployable fields: command,
    ports, resources, volumes, secret references...), config file contents replaced by
    their digest (:func:`recorded_spec`): what a workload file is compared with. Empty in
    releases recorded before it existed."""

    def service(self, name: str) -> ServiceDeploySpec:
        """The snapshot of service ``name``; ``KeyError`` if the release has none."""
        return find_named(self.services, name)


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


def config_digest(files: Sequence[ConfigFile]) -> str:
    """A digest of config files (name, path, format and content): what a release and an
    engine label keep instead of the contents."""
    h = hashlib.sha256()
    for cf in files:
        h.update(f"{cf.name}\0{cf.path}\0{cf.format}\0".encode())
        h.update(cf.content.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def recorded_spec(svc: ServiceSpec) -> ServiceSpec:
    """``svc`` as a release records it: each config file's content replaced by
    ``sha256:<digest>`` (secrets are references already, never values)."""
    files = [
        cf.model_copy(update={"content": f"sha256:{config_digest([cf])}"})
        for cf in svc.config_files
    ]
    return svc.model_copy(update={"config_files": files})


def new_release(
    release_id: str,
    services: Sequence[ServiceSpec],
    *,
    strategy: str = "",
    rollback_of: str = "",
    created_at: datetime | None = None,
) -> Release:
    """The live record of a release of ``services`` (snapshot and recorded specs)."""
    return Release(
        release_id=release_id,
        created_at=created_at or datetime.now(UTC),
        strategy=strategy,
        services=snapshot(services),
        rollback_of=rollback_of,
        live=True,
        specs=[recorded_spec(s) for s in services],
    )


def snapshot(services: Sequence[ServiceSpec]) -> list[ServiceDeploySpec]:
    """The deployable fields of every service: what a release records and restores."""
    return [
        ServiceDeploySpec(name=s.name, image=s.image, env=dict(s.env), health_check=s.health_check)
        for s in services
    ]


def apply_deploy(
    services: Sequence[ServiceSpec], changes: Sequence[ServiceDeploySpec]
) -> list[ServiceSpec]:
    """``services`` after a partial deploy: a listed service takes the change's image and
    env (replaced, not merged) and its health check when the change has one (else keeps
    its own); unlisted services are unchanged."""
    return _overlay(services, changes, keep_health_check=True)


def apply_snapshot(services: Sequence[ServiceSpec], release: Release) -> list[ServiceSpec]:
    """``services`` with exactly the deployable fields ``release`` recorded (an absent
    health check removes the service's); services the release lacks are unchanged."""
    return _overlay(services, release.services, keep_health_check=False)


def _overlay(
    services: Sequence[ServiceSpec],
    deployable: Sequence[ServiceDeploySpec],
    *,
    keep_health_check: bool,
) -> list[ServiceSpec]:
    """``services``, each named in ``deployable`` taking its image, env and health check
    (with ``keep_health_check``, an absent one keeps the service's own)."""
    by_name = {d.name: d for d in deployable}
    out: list[ServiceSpec] = []
    for svc in services:
        new = by_name.get(svc.name)
        if new is not None:
            health_check = new.health_check
            if health_check is None and keep_health_check:
                health_check = svc.health_check
            svc = svc.model_copy(
                update={"image": new.image, "env": dict(new.env), "health_check": health_check}
            )
        out.append(svc)
    return out


@dataclass(frozen=True)
class ReleasePlan:
    """One deploy or rollback, decided before anything changes.

    ``before`` are the live services, ``after`` the services of the new release
    ``release_id``; ``changed`` names the services whose units must be replaced (every
    service a deploy lists, even unchanged: a redeploy; for a rollback, those whose
    recorded fields differ). ``rollback_of`` names the release a rollback restores.
    """

    instance_id: str
    release_id: str
    strategy: DeployStrategy
    before: list[ServiceSpec]
    after: list[ServiceSpec]
    changed: frozenset[str]
    rollback_of: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def release(self, at: datetime | None = None) -> Release:
        """The record of the new release (live), made ``at`` (default: when planned)."""
        return new_release(
            self.release_id,
            self.after,
            strategy=str(self.strategy),
            rollback_of=self.rollback_of,
            created_at=at or self.created_at,
        )

    def service_after(self, name: str) -> ServiceSpec:
        """The new version of service ``name``."""
        return next(s for s in self.after if s.name == name)


def plan_deploy(
    req: DeployRequest, live: Sequence[ServiceSpec], known_releases: Iterable[str]
) -> ReleasePlan:
    """The plan of ``req`` against the live services and the release IDs in the history.

    Raises :class:`InvalidSpec` for a request that names unknown services or reuses a
    release ID, before anything changes. Mints a release ID when ``req`` has none.
    """
    validate_deploy(req, [s.name for s in live])
    require_new_release_id(req.instance_id, req.release_id, known_releases)
    after = apply_deploy(live, req.services)
    return ReleasePlan(
        instance_id=req.instance_id,
        release_id=req.release_id or new_id(RELEASE_PREFIX),
        strategy=DeployStrategy(req.strategy),
        before=list(live),
        after=after,
        changed=frozenset(c.name for c in req.services),
    )


def plan_rollback(
    instance_id: str,
    release_id: str,
    live: Sequence[ServiceSpec],
    history: Sequence[Release],
) -> ReleasePlan:
    """The plan of restoring ``release_id``'s snapshot, rolled out as a new rolling
    release; :class:`ReleaseNotFound` (naming the retained ones) when it is not retained."""
    target = next((r for r in history if r.release_id == release_id), None)
    if target is None:
        raise ReleaseNotFound(instance_id, release_id, known=[r.release_id for r in history])
    after = apply_snapshot(live, target)
    return ReleasePlan(
        instance_id=instance_id,
        release_id=new_id(RELEASE_PREFIX),
        strategy=DeployStrategy.ROLLING,
        before=list(live),
        after=after,
        changed=frozenset(a.name for a, b in zip(after, live, strict=True) if a != b),
        rollback_of=release_id,
    )
