"""Placement failures read from a job's evaluations, and what to create (pure; no I/O).

When the scheduler cannot place an allocation it completes the evaluation with
``FailedTGAllocs`` (per task group: ``ConstraintFiltered`` maps a constraint such as
``missing compatible host volumes`` or ``missing CSI Volume pg[1]`` to the number of nodes
it filtered) and leaves a blocked evaluation that waits for the cluster to change.
Volume constraints do not fix themselves (someone must create the volume), so waits
fail on them at once instead of running into their deadline; other reasons (resources
exhausted, ...) may clear, and are left to the deadline. :func:`volume_hint` says what
the operator must provide so the allocations can be placed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import NomadConfig, VolumeSourceType
from ctrlplane.provider.nomad.render.volumes import per_alloc, persistent_names, source_of
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["volume_hint", "volume_placement_failure", "with_volume_hint"]


def volume_placement_failure(evals: Sequence[JSON], job: JSON) -> str:
    """Why the scheduler could not place allocations of ``job``'s current version for a
    volume constraint, e.g. ``Nomad could not place 1 allocation of group 'unit':
    constraint "missing compatible host volumes" filtered 1 node``; empty if none did."""
    index = job.get("JobModifyIndex")
    for ev in evals:
        if index is not None and ev.get("JobModifyIndex") != index:
            continue
        for group, metric in sorted((ev.get("FailedTGAllocs") or {}).items()):
            filtered = {
                str(k): int(v)
                for k, v in ((metric or {}).get("ConstraintFiltered") or {}).items()
                if "volume" in str(k).lower()
            }
            if not filtered:
                continue
            count = 1 + int((metric or {}).get("CoalescedFailures") or 0)
            reasons = ", ".join(
                f"constraint {k!r} filtered {v} node{'s' if v != 1 else ''}"
                for k, v in sorted(filtered.items())
            )
            plural = "s" if count != 1 else ""
            return f"Nomad could not place {count} allocation{plural} of group {group!r}: {reasons}"
    return ""


def volume_hint(req: ProvisionRequest, cfg: NomadConfig) -> str:
    """What the operator must provide so the allocations of ``req`` can be placed: each
    persistent volume's Nomad volume (per replica names for ``stateful_set``) and how to
    create it or map another one. Empty without persistent volumes."""
    names = persistent_names(req)
    if not names:
        return ""
    replicas = max(req.main.resources.replicas, 1)
    alloc = per_alloc(req)
    parts: list[str] = []
    for name in names:
        src = source_of(cfg, name)
        wanted = [f"{src.source}[{i}]" for i in range(replicas)] if alloc else [src.source]
        listed = ", ".join(repr(w) for w in wanted)
        if src.type is VolumeSourceType.HOST:
            parts.append(
                f"volume {name!r} needs host volume {listed} on a client node of datacenters "
                f"{list(cfg.datacenters)}: declare host_volume {wanted[0]!r} in the client "
                "configuration (or create a dynamic host volume of that name, Nomad 1.10+)"
            )
        else:
            parts.append(
                f"volume {name!r} needs CSI volume {listed} registered in namespace "
                f"{cfg.namespace!r} with capability access_mode={src.access_mode}, "
                f"attachment_mode={src.attachment_mode} (nomad volume register / create)"
            )
    parts.append(
        "or map the volume names to existing Nomad volumes with NomadConfig.volume_sources "
        "(CTRLPLANE_NOMAD_VOLUME_SOURCES)"
    )
    return "; ".join(parts)


def with_volume_hint(reason: str, req: ProvisionRequest, cfg: NomadConfig) -> str:
    """``reason``, followed by what to configure when it is about a volume."""
    if "volume" not in reason.lower():
        return reason
    hint = volume_hint(req, cfg)
    return f"{reason}. {hint}" if hint else reason
