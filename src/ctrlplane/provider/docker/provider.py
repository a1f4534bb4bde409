"""``DockerProvider``: the ``Provider`` contract on one Docker engine.

Model (see :mod:`ctrlplane.provider.docker.translate` for the details): one instance is
one bridge network plus, per replica unit, one container per service; the services of a
unit share a network namespace; all state lives in engine labels, so a fresh provider
object manages instances created by another. Every engine call is label-filtered by the
instance ID (never a scan of the whole engine).

Declared capabilities: ``provision``; ``deploy`` with ``strategy:rolling`` (one replica
unit at a time, each gated by the changed services' health checks, rolled back on a
failed gate), ``strategy:canary`` (the same after an observed canary) and
``strategy:blue-green`` (a whole gated new set, then one traffic switch), see
:mod:`~ctrlplane.provider.docker.rollout`; ``rollback`` to any retained release (see
:mod:`~ctrlplane.provider.docker.history`); ``scale``, ``logs``, ``exec``, ``volumes``.
Not declared: GPUs, autoscaling, custom domains, TLS.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    InstanceNotFound,
    InvalidSpec,
    Problem,
    ProvisionFailed,
    ReleaseNotFound,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability, require_capability, strategy_capability
from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.engine import Engine, open_engine
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.history import (
    parse_records,
    record_filter,
)
from ctrlplane.provider.docker.logs import LogSource, read_logs
from ctrlplane.provider.docker.materials import ServiceMaterials
from ctrlplane.provider.docker.rollout import Rollout
from ctrlplane.provider.docker.status import cut_off, instance_status
from ctrlplane.provider.docker.translate import (
    Translator,
    Workload,
    check_docker,
    limits,
    netns_owner,
    scaled,
)
from ctrlplane.provider.docker.units import StepFailed, UnitRunner, first_error, uncancellable
from ctrlplane.provider.docker.usage import sum_usage
from ctrlplane.provider.enums import DeployStrategy, InstanceState, ServiceRole
from ctrlplane.provider.events import StepTracker, Subscriber
from ctrlplane.provider.health import GateOutcome, ProbeResult
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
    worst_state,
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
from ctrlplane.secrets import SecretResolver

__all__ = ["DockerProvider"]

JSON = dict[str, Any]


_CAPABILITIES = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.ROLLING,
    Capability.BLUE_GREEN,
    Capability.CANARY,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
)


FAILURE_LINGER = 1.0
"""Seconds a failed provision keeps sweeping for objects whose creation was in flight."""


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


def _why(exc: BaseException, steps: StepTracker) -> str:
    """One line on why the open step ended badly (no secrets: engine and step errors
    are redacted where they are made)."""
    err = first_error(exc)
    if isinstance(err, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
        return f"timed out in step {steps.current}"
    return str(err) or type(err).__name__


class DockerProvider:
    """The Docker backend. Holds configuration only; no per-instance state.

    ``secrets`` resolves the services' secret references at provision, deploy and scale
    time; without it a request that references a secret fails before any side effect.
    """

    def __init__(
        self, config: DockerConfig | None = None, *, secrets: SecretResolver | None = None
    ) -> None:
        self.config = config if config is not None else DockerConfig.from_env()
        self._secrets = secrets
        self._tr = Translator(self.config)
        self._engine_version = ""
        self._api_version = self.config.api_version

    def __repr__(self) -> str:
        return f"DockerProvider(docker_host={self.config.docker_host!r})"

    # -- plumbing ---------------------------------------------------------------------

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[Rollout]:
        """A session on a fresh engine client for one operation (the API version is
        negotiated once per provider object, then reused)."""
        async with open_engine(self.config.docker_host, self._api_version) as engine:
            if self._api_version == "auto":
                version = await engine.version()
                self._api_version = "v" + str(version.get("ApiVersion", "1.41"))
                self._engine_version = str(version.get("Version", ""))
                engine.client.api_version = self._api_version
            yield Rollout(engine, self._tr, self._secrets)

    # -- Provider: metadata -----------------------------------------------------------

    def info(self) -> ProviderInfo:
        """Name ``docker``, the engine's version (known after the first engine call)."""
        return ProviderInfo(name=NAME, version=self._engine_version, region=self.config.region)

    def capabilities(self) -> Sequence[Capability]:
        """Only what works and is tested on a real engine (see the module docstring)."""
        return _CAPABILITIES

    def render(self, req: ProvisionRequest) -> list[JSON]:
        """The engine objects ``provision`` would create for ``req``: the network, the
        named volumes and the container create bodies, in creation order. No I/O.

        Validates first. Secrets are not resolved: secret env variables and secret files
        are absent from the bodies (they are added when the containers are created).
        """
        validate_request(req)
        replicas = max(req.main.resources.replicas, 1)
        check_docker(req.services, replicas)
        wl = Workload.from_request(req, "rel_" + "0" * 26)
        out: list[JSON] = [
            {"Kind": "network", "Body": self._tr.network_config(wl, "1970-01-01T00:00:00+00:00")}
        ]
        volumes = {v["Name"]: v for r in range(wl.replicas) for v in self._tr.volume_configs(wl, r)}
        out += [{"Kind": "volume", "Body": v} for v in volumes.values()]
        for replica in range(wl.replicas):
            for svc in wl.services:
                out.append(
                    {
                        "Kind": "container",
                        "Name": self._tr.container_name(wl, replica, svc.name),
                        "Body": self._tr.container_config(wl, svc, replica),
                    }
                )
        return out

    async def health_check(self) -> HealthStatus:
        """Ping the engine; never raises (an unreachable engine is ``healthy=False``)."""
        started = time.monotonic()
        try:
            async with self._session() as ses:
                began = time.monotonic()
                await ses.engine.ping()
                latency = time.monotonic() - began
        except CtrlplaneError as exc:
            return HealthStatus(
                healthy=False,
                message=str(exc),
                latency=timedelta(seconds=time.monotonic() - started),
                checked_at=datetime.now(UTC),
            )
        return HealthStatus(
            healthy=True,
            message=f"Docker engine {self._engine_version} (API {self._api_version})",
            latency=timedelta(seconds=latency),
            checked_at=datetime.now(UTC),
        )

    # -- Provider: provision / deprovision ----------------------------------------------

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance and wait until its services run (see the module docstring).

        Validates first (including what Docker cannot do, e.g. a fixed host port with
        several replicas); idempotent per instance ID (an existing complete instance is
        returned as it is; a partial one is replaced, keeping its volumes); on failure,
        timeout or cancellation everything this call created is removed and
        :class:`ProvisionFailed` names the step (cancellation re-raises after cleanup).
        ``events`` receives step pairs and a ``UnitStarted`` per started container.
        """
        require_capability(self, Capability.PROVISION)
        validate_request(req)
        replicas = max(req.main.resources.replicas, 1)
        check_docker(req.services, replicas)
        if any(s.volumes for s in req.services):
            require_capability(self, Capability.VOLUMES)
        iid = req.instance_id
        wl = Workload.from_request(req, new_id(RELEASE_PREFIX))
        async with self._session() as ses:
            existing = await ses.inspect_all(iid)
            if existing:
                current = self._tr.workload_from_containers(existing)
                if self._complete(ses, current, existing):
                    return ses.result(current, existing)
            steps = StepTracker(iid, events)
            await steps.enter("resolve secrets")
            try:
                materials = await ses.materials(wl)
            except CtrlplaneError as exc:
                await steps.finish(ok=False, detail=str(exc))
                raise ProvisionFailed(iid, "resolve secrets", str(exc)) from exc
            filters = self._tr.labels.instance_filter(iid)
            kept = {v["Name"] for v in await ses.engine.list_volumes(filters)}
            try:
                async with asyncio.timeout(_seconds(self.config.provision_timeout)):
                    await self._provision_steps(ses, wl, materials, existing, steps)
            except BaseException as exc:
                await uncancellable(steps.finish(ok=False, detail=_why(exc, steps)))
                cleanup = ""
                try:
                    await uncancellable(ses.purge(iid, kept, linger=FAILURE_LINGER))
                except CtrlplaneError as failed:
                    cleanup = f"; cleanup also failed, objects may be left: {failed}"
                err = self._provision_error(iid, exc, steps)
                if cleanup and isinstance(err, ProvisionFailed):
                    err = ProvisionFailed(iid, err.step, err.reason + cleanup)
                raise err from None
            await steps.finish()
            inspects = await ses.inspect_all(iid)
        return ses.result(wl, inspects)

    def _complete(self, ses: Rollout, wl: Workload, inspects: Sequence[JSON]) -> bool:
        """Whether every container of every present unit exists."""
        names = {str(i.get("Name", "")).lstrip("/") for i in inspects}
        units = ses.units(inspects)
        expected = {self._tr.container_name(wl, r, s.name) for r in units for s in wl.services}
        return names == expected and len(units) >= 1

    def _provision_error(self, iid: str, exc: BaseException, steps: StepTracker) -> BaseException:
        err = first_error(exc)
        if isinstance(err, asyncio.CancelledError):
            return err
        if isinstance(exc, TimeoutError) or isinstance(err, TimeoutError):
            timeout = _seconds(self.config.provision_timeout)
            return ProvisionFailed(iid, steps.current, f"timed out after {timeout:g}s")
        if isinstance(err, StepFailed):
            return ProvisionFailed(iid, err.step, err.reason)
        if isinstance(err, BackendUnavailable):
            return err
        if isinstance(err, CtrlplaneError):
            return ProvisionFailed(iid, steps.current, str(err))
        return err

    async def _provision_steps(
        self,
        ses: Rollout,
        wl: Workload,
        materials: Mapping[str, ServiceMaterials],
        existing: Sequence[JSON],
        steps: StepTracker,
    ) -> None:
        iid = wl.instance_id
        filters = self._tr.labels.instance_filter(iid)
        await steps.enter("pull images")
        await ses.pull_images(wl.services, materials)
        if existing:
            await steps.enter("remove partial leftovers")
            await asyncio.gather(*(ses.engine.remove_container(i["Id"]) for i in existing))
        if not await ses.engine.list_networks(filters):
            await steps.enter("create network")
            created = datetime.now(UTC).isoformat()
            await ses.create_network(wl, created)
        await steps.enter("create volumes")
        await ses.ensure_volumes(wl, range(wl.replicas))
        await steps.enter("start replica units")
        runner = UnitRunner(ses.engine, self._tr, wl, materials, events=steps.events)
        async with asyncio.TaskGroup() as tg:
            for replica in range(wl.replicas):
                tg.create_task(runner.bring_up(replica))
        await steps.enter("check services stay up")
        await ses.settle(runner, wl, range(wl.replicas))
        await steps.enter("record release")
        await ses.record(wl, wl.release_id, "")

    async def deprovision(self, instance_id: str) -> None:
        """Remove every container, volume and the network of the instance. Idempotent."""
        async with self._session() as ses:
            await ses.purge(instance_id, set())

    # -- Provider: lifecycle ------------------------------------------------------------

    async def start(self, instance_id: str) -> None:
        """Start the long-lived services of every unit in dependency order (inits ran
        already). No-op for running services. A unit whose namespace owner is down, or
        whose owner restarted after its joined services (the engine restarted it after a
        crash, which left them cut off), has its joined services stopped first, so they
        rejoin the owner's current namespace."""
        async with self._session() as ses:
            wl, inspects = await ses.load(instance_id)
            runner = UnitRunner(ses.engine, self._tr, wl, {})
            owner = netns_owner(wl.services).name
            stale = cut_off(inspects)

            def replica(info: JSON) -> int:
                return int(info["Config"]["Labels"].get(self._tr.labels.replica, "0"))

            down = {
                replica(i)
                for i in inspects
                if i["Config"]["Labels"].get(self._tr.labels.service) == owner
                and not (i.get("State") or {}).get("Running")
            }
            down |= {replica(i) for i in inspects if i.get("Id") in stale}
            joiners = [s.name for s in wl.services if s.role is not ServiceRole.INIT]
            joiners = [n for n in joiners if n != owner]
            await asyncio.gather(*(runner.stop_long_lived(r, only=joiners) for r in down))
            try:
                async with asyncio.TaskGroup() as tg:
                    for r in ses.units(inspects):
                        tg.create_task(runner.start_long_lived(r, create=False))
            except BaseExceptionGroup as group:
                raise self._op_error(instance_id, "start", group) from None

    async def stop(self, instance_id: str) -> None:
        """Stop gracefully (SIGTERM, SIGKILL after ``stop_timeout``) in reverse
        dependency order. No-op for stopped services."""
        async with self._session() as ses:
            wl, inspects = await ses.load(instance_id)
            runner = UnitRunner(ses.engine, self._tr, wl, {})
            await asyncio.gather(*(runner.stop_long_lived(r) for r in ses.units(inspects)))

    async def restart(self, instance_id: str) -> None:
        """Stop, then start."""
        await self.stop(instance_id)
        await self.start(instance_id)

    def _op_error(self, iid: str, op: str, exc: BaseException) -> BaseException:
        err = first_error(exc)
        if isinstance(err, StepFailed):
            return BackendError(f"{op} of {iid!r} failed at {err.step}: {err.reason}", backend=NAME)
        return err

    # -- Provider: status ---------------------------------------------------------------

    async def status(self, instance_id: str) -> InstanceStatus:
        """Per-service state (worst-of over replicas), worst-of aggregate, endpoints."""
        async with self._session() as ses:
            inspects = await ses.inspect_all(instance_id)
            if not inspects:
                nets = await ses.engine.list_networks(self._tr.labels.instance_filter(instance_id))
                if nets:
                    return InstanceStatus(
                        state=InstanceState.PROVISIONING, message="no containers yet"
                    )
                raise InstanceNotFound(instance_id, provider=NAME)
            wl = self._tr.workload_from_containers(inspects)
            probes = await self._probe_running(ses.engine, wl, inspects)
        return instance_status(
            [s.name for s in wl.services],
            {s.name: s.role for s in wl.services},
            inspects,
            probes,
            label_prefix=self.config.label_prefix,
            endpoints=self._tr.endpoints(wl, inspects),
            metadata={
                "network": self._tr.names.network(instance_id),
                "release_id": wl.release_id,
                "replicas": str(len(ses.units(inspects))),
                "kind": str(wl.kind),
            },
        )

    async def _probe_running(
        self, engine: Engine, wl: Workload, inspects: Sequence[JSON]
    ) -> dict[tuple[str, int], ProbeResult]:
        """One probe of every running long-lived container whose service has a health
        check (concurrently): a service is ready only while its check passes."""
        keys = self._tr.labels
        jobs: dict[tuple[str, int], Awaitable[GateOutcome]] = {}
        for info in inspects:
            labels = info["Config"]["Labels"]
            if not (info.get("State") or {}).get("Running"):
                continue
            name = labels.get(keys.service, "")
            try:
                svc = wl.service(name)
            except KeyError:
                continue
            if svc.health_check is None or svc.role is ServiceRole.INIT:
                continue
            replica = int(labels.get(keys.replica, "0"))
            jobs[(name, replica)] = gate_service(
                engine,
                svc.health_check.model_copy(update={"retries": 1}),
                service=name,
                replica=replica,
                address=self._tr.unit_address(wl, inspects, replica),
                container=str(info["Id"]),
            )
        outcomes = await asyncio.gather(*jobs.values())
        return {
            key: outcome.results[-1]
            for key, outcome in zip(jobs, outcomes, strict=True)
            if outcome.results
        }

    async def list_instances(self, tenant_id: str | None = None) -> list[InstanceSummary]:
        """Every instance on the engine (of ``tenant_id``), oldest first; one list call."""
        keys = self._tr.labels
        filters = {"label": [f"{keys.managed}=true"]}
        if tenant_id is not None:
            filters["label"].append(f"{keys.tenant}={tenant_id}")
        async with self._session() as ses:
            found = await ses.engine.list_containers(filters)
        by_instance: dict[str, list[JSON]] = {}
        for c in found:
            iid = c["Labels"].get(keys.instance)
            if iid:
                by_instance.setdefault(iid, []).append(c)
        out: list[InstanceSummary] = []
        for iid, containers in by_instance.items():
            labels = containers[0]["Labels"]
            meta = _json_label(labels.get(keys.workload, "{}"))
            states = []
            for c in containers:
                running = c.get("State") == "running"
                init = c["Labels"].get(keys.role) == str(ServiceRole.INIT)
                if init:
                    continue
                states.append(InstanceState.RUNNING if running else InstanceState.STOPPED)
            created = min(int(c.get("Created") or 0) for c in containers)
            out.append(
                InstanceSummary(
                    instance_id=iid,
                    tenant_id=labels.get(keys.tenant, ""),
                    name=str(meta.get("name", "")),
                    state=worst_state(states),
                    release_id=max(c["Labels"].get(keys.release, "") for c in containers),
                    created_at=datetime.fromtimestamp(created, UTC),
                )
            )
        out.sort(key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.instance_id))
        return out

    # -- Provider: deploy / rollback -----------------------------------------------------

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out new image/env of the listed services, one replica unit at a time.

        Each unit's changed containers are replaced (the whole unit when its namespace
        owner or an init changes); if a changed service has a health check, the new
        unit must pass it before the next unit is touched. A failed gate, an error or a
        cancellation restores the previous version on every touched unit; then
        :class:`DeployFailed` carries the probe evidence (cancellation re-raises).
        Unlisted services keep their version. Progress events (beyond Go) go to
        ``events``: steps, units started, probe results, a rollback.
        """
        require_capability(self, Capability.DEPLOY)
        require_capability(
            self, strategy_capability(req.strategy), detail=f"strategy {req.strategy}"
        )
        async with self._session() as ses:
            wl, inspects = await ses.load(req.instance_id)
            validate_deploy(req, [s.name for s in wl.services])
            if req.release_id:
                volumes = await ses.engine.list_volumes(record_filter(self._tr, req.instance_id))
                known = [r.release_id for r in parse_records(self._tr, volumes)]
                require_new_release_id(req.instance_id, req.release_id, known)
            release = req.release_id or new_id(RELEASE_PREFIX)
            await ses.roll_out(
                wl, inspects, req.services, release, str(req.strategy), exact=False, events=events
            )
        return DeployResult(
            provider_ref=self._tr.names.network(req.instance_id),
            status="deployed",
            release_id=release,
        )

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest (live) first; a fresh provider reads the same."""
        async with self._session() as ses:
            volumes = await ses.engine.list_volumes(record_filter(self._tr, instance_id))
            if not volumes:
                await ses.load(instance_id)  # InstanceNotFound when gone
        return parse_records(self._tr, volumes)

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore exactly the snapshot of ``release_id`` with a rolling deploy, recorded
        as a new release whose ``rollback_of`` names it. Unknown or pruned release:
        :class:`ReleaseNotFound`, and nothing changes."""
        require_capability(self, Capability.DEPLOY)
        require_capability(self, strategy_capability(DeployStrategy.ROLLING))
        async with self._session() as ses:
            wl, inspects = await ses.load(instance_id)
            volumes = await ses.engine.list_volumes(record_filter(self._tr, instance_id))
            history = parse_records(self._tr, volumes)
            target = next((r for r in history if r.release_id == release_id), None)
            if target is None:
                raise ReleaseNotFound(
                    instance_id, release_id, known=[r.release_id for r in history]
                )
            current = {s.name for s in wl.services}
            await ses.roll_out(
                wl,
                inspects,
                [s for s in target.services if s.name in current],
                new_id(RELEASE_PREFIX),
                str(DeployStrategy.ROLLING),
                exact=True,
                rollback_of=release_id,
                events=events,
            )

    # -- Provider: scale / resources ------------------------------------------------------

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the main service's CPU/memory limits in place and the replica count.

        New units start in order (inits first); surplus units (highest numbers) are
        stopped and removed (a stateful set keeps their volumes until deprovision).
        A field of 0 leaves that setting unchanged.
        """
        require_capability(self, Capability.SCALE)
        validate_scale(spec)
        if spec.disk_mb or spec.gpu:
            raise InvalidSpec(
                [Problem("disk_mb" if spec.disk_mb else "gpu", "not supported by Docker")],
                subject="scale request",
            )
        async with self._session() as ses:
            wl, inspects = await ses.load(instance_id)
            units = ses.units(inspects)
            main = wl.main
            target = spec.replicas or len(units)
            new_main = scaled(main, spec)
            services = [new_main if s.name == main.name else s for s in wl.services]
            check_docker(services, target)
            if spec.cpu_millis or spec.memory_mb:
                body: JSON = {}
                lim = limits(new_main.resources)
                if spec.cpu_millis:
                    body["NanoCpus"] = lim["NanoCpus"]
                if spec.memory_mb:
                    body["Memory"] = lim["Memory"]
                    body["MemorySwap"] = lim["MemorySwap"]
                refs = [
                    i["Id"]
                    for i in inspects
                    if i["Config"]["Labels"].get(self._tr.labels.service) == main.name
                ]
                await asyncio.gather(*(ses.engine.update_container(ref, body) for ref in refs))
            wl = wl.with_services(services, wl.release_id)
            if target > len(units):
                await self._add_units(ses, wl, inspects, range(len(units), target))
            elif target < len(units):
                runner = UnitRunner(ses.engine, self._tr, wl, {})
                for r in sorted(units)[target:][::-1]:
                    await runner.stop_long_lived(r)
                    await runner.remove_services(r, [s.name for s in wl.services])

    async def _add_units(
        self, ses: Rollout, wl: Workload, inspects: Sequence[JSON], replicas: range
    ) -> None:
        contents = await ses.config_contents(wl, inspects)
        materials = await ses.materials(wl, contents)
        await ses.ensure_volumes(wl, replicas)
        runner = UnitRunner(ses.engine, self._tr, wl, materials)
        for r in replicas:
            try:
                await runner.bring_up(r)
                await ses.settle(runner, wl, [r])
            except BaseException as exc:
                await uncancellable(runner.remove_services(r, [s.name for s in wl.services]))
                err = first_error(exc)
                if isinstance(err, StepFailed):
                    raise BackendError(
                        f"scale of {wl.instance_id!r} failed at {err.step}: {err.reason}",
                        backend=NAME,
                    ) from None
                raise err from None

    async def resources(self, instance_id: str) -> ResourceUsage:
        """CPU (100 = one core), memory and network summed over running containers."""
        async with self._session() as ses:
            _, inspects = await ses.load(instance_id)
            running = [i for i in inspects if (i.get("State") or {}).get("Running")]
            stats = await asyncio.gather(*(ses.engine.stats(i["Id"]) for i in running))
        samples = []
        for info, sample in zip(running, stats, strict=True):
            if sample is None:
                continue
            configured = int((info.get("HostConfig") or {}).get("Memory") or 0)
            owns = info["Config"]["Labels"].get(self._tr.labels.netns) in ("owner", "own")
            samples.append((sample, configured, owns))
        return sum_usage(samples)

    # -- Provider: logs / exec ------------------------------------------------------------

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Records of one service (default main), all replicas or ``opts.replica``."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            require_capability(self, Capability.LOGS)
            stack = AsyncExitStack()
            ses = await stack.enter_async_context(self._session())
            try:
                wl, inspects = await ses.load(instance_id)
                service = options.service_name or wl.main.name
                sources = self._log_sources(wl, inspects, service, options.replica)
            except BaseException:
                await stack.aclose()
                raise

            async def records() -> AsyncIterator[LogRecord]:
                try:
                    async for rec in read_logs(
                        ses.engine,
                        sources,
                        follow=options.follow,
                        tail=options.tail,
                        since=options.since,
                    ):
                        yield rec
                finally:
                    await stack.aclose()

            return records()

        return LogStream(opener)

    def _log_sources(
        self, wl: Workload, inspects: Sequence[JSON], service: str, replica: int | None
    ) -> list[LogSource]:
        try:
            wl.service(service)
        except KeyError:
            known = ", ".join(s.name for s in wl.services)
            raise InvalidSpec(
                [Problem("service_name", f"no service {service!r} (services: {known})")],
                subject="log options",
            ) from None
        keys = self._tr.labels
        sources = []
        for i in inspects:
            labels = i["Config"]["Labels"]
            r = int(labels.get(keys.replica, "0"))
            if labels.get(keys.service) != service or (replica is not None and r != replica):
                continue
            tty = bool((i.get("Config") or {}).get("Tty"))
            sources.append(LogSource(i["Id"], service, r, tty))
        if not sources:
            raise InvalidSpec(
                [Problem("replica", f"no replica {replica} of service {service!r}")],
                subject="log options",
            )
        return sorted(sources, key=lambda s: s.replica)

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` in a service (default main) of a replica (default 0)."""
        require_capability(self, Capability.EXEC)
        argv = req.command
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise InvalidSpec(
                [Problem("command", "must be a non-empty list of arguments, not a shell string")],
                subject="exec request",
            )
        async with self._session() as ses:
            wl, inspects = await ses.load(instance_id)
            service = req.service or wl.main.name
            replica = req.replica if req.replica is not None else min(ses.units(inspects))
            try:
                svc = wl.service(service)
            except KeyError:
                known = ", ".join(s.name for s in wl.services)
                raise InvalidSpec(
                    [Problem("service", f"no service {service!r} (services: {known})")],
                    subject="exec request",
                ) from None
            ref = self._tr.container_name(wl, replica, svc.name)
            info = await ses.engine.inspect_container(ref)
            if info is None:
                raise InvalidSpec(
                    [Problem("replica", f"no replica {replica} of service {service!r}")],
                    subject="exec request",
                )
            if not (info.get("State") or {}).get("Running"):
                raise BackendError(
                    f"cannot exec in service {service!r} (replica {replica}) of "
                    f"{instance_id!r}: it is not running",
                    backend=NAME,
                )
            out = await ses.engine.exec(ref, list(req.command), stdin=req.stdin, tty=req.tty)
        return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)


class _GateFailed(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = f"health gate failed: {reason}"
        super().__init__(self.reason)


def _json_label(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
