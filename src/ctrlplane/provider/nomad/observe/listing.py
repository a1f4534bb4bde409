"""Listing instances from Nomad's job list (pure; no I/O).

``GET /v1/jobs?meta=true&filter=<expr>`` answers the job stubs that pass the filter, with
their ``Meta`` (Nomad 1.4+). The filter (:func:`list_filter`) keeps only jobs ctrlplane
registered (their ``Meta`` has the instance key) and, if asked, of one tenant, so the
agent does the selection: one call, no scan of unrelated jobs. Agents before 1.4 ignore
both parameters and answer every job without ``Meta`` (:func:`lacks_meta`): the
provider then reads the jobs whose ID can be an instance ID (:func:`candidates`) in
full. :func:`summaries` turns stubs (or full jobs) into ``InstanceSummary`` records,
oldest first, keeping only ctrlplane's jobs (of the tenant, if asked).

State from the stub: a stopped job (``Stop``) is ``stopped``; ``running`` is
``running``; ``pending`` is ``starting``; a ``dead`` job that was not stopped (every
allocation ended) is ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ctrlplane.ids import is_id
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.nomad.observe.history import created_at
from ctrlplane.provider.nomad.render.meta import INSTANCE, NAME, RELEASE, TENANT
from ctrlplane.provider.results import InstanceSummary

__all__ = ["candidates", "lacks_meta", "list_filter", "quote", "summaries"]


def quote(text: str) -> str:
    """``text`` as a double-quoted filter string literal (backslash and quote escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_filter(tenant_id: str | None) -> str:
    """The job list filter: ctrlplane's jobs (of ``tenant_id``, if given)."""
    expr = f"{quote(INSTANCE)} in Meta"
    if tenant_id is not None:
        expr += f" and Meta.{TENANT} == {quote(tenant_id)}"
    return expr


def lacks_meta(stubs: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the agent ignored ``meta=true`` (stubs without ``Meta``: before 1.4)."""
    return any("Meta" not in stub for stub in stubs)


def candidates(stubs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The IDs of the stubs that can be instances (an instance's job ID is its TypeID)."""
    return [str(s["ID"]) for s in stubs if is_id(str(s.get("ID", "")))]


def _state(stub: Mapping[str, Any]) -> InstanceState:
    if stub.get("Stop"):
        return InstanceState.STOPPED
    status = stub.get("Status")
    if status == "running":
        return InstanceState.RUNNING
    if status == "dead":
        return InstanceState.FAILED
    return InstanceState.STARTING


def summaries(
    stubs: Iterable[Mapping[str, Any]], tenant_id: str | None = None
) -> list[InstanceSummary]:
    """One summary per job stub that carries ctrlplane's meta (of ``tenant_id``, if
    given), oldest first (by the job's ``CreateIndex``)."""
    found: list[tuple[int, InstanceSummary]] = []
    for stub in stubs:
        meta = stub.get("Meta") or {}
        iid = meta.get(INSTANCE)
        if not iid or (tenant_id is not None and meta.get(TENANT) != tenant_id):
            continue
        summary = InstanceSummary(
            instance_id=str(iid),
            tenant_id=str(meta.get(TENANT, "")),
            name=str(meta.get(NAME, "")),
            state=_state(stub),
            release_id=str(meta.get(RELEASE, "")),
            created_at=created_at(stub),
        )
        found.append((int(stub.get("CreateIndex") or 0), summary))
    return [s for _, s in sorted(found, key=lambda pair: pair[0])]
