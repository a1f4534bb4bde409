"""Roles and ``depends_on`` as Nomad lifecycle hooks (pure; no I/O).

Nomad orders the tasks of a group in phases, and nothing else:

1. ``prestart`` tasks (``sidecar = false``) run to completion, all at the same time;
2. ``prestart`` sidecars start (they keep running), at the same time as step 1;
3. main tasks (no lifecycle block) start once every prestart task finished (or, for
   sidecars, started);
4. ``poststart`` sidecars start once the main tasks run.

So: an init is a prestart task; a sidecar without dependencies is a prestart sidecar; a
sidecar with dependencies (on inits, on the main service or on prestart sidecars) is a
poststart sidecar; the main service may depend on inits and prestart sidecars. What
the phases cannot order is refused with :class:`~ctrlplane.errors.NotSupported` naming
the service: an init depending on another init (prestart tasks run concurrently), a
sidecar depending on a poststart sidecar, the main service depending on a sidecar that
itself has dependencies. A dependency is waited on until it *started*; Nomad has no
hook that waits for a dependency's health check, so :func:`check_dependency_health`
refuses ``depends_on`` a health-checked service unless the configuration accepts the
started-only ordering (``dependency_health = "started"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["Phase", "check_dependency_health", "lifecycle_block", "phases"]

PROVIDER = "nomad"


class Phase(IntEnum):
    """When a task starts, in Nomad's order."""

    PRESTART = 0
    PRESTART_SIDECAR = 1
    MAIN = 2
    POSTSTART_SIDECAR = 3


def _refuse(service: str, why: str) -> NotSupported:
    return NotSupported(
        PROVIDER,
        Capability.PROVISION.value,
        detail=f"depends_on of service {service!r} cannot be expressed with Nomad "
        f"lifecycle hooks: {why}",
    )


def phases(services: Sequence[ServiceSpec]) -> dict[str, Phase]:
    """The phase of every service; :class:`NotSupported` for unorderable ``depends_on``.

    The services must be a valid request's (no unknown names, no cycles).
    """
    roles = {s.name: s.role for s in services}
    out: dict[str, Phase] = {}
    for svc in services:
        if svc.role is ServiceRole.INIT:
            out[svc.name] = Phase.PRESTART
            if svc.depends_on:
                raise _refuse(
                    svc.name, "init tasks run concurrently (prestart), so inits cannot be chained"
                )
        elif svc.role is ServiceRole.MAIN:
            out[svc.name] = Phase.MAIN
        else:
            out[svc.name] = Phase.POSTSTART_SIDECAR if svc.depends_on else Phase.PRESTART_SIDECAR
    for svc in services:
        mine = out[svc.name]
        for dep in svc.depends_on:
            theirs = out[dep]
            ok = theirs < mine and not (theirs is Phase.PRESTART and mine is Phase.PRESTART_SIDECAR)
            if not ok:
                raise _refuse(
                    svc.name,
                    f"{roles[svc.name]} {svc.name!r} starts in phase {mine.name.lower()}, "
                    f"not after {dep!r} (phase {theirs.name.lower()})",
                )
    return out


def check_dependency_health(services: Sequence[ServiceSpec], accept_started: bool) -> None:
    """Refuse (:class:`NotSupported`) ``depends_on`` naming a service that has a health
    check, unless ``accept_started``: the contract says the dependant starts once that
    check passes, and Nomad can only start it once the dependency's task started."""
    if accept_started:
        return
    checked = {s.name for s in services if s.health_check is not None}
    pairs = [
        f"{svc.name!r} on {dep!r}" for svc in services for dep in svc.depends_on if dep in checked
    ]
    if pairs:
        raise NotSupported(
            PROVIDER,
            Capability.PROVISION.value,
            detail=f"depends_on {', '.join(pairs)}: the dependency has a health check, and "
            "Nomad's lifecycle hooks wait only until a dependency started, never until it "
            "is healthy. Drop the depends_on (let the service retry), or accept the "
            'started-only ordering with NomadConfig(dependency_health="started") '
            "(CTRLPLANE_NOMAD_DEPENDENCY_HEALTH=started)",
        )


def lifecycle_block(phase: Phase) -> dict[str, object] | None:
    """The task's ``Lifecycle`` object (``None`` for main tasks)."""
    if phase is Phase.PRESTART:
        return {"Hook": "prestart", "Sidecar": False}
    if phase is Phase.PRESTART_SIDECAR:
        return {"Hook": "prestart", "Sidecar": True}
    if phase is Phase.POSTSTART_SIDECAR:
        return {"Hook": "poststart", "Sidecar": True}
    return None
