"""Placement failures read from a job's evaluations, and what to do (pure; no I/O).

When the scheduler cannot place an allocation it completes the evaluation with
``FailedTGAllocs`` (per task group: ``ConstraintFiltered`` maps a constraint such as
``missing compatible host volumes`` or ``missing CSI Volume pg[1]`` to the number of nodes
it filtered, ``DimensionExhausted`` a resource such as ``network: reserved port collision
web_8080=8080``, ``NodesEvaluated`` 0 means no node is in the job's datacenters) and
leaves a blocked evaluation that waits for the cluster to change. These do not fix
themselves while the operation waits (someone must create the volume; a reserved port
stays taken by the allocations the operation keeps, e.g. the old set of a blue-green
deploy in host network mode), so waits fail on them at once instead of running into
their deadline; other reasons (CPU or memory exhausted, ...) may clear, and are left to
the deadline. :func:`volume_hint` says what the operator must provide so the
allocations can be placed.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.config import NomadConfig, VolumeSourceType
from ctrlplane.provider.nomad.render.volumes import per_alloc, persistent_names, source_of
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["placement_failure", "volume_hint", "with_volume_hint"]

_PORT_COLLISION = "reserved port collision"


def _reasons(metric: JSON) -> list[str]:
    """The lasting reasons in one group's placement metrics."""
    if metric.get("NodesEvaluated", 1) == 0 and not metric.get("NodesAvailable"):
        return ["no client node is in the job's datacenters"]
    out = [
        f"constraint {str(k)!r} filtered {int(v)} node{'s' if int(v) != 1 else ''}"
        for k, v in sorted((metric.get("ConstraintFiltered") or {}).items())
        if "volume" in str(k).lower()
    ]
    out += [
        f"{k} on {int(v)} node{'s' if int(v) != 1 else ''}"
        for k, v in sorted((metric.get("DimensionExhausted") or {}).items())
        if _PORT_COLLISION in str(k)
    ]
    return out


def placement_failure(evals: Sequence[JSON], job: JSON) -> str:
    """Why the scheduler could not place allocations of ``job``'s current version, for a
    reason that lasts (a missing volume, a reserved port taken, no node in the
    datacenters), e.g. ``Nomad could not place 1 allocation of group 'unit': constraint
    "missing compatible host volumes" filtered 1 node``; empty if none."""
    index = job.get("JobModifyIndex")
    for ev in evals:
        if index is not None and ev.get("JobModifyIndex") != index:
            continue
        for group, metric in sorted((ev.get("FailedTGAllocs") or {}).items()):
            reasons = _reasons(metric or {})
            if not reasons:
                continue
            count = 1 + int((metric or {}).get("CoalescedFailures") or 0)
            plural = "s" if count != 1 else ""
            text = (
                f"Nomad could not place {count} allocation{plural} of group {group!r}: "
                + ", ".join(reasons)
            )
            if any(_PORT_COLLISION in r for r in reasons):
                text += (
                    " (a port reserved on the node is taken: in host network mode every "
                    "replica, canary and blue-green set reserves its ports on its node; use "
                    "bridge mode, fewer replicas than nodes, or a rolling deploy)"
                )
            return text
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
