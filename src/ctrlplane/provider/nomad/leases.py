"""The operation lease of each instance, as one atomic record in Nomad: the backend's
:class:`~ctrlplane.provider.leases.LeaseStore` (I/O).

- **Nomad 1.4+**: a Variable at ``<lease_prefix>/<instance>`` (item ``lease``: the lease
  as JSON); create is a write with ``cas=0`` (only if absent), replace a write with
  ``cas=<ModifyIndex>``, delete a delete with ``cas=<ModifyIndex>``; a 409 means the
  record changed (Nomad's check-and-set).
- **older agents** (no Variables): a parameterized batch job ``ctrlplane-lease-<instance>``
  whose ``Meta`` holds the lease. Registering a parameterized job never schedules
  anything (it runs only when dispatched, and nothing dispatches it); every write is a
  registration with ``EnforceIndex`` and the ``JobModifyIndex`` it replaces (``0``: only
  if the job does not exist), Nomad's check-and-set on jobs. A released record is a
  version without a lease (a tombstone, replaced by the next create); once the
  instance's own job is gone (a deprovision, a failed provision) the lease job is
  purged instead, after a last check-and-set write that keeps others waiting until the
  purge is done. Its ID is no instance ID, so ``list_instances`` never shows it.

Each method is a few requests, each bounded by ``connect_timeout``/``request_timeout``,
over a client of its own (the store is shared by every operation of a provider). A
create whose caller is cancelled meanwhile deletes the record it made (the caller will
never hold, nor release, it).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ctrlplane.errors import BackendError
from ctrlplane.provider.deadlines import cleanup, run_to_end, seconds
from ctrlplane.provider.leases import Lease, LeaseRecord
from ctrlplane.provider.native import JSON
from ctrlplane.provider.nomad.client import NomadClient
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.context import AgentFacts
from ctrlplane.provider.nomad.render.names import job_id
from ctrlplane.provider.nomad.versions import VARIABLES, at_least

__all__ = ["LEASE_ITEM", "LEASE_META", "NomadLeaseStore", "lease_job_id"]

LEASE_ITEM = "lease"
"""The Variable item holding the lease."""
LEASE_META = "ctrlplane_lease"
"""The lease job's ``Meta`` key holding the lease (empty: released)."""
_CONFLICT = 409
_ENFORCE = "Enforcing job modify index"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def lease_job_id(instance_id: str) -> str:
    """The lease job of an instance on agents without Variables."""
    return f"ctrlplane-lease-{instance_id}"


def _lease(text: object) -> Lease:
    """The lease in a record; one that cannot be read counts as long expired (so it is
    taken over instead of blocking the instance forever)."""
    found = Lease.from_json(str(text)) if text else None
    return found or Lease("unknown", "unknown", _EPOCH, _EPOCH, 0.0)


class NomadLeaseStore:
    """Lease records of one provider's instances (see the module docs). ``facts`` is the
    provider's: the agent's version decides where the records live."""

    def __init__(self, config: NomadConfig, facts: AgentFacts) -> None:
        self.config = config
        self.facts = facts

    async def _variables(self, api: NomadClient) -> bool:
        if not self.facts.version:
            agent = await api.get("/v1/agent/self")
            version = ((agent or {}).get("config") or {}).get("Version") or {}
            self.facts.version = str(version.get("Version", ""))
        return at_least(self.facts.version, VARIABLES)

    def _path(self, instance_id: str) -> str:
        return f"{self.config.lease_prefix}/{instance_id}"

    # -- the store ----------------------------------------------------------------------

    async def read(self, instance_id: str) -> LeaseRecord | None:
        async with NomadClient(self.config) as api:
            return await self.read_on(api, instance_id)

    async def read_on(self, api: NomadClient, instance_id: str) -> LeaseRecord | None:
        """:meth:`read` over an open client (an operation's own)."""
        if await self._variables(api):
            var = await api.get(f"/v1/var/{self._path(instance_id)}", missing_ok=True)
            if var is None:
                return None
            return LeaseRecord(
                _lease((var.get("Items") or {}).get(LEASE_ITEM)), str(var["ModifyIndex"])
            )
        job = await api.get(f"/v1/job/{lease_job_id(instance_id)}", missing_ok=True)
        return _job_record(job)

    async def create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        """Create the record; a caller cancelled meanwhile never holds it, so a record
        created for it is deleted again before the cancellation goes on."""
        record, interrupted = await run_to_end(self._create(instance_id, lease))
        if interrupted:
            if record is not None:
                await cleanup(
                    self.delete(instance_id, record),
                    3 * seconds(self.config.request_timeout),
                    f"delete the lease record of {instance_id}",
                )
            raise asyncio.CancelledError
        return record

    async def _create(self, instance_id: str, lease: Lease) -> LeaseRecord | None:
        async with NomadClient(self.config) as api:
            if await self._variables(api):
                return await self._write_var(api, instance_id, lease, "0")
            job = await api.get(f"/v1/job/{lease_job_id(instance_id)}", missing_ok=True)
            if job is not None and _job_record(job) is not None:
                return None
            index = int(job["JobModifyIndex"]) if job is not None else 0
            return await self._write_job(api, instance_id, lease, index)

    async def replace(
        self, instance_id: str, current: LeaseRecord, lease: Lease
    ) -> LeaseRecord | None:
        async with NomadClient(self.config) as api:
            if await self._variables(api):
                return await self._write_var(api, instance_id, lease, current.token)
            return await self._write_job(api, instance_id, lease, int(current.token))

    async def delete(self, instance_id: str, current: LeaseRecord) -> None:
        async with NomadClient(self.config) as api:
            if await self._variables(api):
                await api.answer(
                    "DELETE",
                    f"/v1/var/{self._path(instance_id)}",
                    params={"cas": current.token},
                    expected=frozenset({_CONFLICT}),
                )
                return
            await self._release_job(api, instance_id, current)

    # -- Variables ----------------------------------------------------------------------

    async def _write_var(
        self, api: NomadClient, instance_id: str, lease: Lease, cas: str
    ) -> LeaseRecord | None:
        path = self._path(instance_id)
        body = {
            "Namespace": self.config.namespace,
            "Path": path,
            "Items": {LEASE_ITEM: lease.to_json()},
        }
        status, var = await api.answer(
            "PUT", f"/v1/var/{path}", body=body, params={"cas": cas}, expected=frozenset({409})
        )
        if status == _CONFLICT or not isinstance(var, dict):
            return None
        return LeaseRecord(lease, str(var["ModifyIndex"]))

    # -- the lease job (agents without Variables) ---------------------------------------

    def _lease_job(self, instance_id: str, text: str) -> JSON:
        """The parameterized batch job that holds the lease ``text`` ("" when released)."""
        jid = lease_job_id(instance_id)
        job: JSON = {
            "ID": jid,
            "Name": jid,
            "Type": "batch",
            "Namespace": self.config.namespace,
            "Datacenters": list(self.config.datacenters),
            "ParameterizedJob": {"Payload": "forbidden"},
            "Meta": {LEASE_META: text, "ctrlplane_lease_of": instance_id},
            "TaskGroups": [
                {
                    "Name": "lease",
                    "Count": 1,
                    "Tasks": [
                        {
                            "Name": "lease",
                            "Driver": "docker",
                            "Config": {"image": "ctrlplane/lease-record-never-runs"},
                            "Resources": {"CPU": 20, "MemoryMB": 10},
                        }
                    ],
                }
            ],
        }
        if self.config.region:
            job["Region"] = self.config.region
        return job

    async def _register(self, api: NomadClient, job: JSON, index: int) -> int | None:
        """Register ``job`` only if its ``JobModifyIndex`` is still ``index`` (``0``: it
        does not exist); the new index, or ``None`` when it changed."""
        body = {"Job": job, "EnforceIndex": True, "JobModifyIndex": index}
        try:
            answer: Any = await api.put("/v1/jobs", body)
        except BackendError as exc:
            if _ENFORCE in str(exc):
                return None
            raise
        return int((answer or {}).get("JobModifyIndex") or 0)

    async def _write_job(
        self, api: NomadClient, instance_id: str, lease: Lease, index: int
    ) -> LeaseRecord | None:
        stored = await self._register(api, self._lease_job(instance_id, lease.to_json()), index)
        return None if stored is None else LeaseRecord(lease, str(stored))

    async def _release_job(self, api: NomadClient, instance_id: str, current: LeaseRecord) -> None:
        """Release the record if it is still ``current``: a tombstone version, or, once
        the instance's job is gone, a purge (after a write that keeps others waiting)."""
        jid = lease_job_id(instance_id)
        gone = await api.get(f"/v1/job/{job_id(instance_id)}", missing_ok=True) is None
        if not gone:
            await self._register(api, self._lease_job(instance_id, ""), int(current.token))
            return
        closing = replace(
            current.lease,
            renewed_at=datetime.now(UTC),
            intent={**current.lease.intent, "phase": "remove lease record"},
        )
        if await self._write_job(api, instance_id, closing, int(current.token)) is None:
            return
        await api.delete(f"/v1/job/{jid}", missing_ok=True, purge="true")


def _job_record(job: JSON | None) -> LeaseRecord | None:
    if job is None:
        return None
    text = (job.get("Meta") or {}).get(LEASE_META)
    if not text:
        return None
    return LeaseRecord(_lease(text), str(job["JobModifyIndex"]))
