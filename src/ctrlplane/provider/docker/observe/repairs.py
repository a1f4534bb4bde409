"""What an interrupted operation left on the engine, unit by unit (pure, no I/O).

A holder that died mid-operation can leave, per replica unit: old containers renamed
``...-retiring`` beside new ones (a surge or a blue-green set), new containers that never
took the unit's service names, a unit whose containers were removed but not created
again, containers created but never started. :func:`unit_views` sorts an instance's
containers by unit; :func:`runs_release` says whether a container runs the version a
release recorded (its image, env and health check: the fields a deploy changes), which
decides what the repair keeps (see :mod:`ctrlplane.provider.docker.repair`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ctrlplane.provider.docker.observe.workload import replica_of, spec_from_label
from ctrlplane.provider.docker.render.naming import RETIRING_SUFFIX, Labels
from ctrlplane.provider.docker.render.workload import Workload, replaced_services
from ctrlplane.provider.releases import Release

__all__ = ["UnitView", "off_services", "orphan_holders", "runs_release", "unit_views"]


@dataclass(frozen=True)
class UnitView:
    """One replica unit's containers by service: under their regular names
    (``current``) and renamed out of the way (``retiring``); its namespace holder
    likewise (``None`` when there is none)."""

    replica: int
    current: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    retiring: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    holder: Mapping[str, Any] | None = None
    retiring_holder: Mapping[str, Any] | None = None


def unit_views(
    keys: Labels,
    inspects: Sequence[Mapping[str, Any]],
    holders: Sequence[Mapping[str, Any]] = (),
) -> list[UnitView]:
    """The units present among an instance's service container ``inspects`` (with their
    namespace ``holders``), ascending. A holder whose unit has no service container is
    left out (:func:`orphan_holders`)."""
    views: dict[int, UnitView] = {}
    for info in inspects:
        r = replica_of(keys, info)
        view = views.setdefault(r, UnitView(r))
        service = str(info["Config"]["Labels"].get(keys.service, ""))
        retiring = str(info.get("Name", "")).endswith(RETIRING_SUFFIX)
        (view.retiring if retiring else view.current)[service] = info
    out: list[UnitView] = []
    for r in sorted(views):
        mine = [h for h in holders if replica_of(keys, h) == r]
        current = [h for h in mine if not str(h.get("Name", "")).endswith(RETIRING_SUFFIX)]
        old = [h for h in mine if h not in current]
        held = replace(
            views[r],
            holder=current[0] if current else None,
            retiring_holder=old[0] if old else None,
        )
        out.append(held)
    return out


def orphan_holders(
    keys: Labels, inspects: Sequence[Mapping[str, Any]], holders: Sequence[Mapping[str, Any]]
) -> list[str]:
    """The IDs of the ``holders`` whose unit has no service container left (a unit
    removed part-way)."""
    present = {replica_of(keys, i) for i in inspects}
    return [str(h["Id"]) for h in holders if replica_of(keys, h) not in present]


def runs_release(keys: Labels, info: Mapping[str, Any], release: Release) -> bool:
    """Whether container ``info`` runs the version ``release`` recorded of its service
    (image, env, health check); a service the release lacks counts as running it."""
    labels = info["Config"]["Labels"]
    try:
        snap = release.service(str(labels.get(keys.service, "")))
    except KeyError:
        return True
    spec = spec_from_label(str(labels.get(keys.spec, "{}")))
    return (spec.image, dict(spec.env), spec.health_check) == (
        snap.image,
        dict(snap.env),
        snap.health_check,
    )


def off_services(keys: Labels, live: Workload, view: UnitView, release: Release) -> list[str]:
    """The services whose containers a unit must get anew in the version of ``release``
    (the ``live`` workload): missing, never started, or running another version; the
    whole unit when its namespace owner is among them, or when the unit's namespace
    holder is missing or was never started (see
    :func:`~ctrlplane.provider.docker.render.workload.replaced_services`)."""
    off: list[str] = []
    holder_status = str(((view.holder or {}).get("State") or {}).get("Status", ""))
    if view.holder is None or holder_status == "created":
        off.append(live.owner)
    for svc in live.services:
        info = view.current.get(svc.name)
        status = str(((info or {}).get("State") or {}).get("Status", ""))
        if info is None or status == "created" or not runs_release(keys, info, release):
            off.append(svc.name)
    return replaced_services(live, off) if off else []
