"""``NomadProvider``: the ``Provider`` contract on a Nomad cluster, over its HTTP API.

One instance is one job (ID = instance ID) with one task group; the job's ``Meta``
records the request spec and the release, and every registration is a job version, so
all state lives in Nomad and a fresh provider object manages what another created.
Translation is pure (:mod:`~ctrlplane.provider.nomad.jobspec`); this module does the
I/O through :class:`~ctrlplane.provider.nomad.client.NomadClient` (namespace, region and
token on every request; errors translated there). The provider's parts:
:mod:`~ctrlplane.provider.nomad.waits` (reads and waits),
:mod:`~ctrlplane.provider.nomad.rollout` (deploy strategies),
:mod:`~ctrlplane.provider.nomad.logreader` (logs).

Declared capabilities: ``provision``, ``deploy`` with ``strategy:rolling`` (Nomad's
update stanza: ``max_parallel`` allocations at a time, health from service checks,
automatic revert), ``strategy:canary`` and ``strategy:blue-green`` (Nomad canaries,
gated, then promoted through the deployment API or failed), ``scale``, ``logs``,
``exec``, ``volumes`` (persistent: operator-created host or CSI volumes, per allocation
for ``stateful_set``; tmpfs: docker tmpfs mounts; see
:mod:`~ctrlplane.provider.nomad.volumes`). Not declared (``NotSupported`` before any
work): GPUs, autoscaling, custom domains, TLS.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import (
    BackendError,
    CtrlplaneError,
    InstanceNotFound,
    InvalidSpec,
    Problem,
    ProvisionFailed,
    ReleaseNotFound,
    SecretNotFound,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability, require_capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy, SecretType, ServiceRole
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.events import (
    Subscriber,
)
from ctrlplane.provider.nomad.client import BACKEND, NomadClient
from ctrlplane.provider.nomad.compat import check_version
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.jobspec import (
    check_supported,
    job_id,
    secret_item,
    translate,
    variable_path,
)
from ctrlplane.provider.nomad.listing import list_filter, summaries
from ctrlplane.provider.nomad.logreader import LogReader, check_since
from ctrlplane.provider.nomad.meta import (
    RELEASE,
    ReleaseMeta,
    created_at,
    release_meta,
    request_from_job,
)
from ctrlplane.provider.nomad.registry import PASSWORD_ITEM, USERNAME_ITEM
from ctrlplane.provider.nomad.rollout import Rollouts
from ctrlplane.provider.nomad.status import (
    alloc_replica,
    current_allocs,
    instance_status,
)
from ctrlplane.provider.nomad.steps import UnitReporter
from ctrlplane.provider.nomad.waits import (
    Failed,
    resubmittable,
    seconds,
    uncancellable,
)
from ctrlplane.provider.releases import Release, require_new_release_id
from ctrlplane.provider.results import (
    DeployResult,
    ExecResult,
    HealthStatus,
    InstanceStatus,
    InstanceSummary,
    LogRecord,
    ProviderInfo,
    ProvisionResult,
    ResourceUsage,
)
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.provider.validation import validate_deploy, validate_request, validate_scale
from ctrlplane.registry_logins import parse_registry_secret
from ctrlplane.secrets import SecretResolver

__all__ = ["NomadProvider"]

JSON = dict[str, Any]

_CAPABILITIES = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.CANARY,
    Capability.BLUE_GREEN,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
)


def _why(exc: BaseException, limit: timedelta | None = None) -> str:
    """One line on why a step ended badly (errors carry no secret values)."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return f"timed out after {seconds(limit):g}s" if limit is not None else "timed out"
    if isinstance(exc, Failed):
        return exc.reason
    return str(exc) or type(exc).__name__


class NomadProvider(Rollouts, LogReader):
    """The Nomad backend. Holds configuration only; no per-instance state.

    ``secrets`` resolves secret references at provision time; values are written to Nomad
    Variables (never into the job) and read by the task's templates.
    """

    def __init__(
        self, config: NomadConfig | None = None, *, secrets: SecretResolver | None = None
    ) -> None:
        self.config = config if config is not None else NomadConfig.from_env()
        self._secrets = secrets
        self._version = ""

    def __repr__(self) -> str:
        return (
            f"NomadProvider(address={self.config.address!r}, namespace={self.config.namespace!r})"
        )

    # -- metadata ------------------------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``nomad``, the agent's version (known after ``health_check``), region."""
        return ProviderInfo(name=BACKEND, version=self._version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """What works and is tested (see the module docstring)."""
        return _CAPABILITIES

    def render(self, req: ProvisionRequest) -> list[dict[str, Any]]:
        """The job ``provision`` would register for ``req`` (API JSON). No I/O.

        Validates first. Secret values never appear: the job reads them from Nomad
        Variables through templates.
        """
        validate_request(req)
        check_supported(req, self.config)
        release = ReleaseMeta("rel_" + "0" * 26, datetime(1970, 1, 1, tzinfo=UTC))
        return [{"Job": translate(req, release, self.config)}]

    async def _agent_version(self, api: NomadClient) -> str:
        """The agent's version (read once per provider object; ``""`` if unknown)."""
        if not self._version:
            agent = await api.get("/v1/agent/self")
            version = ((agent or {}).get("config") or {}).get("Version") or {}
            self._version = str(version.get("Version", ""))
        return self._version

    async def health_check(self) -> HealthStatus:
        """``/v1/agent/health`` (and the version from ``/v1/agent/self``); never raises."""
        started = time.monotonic()
        try:
            async with self._client() as api:
                health = await api.get("/v1/agent/health")
                latency = time.monotonic() - started
                agent = await api.get("/v1/agent/self")
        except CtrlplaneError as exc:
            return HealthStatus(
                healthy=False,
                message=str(exc),
                latency=timedelta(seconds=time.monotonic() - started),
                checked_at=datetime.now(UTC),
            )
        version = ((agent or {}).get("config") or {}).get("Version") or {}
        self._version = str(version.get("Version", ""))
        parts = [f"{k}: {v.get('message', '')}" for k, v in (health or {}).items()]
        ok = all(v.get("ok") for v in (health or {}).values())
        return HealthStatus(
            healthy=ok,
            message=f"Nomad {self._version}; " + ", ".join(parts),
            latency=timedelta(seconds=latency),
            checked_at=datetime.now(UTC),
        )

    # -- reading -------------------------------------------------------------------------

    # -- waiting -------------------------------------------------------------------------

    # -- provision / deprovision ---------------------------------------------------------

    async def _resolve(self, req: ProvisionRequest) -> dict[str, dict[str, str]]:
        """Variable items per task (``secret_<i>`` -> value; a registry secret as its
        username and password items). Values are never logged."""
        items: dict[str, dict[str, str]] = {}
        for svc in req.services:
            for i, ref in enumerate(svc.secrets):
                if self._secrets is None:
                    raise SecretNotFound(ref.key, looked_in="nothing: the provider has no resolver")
                value = await self._secrets.resolve(
                    ref, tenant_id=req.tenant_id, instance_id=req.instance_id
                )
                mine = items.setdefault(svc.name, {})
                if ref.type is SecretType.REGISTRY:
                    login = parse_registry_secret(value, svc.image, ref.key)
                    mine.update({USERNAME_ITEM: login.username, PASSWORD_ITEM: login.password})
                else:
                    mine[secret_item(i)] = value.decode(errors="replace")
        return items

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Register the instance's job and wait until its allocations are healthy.

        Validates first (and refuses what Nomad cannot express, see
        :func:`~ctrlplane.provider.nomad.jobspec.check_supported`). Idempotent per
        instance ID, as on Docker: an existing *complete* instance (one of its retained
        job versions became ``Stable``) is returned as it is, registering nothing even
        when ``req`` differs (change it with ``deploy``/``scale``); an existing
        *partial* one (a provision that crashed or never became healthy) is replaced.
        On failure, timeout or cancellation the job (this call's version and any
        partial one it replaced) and its Variables are purged, so no failed version
        stays registered, and :class:`ProvisionFailed` names the step and the failing
        task.

        ``events`` receives the steps (``resolve secrets``, ``write variables``,
        ``register job``, ``wait for healthy allocations``) as ``StepStarted`` /
        ``StepFinished`` pairs (a failed or cancelled step finishes with ``ok`` false
        and the reason), and a ``UnitStarted`` per task of every allocation this call
        placed (``replica`` = the allocation index); re-provisioning a complete
        instance registers nothing and reports no event.
        """
        require_capability(self, Capability.PROVISION)
        validate_request(req)
        check_supported(req, self.config)
        iid = req.instance_id
        steps = Steps(iid, events)
        async with self._client() as api:
            check_version(req, self.config, await self._agent_version(api))
            try:
                existing: JSON | None = await self._job(api, iid)
            except InstanceNotFound:
                existing = None
            if existing is not None and await self._complete(api, iid):
                return await self._provisioned(api, request_from_job(existing))
            try:
                if any(s.secrets for s in req.services):
                    await steps.enter("resolve secrets")
                items = await self._resolve(req)
            except BaseException as exc:
                await steps.fail(_why(exc))
                if isinstance(exc, CtrlplaneError):
                    raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
                raise
            await steps.finish()
            release = ReleaseMeta(new_id(RELEASE_PREFIX), datetime.now(UTC))
            if existing is not None and request_from_job(existing) == req:
                release = release_meta(existing)
            created = created_at(existing) if existing is not None else None
            job = translate(req, release, self.config, created=created)
            before = {str(a["ID"]) for a in await self._allocs(api, iid)}
            units = UnitReporter(iid, release.release_id, events, before)
            step = "write variables"
            try:
                async with asyncio.timeout(seconds(self.config.provision_timeout)):
                    if items:
                        await steps.enter(step)
                    for task, values in items.items():
                        path = variable_path(self.config, job_id(iid), task)
                        await api.put(
                            f"/v1/var/{path}",
                            {"Namespace": self.config.namespace, "Path": path, "Items": values},
                        )
                    step = "register job"
                    await steps.enter(step, release.release_id)
                    await api.put("/v1/jobs", {"Job": job})
                    step = "wait for healthy allocations"
                    await steps.enter(step)
                    await self._wait_version(
                        api, iid, step, release=release.release_id, watch=units.observe
                    )
                    await steps.finish()
            except BaseException as exc:
                await steps.fail(_why(exc, self.config.provision_timeout))
                # Nothing complete existed before (else we returned above): what is left
                # is this call's job or a partial one it replaced; neither may stay.
                await uncancellable(self._purge(api, iid))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                if isinstance(exc, TimeoutError):
                    limit = seconds(self.config.provision_timeout)
                    raise ProvisionFailed(iid, step, f"timed out after {limit:g}s") from None
                if isinstance(exc, Failed):
                    raise ProvisionFailed(iid, exc.step, exc.reason) from None
                if isinstance(exc, CtrlplaneError):
                    raise ProvisionFailed(iid, step, str(exc)) from exc
                raise
            return await self._provisioned(api, req)

    async def _complete(self, api: NomadClient, iid: str) -> bool:
        """Whether the instance's job ever ran healthy: a retained version is ``Stable``
        (its deployment succeeded). A job that never got there is partial: a provision
        that crashed half way, or whose allocations never became healthy."""
        return any(v.get("Stable") for v in await self._versions(api, iid))

    async def _provisioned(self, api: NomadClient, req: ProvisionRequest) -> ProvisionResult:
        iid = req.instance_id
        status = await self._status(api, iid)
        return ProvisionResult(
            provider_ref=job_id(iid),
            service_refs={s.name: s.name for s in req.services},
            endpoints=status.endpoints,
            metadata={"job_id": job_id(iid), "namespace": self.config.namespace},
        )

    async def deprovision(self, instance_id: str) -> None:
        """Purge the job (its allocations stop) and delete its Variables. Idempotent."""
        async with self._client() as api:
            await self._purge(api, instance_id)

    # -- lifecycle -----------------------------------------------------------------------

    async def stop(self, instance_id: str) -> None:
        """Stop the job (``DELETE`` without purge) and wait for its allocations to stop.
        No-op when stopped."""
        async with self._client() as api:
            job = await self._job(api, instance_id)
            if not job.get("Stop"):
                await api.delete(f"/v1/job/{job_id(instance_id)}")
            await self._bounded(
                self._wait_stopped(api, instance_id), self.config.deploy_timeout, "stop"
            )

    async def start(self, instance_id: str) -> None:
        """Re-register the full last job version with ``Stop = false`` and wait until it
        is healthy. No-op when running."""
        async with self._client() as api:
            job = await self._job(api, instance_id)
            if job.get("Stop"):
                body = resubmittable(job)
                body["Stop"] = False
                await api.put("/v1/jobs", {"Job": body})
            await self._bounded(
                self._settle(api, instance_id, "start"), self.config.deploy_timeout, "start"
            )

    async def restart(self, instance_id: str) -> None:
        """Restart the running tasks of every current allocation (in place)."""
        async with self._client() as api:
            job = await self._job(api, instance_id)
            for alloc in current_allocs(job, await self._allocs(api, instance_id)):
                if alloc.get("ClientStatus") == "running":
                    await api.put(f"/v1/client/allocation/{alloc['ID']}/restart", {})

    async def _status(self, api: NomadClient, iid: str) -> InstanceStatus:
        job = await self._job(api, iid)
        req = request_from_job(job)
        allocs = await self._allocs(api, iid)
        checks: dict[str, JSON] = {}
        full: list[JSON] = []
        if not job.get("Stop"):
            for alloc in current_allocs(job, allocs):
                if alloc.get("ClientStatus") == "running":
                    checks[str(alloc["ID"])] = await self._checks(api, str(alloc["ID"]))
                    full.append(await api.get(f"/v1/allocation/{alloc['ID']}"))
        return instance_status(req, job, allocs, checks, full)

    async def status(self, instance_id: str) -> InstanceStatus:
        """From the allocations of the current job version only (module docs of
        :mod:`~ctrlplane.provider.nomad.status`)."""
        async with self._client() as api:
            return await self._status(api, instance_id)

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance in the namespace (of ``tenant_id``, if given), oldest first:
        one ``/v1/jobs`` call that the agent filters on the jobs' meta (see
        :mod:`~ctrlplane.provider.nomad.listing`)."""
        async with self._client() as api:
            stubs = await api.get("/v1/jobs", meta="true", filter=list_filter(tenant_id))
        return summaries(stubs or [])

    # -- releases ------------------------------------------------------------------------

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first, read from the job versions the server still
        holds (so every listed release can be rolled back to): at most
        ``release_history``, and never more than the server's ``job_tracked_versions``
        keeps; versions whose deployment never succeeded are not listed."""
        async with self._client() as api:
            return [r for r, _ in await self._history(api, instance_id)]

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll the listed services out with Nomad's deployments, gated by service checks.

        ``rolling``: the update stanza replaces ``max_parallel`` allocations at a time,
        each healthy (checks passing) before the next. ``canary``: ``canary_count``
        canaries are placed beside the old allocations; once healthy and still healthy
        after ``canary_observation`` they are promoted (the rest roll). ``blue-green``:
        as many canaries as allocations (a full new set), promoted in one step, which
        stops the old set. A failed gate, a failed allocation, the deadline or
        cancellation fails the deployment, restores the previous version and raises
        :class:`DeployFailed` carrying the check results seen; when restoring fails too,
        ``rolled_back`` is false and the reason says why. A ``release_id`` already
        carried by a retained job version is refused with :class:`InvalidSpec` before
        anything changes. ``events`` (beyond Go) receives progress events; blue-green's
        ``TrafficSwitched`` right after the promotion (the switch)."""
        require_capability(self, Capability.DEPLOY)
        require_capability(self, strategy_capability(req.strategy))
        validate_deploy(req)
        iid = req.instance_id
        async with self._client() as api:
            job = await self._job(api, iid)
            current = request_from_job(job)
            validate_deploy(req, [s.name for s in current.services])
            known = [(v.get("Meta") or {}).get(RELEASE, "") for v in await self._versions(api, iid)]
            require_new_release_id(iid, req.release_id, known)
            changes = {s.name: s for s in req.services}
            services = []
            for svc in current.services:
                change = changes.get(svc.name)
                if change is not None:
                    update: JSON = {"image": change.image, "env": dict(change.env)}
                    if change.health_check is not None:
                        update["health_check"] = change.health_check
                    svc = svc.model_copy(update=update)
                services.append(svc)
            new = current.model_copy(update={"services": services})
            check_supported(new, self.config)
            release = ReleaseMeta(
                req.release_id or new_id(RELEASE_PREFIX), datetime.now(UTC), str(req.strategy)
            )
            await self._roll_out(api, job, new, release, DeployStrategy(req.strategy), events)
        return DeployResult(
            provider_ref=job_id(req.instance_id), status="successful", release_id=release.release_id
        )

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Register the job version that carries ``release_id`` again, recorded as a new
        release (``rollback_of``); unknown or pruned: :class:`ReleaseNotFound`."""
        require_capability(self, Capability.DEPLOY)
        async with self._client() as api:
            job = await self._job(api, instance_id)
            history = await self._history(api, instance_id)
            match = next((v for r, v in history if r.release_id == release_id), None)
            if match is None:
                raise ReleaseNotFound(
                    instance_id, release_id, known=[r.release_id for r, _ in history]
                )
            source = next(
                (v for v in await self._versions(api, instance_id) if v.get("Version") == match),
                None,
            )
            if source is None:  # pruned by a registration since the history was read
                raise ReleaseNotFound(instance_id, release_id, known=[])
            target = request_from_job(source)
            release = ReleaseMeta(
                new_id(RELEASE_PREFIX),
                datetime.now(UTC),
                str(DeployStrategy.ROLLING),
                rollback_of=release_id,
            )
            await self._roll_out(api, job, target, release, DeployStrategy.ROLLING, events)

    # -- scale / resources ---------------------------------------------------------------

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the group count (``replicas``) and the main task's CPU, memory and disk;
        a 0 leaves that setting unchanged. Not a release: the live release stays."""
        require_capability(self, Capability.SCALE)
        validate_scale(spec)
        async with self._client() as api:
            job = await self._job(api, instance_id)
            req = request_from_job(job)
            res = req.main.resources
            changed = res.model_copy(
                update={
                    k: v
                    for k, v in (
                        ("replicas", spec.replicas),
                        ("cpu_millis", spec.cpu_millis),
                        ("memory_mb", spec.memory_mb),
                        ("disk_mb", spec.disk_mb),
                    )
                    if v
                }
            )
            services = [
                s.model_copy(update={"resources": changed}) if s.role is ServiceRole.MAIN else s
                for s in req.services
            ]
            new = req.model_copy(update={"services": services})
            check_supported(new, self.config)
            body = translate(new, release_meta(job), self.config, created=created_at(job))
            await api.put("/v1/jobs", {"Job": body})
            await self._bounded(
                self._settle(api, instance_id, "scale"), self.config.deploy_timeout, "scale"
            )

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Allocation stats summed over the current allocations' tasks; the limit is the
        sum of the running tasks' memory. Nomad reports no network counters (0)."""
        async with self._client() as api:
            job = await self._job(api, instance_id)
            limits = {
                t["Name"]: int((t.get("Resources") or {}).get("MemoryMB", 0))
                for t in job["TaskGroups"][0]["Tasks"]
            }
            cpu = 0.0
            used = limit = 0
            for alloc in current_allocs(job, await self._allocs(api, instance_id)):
                if alloc.get("ClientStatus") != "running":
                    continue
                stats = await api.get(f"/v1/client/allocation/{alloc['ID']}/stats")
                for name, task in ((stats or {}).get("Tasks") or {}).items():
                    usage = task.get("ResourceUsage") or {}
                    rss = int((usage.get("MemoryStats") or {}).get("RSS", 0))
                    cpu += float((usage.get("CpuStats") or {}).get("Percent", 0.0))
                    used += rss
                    state = ((alloc.get("TaskStates") or {}).get(name) or {}).get("State")
                    if state == "running":
                        limit += limits.get(name, 0)
        return ResourceUsage(
            cpu_percent=cpu,
            memory_used_mb=math.ceil(used / (1024 * 1024)),
            memory_limit_mb=limit,
        )

    # -- logs / exec ---------------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Lines of one service (default main) from the client fs logs API: stdout and
        stderr, merged over the current allocations (or one ``replica``); ``tail`` reads
        from the end by offset; ``follow`` keeps streaming until the allocations stop;
        ``since`` is honoured only where it is exact: at or before the task's first start
        (every line qualifies); a later ``since`` raises :class:`NotSupported` when the
        stream opens, since Nomad keeps no per-line timestamps (:func:`check_since`)."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            require_capability(self, Capability.LOGS)
            async with self._client() as api:
                job = await self._job(api, instance_id)
                req = request_from_job(job)
                service = options.service_name or req.main.name
                if service not in {s.name for s in req.services}:
                    raise InvalidSpec(
                        [Problem("service_name", f"no service {service!r} in {instance_id!r}")],
                        subject="log options",
                    )
                allocs = await self._log_allocs(api, instance_id, job)
            if options.replica is not None:
                allocs = [a for a in allocs if alloc_replica(a) == options.replica]
            check_since(allocs, service, options.since)
            return self._read_logs(allocs, service, options)

        return LogStream(opener)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service's task (default main) of one allocation
        (``replica``, default the first running) over the exec websocket."""
        require_capability(self, Capability.EXEC)
        command = req.command
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(a, str) for a in command)
        ):
            raise InvalidSpec(
                [Problem("command", "must be a non-empty list of arguments, not a shell string")],
                subject="exec request",
            )
        async with self._client() as api:
            job = await self._job(api, instance_id)
            spec = request_from_job(job)
            service = req.service or spec.main.name
            if service not in {s.name for s in spec.services}:
                raise InvalidSpec(
                    [Problem("service", f"no service {service!r} in {instance_id!r}")],
                    subject="exec request",
                )
            allocs = [
                a
                for a in current_allocs(job, await self._allocs(api, instance_id))
                if a.get("ClientStatus") == "running"
            ]
            if req.replica is not None:
                allocs = [a for a in allocs if alloc_replica(a) == req.replica]
            if not allocs:
                raise BackendError(
                    f"no running allocation of {instance_id!r} to exec in", backend=BACKEND
                )
            out = await api.exec(
                str(allocs[0]["ID"]), service, list(command), req.stdin or b"", req.tty
            )
        return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)
