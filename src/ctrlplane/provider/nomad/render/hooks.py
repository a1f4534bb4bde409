"""Roles and ``depends_on`` as Nomad's task lifecycle hooks (pure; no I/O).

Nomad orders the tasks of a group in phases, and nothing else:

1. ``prestart`` tasks (``sidecar = false``) run to completion, all at the same time;
2. ``prestart`` sidecars start (they keep running), at the same time as step 1;
3. main tasks (no lifecycle block) start once every prestart task finished (or, for
   sidecars, started);
4. ``poststart`` sidecars start once the main tasks run.

So: an init is a prestart task; a sidecar without dependencies is a prestart sidecar; a
sidecar with dependencies (on inits, on the main service or on prestart sidecars) is a
poststart sidecar; the main service may depend on inits and prestart sidecars. What the
phases cannot order (:func:`unorderable` says why, for the preflight's refusals): an init
depending on another init (prestart tasks run concurrently), a sidecar depending on a
poststart sidecar, the main service depending on a sidecar that itself has dependencies.
A dependency is waited on until it *started*; that a dependency's health cannot be
waited on is a refusal of :mod:`~ctrlplane.provider.nomad.limits`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from ctrlplane.errors import NotSupported
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.spec import ServiceSpec

__all__ = ["Phase", "lifecycle_block", "phases", "unorderable"]


class Phase(IntEnum):
    """When a task starts, in Nomad's order."""

    PRESTART = 0
    PRESTART_SIDECAR = 1
    MAIN = 2
    POSTSTART_SIDECAR = 3


def _phase(svc: ServiceSpec) -> Phase:
    if svc.role is ServiceRole.INIT:
        return Phase.PRESTART
    if svc.role is ServiceRole.MAIN:
        return Phase.MAIN
    return Phase.POSTSTART_SIDECAR if svc.depends_on else Phase.PRESTART_SIDECAR


def _cannot(service: str, why: str) -> str:
    return (
        f"depends_on of service {service!r} cannot be expressed with Nomad lifecycle hooks: {why}"
    )


def unorderable(services: Sequence[ServiceSpec]) -> list[str]:
    """Why ``depends_on`` of ``services`` cannot be ordered by the phases, one sentence
    per service that cannot (chained inits first); empty when every one can.

    The services must be a valid request's (no unknown names, no cycles).
    """
    phase = {s.name: _phase(s) for s in services}
    chained = [s.name for s in services if s.role is ServiceRole.INIT and s.depends_on]
    out = [
        _cannot(name, "init tasks run concurrently (prestart), so inits cannot be chained")
        for name in chained
    ]
    for svc in services:
        if svc.name in chained:
            continue
        mine = phase[svc.name]
        for dep in svc.depends_on:
            theirs = phase[dep]
            if theirs < mine and not (theirs is Phase.PRESTART and mine is Phase.PRESTART_SIDECAR):
                continue
            out.append(
                _cannot(
                    svc.name,
                    f"{svc.role} {svc.name!r} starts in phase {mine.name.lower()}, "
                    f"not after {dep!r} (phase {theirs.name.lower()})",
                )
            )
            break
    return out


def phases(services: Sequence[ServiceSpec]) -> dict[str, Phase]:
    """The phase of every service; :class:`NotSupported` (the first reason of
    :func:`unorderable`) when ``depends_on`` cannot be ordered."""
    problems = unorderable(services)
    if problems:
        raise NotSupported(BACKEND, Capability.PROVISION.value, detail=problems[0])
    return {s.name: _phase(s) for s in services}


def lifecycle_block(phase: Phase) -> dict[str, object] | None:
    """The task's ``Lifecycle`` object (``None`` for main tasks)."""
    if phase is Phase.PRESTART:
        return {"Hook": "prestart", "Sidecar": False}
    if phase is Phase.PRESTART_SIDECAR:
        return {"Hook": "prestart", "Sidecar": True}
    if phase is Phase.POSTSTART_SIDECAR:
        return {"Hook": "poststart", "Sidecar": True}
    return None
