"""``FakeProvider``: an in-memory provider for users' unit tests (like httpx's MockTransport).

It implements the whole :class:`~ctrlplane.provider.Provider` contract plus
:class:`~ctrlplane.provider.HealthChecker` and
:class:`~ctrlplane.provider.releases.ReleaseHistory`, and passes the conformance suite:
validation before side effects, capability checks before work, idempotency, cleanup of
failed provisions, ordering, status, releases and gated strategies, scale, resources,
logs, exec and secrets. State lives in a :class:`~ctrlplane.testing.FakeBackend`; provider
objects are stateless, so several providers on one backend see the same instances::

    backend = FakeBackend()
    provider = FakeProvider(backend, secrets=MappingResolver({"token": "s3cret"}))
    await provider.provision(request)
    assert (await FakeProvider(backend).status(request.instance_id)).ready

What containers do is described by :class:`~ctrlplane.testing.FakeImage` behaviours;
exec and start commands run in the fake shell (:mod:`ctrlplane.testing.shell`).
Faults are armed through ``backend.faults`` (:class:`~ctrlplane.testing.Faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta

from ctrlplane._version import __version__
from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    DeployFailed,
    InstanceNotFound,
    InvalidSpec,
    Problem,
    ProvisionFailed,
)
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.events import StepFinished, StepStarted, Subscriber
from ctrlplane.provider.leases import InstanceLocks
from ctrlplane.provider.operations import (
    Operation,
    Operations,
)
from ctrlplane.provider.preflight import Preflight
from ctrlplane.provider.releases import (
    DEFAULT_HISTORY_DEPTH,
    DEPLOYED,
    Release,
    ReleasePlan,
    plan_deploy,
    plan_rollback,
)
from ctrlplane.provider.reporting import with_lease
from ctrlplane.provider.results import (
    DeployResult,
    ExecResult,
    HealthStatus,
    InstanceStatus,
    LogRecord,
    ProviderInfo,
    ProvisionResult,
    ResourceUsage,
    UnitStatus,
)
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    LogOptions,
    ProvisionRequest,
    ResourceSpec,
    ServiceSpec,
)
from ctrlplane.provider.streams import LogStream
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.fake_logs import stream_records
from ctrlplane.testing.faults import PROVISION_STEPS
from ctrlplane.testing.records import FakeContainer, InstanceRecord
from ctrlplane.testing.rollout import RolloutSettings, deploy_plan
from ctrlplane.testing.runtime import (
    Runner,
    SecretMaterial,
    UnitFailed,
    build_unit,
    redact,
    resolve_secrets,
    stop_container,
    stop_unit,
)
from ctrlplane.testing.sessions import FakeSession
from ctrlplane.testing.shell import run_command
from ctrlplane.testing.status import endpoints, instance_status, unit_statuses, usage

__all__ = ["FAKE_CAPABILITIES", "FakeProvider"]

FAKE_CAPABILITIES: tuple[Capability, ...] = (
    Capability.PROVISION,
    Capability.DEPLOY,
    Capability.SCALE,
    Capability.LOGS,
    Capability.EXEC,
    Capability.VOLUMES,
    Capability.ROLLING,
    Capability.BLUE_GREEN,
    Capability.CANARY,
)
"""Everything the fake honours (it has no GPUs, autoscaling, domains or TLS)."""


class FakeProvider:
    """An in-memory provider on a shared :class:`FakeBackend` (a new one if not given).

    ``capabilities`` narrows what it declares (to test callers' capability handling; the
    undeclared methods raise ``NotSupported``). ``time_scale`` multiplies every wait
    (probe intervals, ``run_for`` of images, the canary observation), so specs with
    real-world intervals run fast in tests. ``history_depth`` is how many releases are kept.
    Mutating calls hold the instance's operation lease (shared through the backend):
    ``lease_ttl`` is its duration, ``lock_wait`` how long a call waits for another
    operation on the same instance before ``InstanceBusy``.
    """

    def __init__(
        self,
        backend: FakeBackend | None = None,
        *,
        secrets: SecretResolver | None = None,
        name: str = "fake",
        region: str = "local",
        capabilities: Iterable[Capability] | None = None,
        history_depth: int = DEFAULT_HISTORY_DEPTH,
        time_scale: float = 1.0,
        canary_observation: float = 0.1,
        progress_deadline: float = 60.0,
        lease_ttl: float = 30.0,
        lock_wait: float = 30.0,
    ) -> None:
        if history_depth < 1:
            raise ValueError("history_depth must be >= 1")
        self.backend = backend if backend is not None else FakeBackend()
        locks = InstanceLocks(
            self.backend.leases, provider=name, ttl=lease_ttl, wait=lock_wait, poll=0.01
        )
        self._ops = Operations(locks, secrets)
        self._name = name
        self._region = region
        try:
            self._checks = Preflight(name, FAKE_CAPABILITIES, narrowed_to=capabilities)
        except ValueError:
            unknown = sorted(set(map(str, capabilities or ())) - set(map(str, FAKE_CAPABILITIES)))
            supported = ", ".join(c.value for c in FAKE_CAPABILITIES)
            raise ValueError(
                f"the fake does not honour {', '.join(unknown)}; it supports {supported}"
            ) from None
        self._history_depth = history_depth
        self._rollout = RolloutSettings(time_scale, canary_observation, progress_deadline)

    def __repr__(self) -> str:
        return f"FakeProvider(name={self._name!r}, backend={self.backend!r})"

    # metadata

    def info(self) -> ProviderInfo:
        """Name (``fake`` unless set), the library version, region."""
        return ProviderInfo(name=self._name, version=__version__, region=self._region)

    def capabilities(self) -> Sequence[Capability]:
        """What this fake declares (all it honours, unless narrowed)."""
        return self._checks.declared

    async def health_check(self) -> HealthStatus:
        """Healthy unless ``backend.faults.unavailable``; never raises."""
        down = self.backend.faults.unavailable
        return HealthStatus(
            healthy=not down,
            message="fake backend unavailable (fault injected)" if down else "ok",
            latency=timedelta(microseconds=10),
            checked_at=self.backend.now(),
        )

    # helpers

    def _guard(self) -> None:
        if self.backend.faults.unavailable:
            raise BackendUnavailable(
                "the fake backend is unavailable (fault injected)", backend=self._name
            )

    def _record(self, instance_id: str) -> InstanceRecord:
        self._guard()
        record = self.backend.instances.get(instance_id)
        if record is None:
            raise InstanceNotFound(instance_id, provider=self._name)
        return record

    @contextlib.asynccontextmanager
    async def _locked(
        self, instance_id: str, name: str, events: Subscriber | None = None
    ) -> AsyncIterator[tuple[Operation, InstanceRecord]]:
        """The instance's record, read while holding its operation lease."""
        self._record(instance_id)
        async with self._ops.mutating(instance_id, name, events=events) as op:
            self._repair(op)
            yield op, self._record(instance_id)

    def _repair(self, op: Operation) -> None:
        """Finish what an interrupted operation left: a new set that never switched is
        removed; an instance whose provision never finished is removed."""
        if op.interrupted is None:
            return
        for unit in self.backend.staged.pop(op.instance_id, []):
            for c in unit.containers.values():
                stop_container(self.backend, c)
        record = self.backend.instances.get(op.instance_id)
        if record is not None and record.live_release is None:
            self._remove(op.instance_id)

    def _result(self, record: InstanceRecord) -> ProvisionResult:
        first = {c.service: c.container_id for c in reversed(record.containers())}
        live = record.live_release
        return ProvisionResult(
            provider_ref=record.provider_ref,
            service_refs=first,
            endpoints=endpoints(record),
            metadata={"release_id": live.release_id} if live else {},
        )

    async def _secrets_for(
        self, op: Operation, record: InstanceRecord, services: Sequence[ServiceSpec]
    ) -> dict[str, SecretMaterial]:
        material, values = await resolve_secrets(
            op.secrets, services, tenant_id=record.tenant_id, instance_id=record.instance_id
        )
        record.secret_values = values
        return material

    # lifecycle

    async def provision(
        self, req: ProvisionRequest, *, events: Subscriber | None = None
    ) -> ProvisionResult:
        """Create the instance and start it (inits, then mains/sidecars, gated on health).

        Steps (see ``PROVISION_STEPS``): pull, secrets, create, init, start, ready; a
        failure at any step (or cancellation) removes everything and raises
        ``ProvisionFailed`` naming the step. Provisioning an existing instance returns it
        unchanged. ``events`` (beyond Go) receives step and unit events.
        """
        # Re-validate: a request changed with model_copy() may hold unconverted values.
        self._checks.require(Capability.PROVISION)
        req = ProvisionRequest.model_validate(req.model_dump(warnings=False))
        self._checks.provision(req)
        self._guard()
        iid = req.instance_id
        async with self._ops.mutating(iid, "provision", events=events) as op:
            self._repair(op)
            existing = self.backend.instances.get(iid)
            if existing is not None:
                return self._result(existing)
            record = InstanceRecord(
                instance_id=iid,
                tenant_id=req.tenant_id,
                name=req.name,
                kind=req.kind,
                labels={**req.labels, "ctrlplane.instance": iid, "ctrlplane.tenant": req.tenant_id},
                services=list(req.services),
                replicas=max(req.main.resources.replicas, 1),
            )
            release_id = new_id(RELEASE_PREFIX)
            runner = Runner(self.backend, iid, (), self._rollout.time_scale, op.events, release_id)
            try:
                await self._create(op, record, runner)
            except BaseException:
                self._remove(iid)
                raise
            record.state = InstanceState.RUNNING
            record.add_release(release_id, "", self.backend.now(), self._history_depth)
            return self._result(record)

    async def _create(self, op: Operation, record: InstanceRecord, runner: Runner) -> None:
        iid = record.instance_id
        step = "pull"
        try:
            for step in PROVISION_STEPS:
                await runner.emit(StepStarted(instance_id=iid, step=step))
                self._fault(iid, step)
                if step == "pull":
                    for svc in record.services:
                        if self.backend.image(svc.image) is None:
                            raise ProvisionFailed(iid, "pull", f"image {svc.image!r} not found")
                elif step == "secrets":
                    try:
                        material = await self._secrets_for(op, record, record.services)
                    except CtrlplaneError as exc:
                        raise ProvisionFailed(iid, "secrets", str(exc)) from exc
                    runner.secret_values = record.secret_values
                elif step == "create":
                    self.backend.instances[iid] = record
                    record.units = [
                        build_unit(
                            self.backend, record, r, record.services, material, runner.release_id
                        )
                        for r in range(record.replicas)
                    ]
                elif step in ("init", "start"):
                    record.state = InstanceState.STARTING
                    for unit in record.units:
                        await runner.run_unit(unit, record.services, inits=step == "init")
                await runner.emit(StepFinished(instance_id=iid, step=step))
        except ProvisionFailed as exc:
            await runner.emit(StepFinished(instance_id=iid, step=step, ok=False, detail=exc.reason))
            raise
        except UnitFailed as exc:
            where = exc.step if exc.step.startswith("init") else "start"
            if exc.step.startswith("health"):
                where = "ready"
            reason = redact(exc.reason, record.secret_values)
            await runner.emit(
                StepFinished(instance_id=iid, step=step, ok=False, detail=f"{where}: {reason}")
            )
            raise ProvisionFailed(iid, where, reason) from None
        except BaseException as exc:
            detail = "cancelled" if isinstance(exc, asyncio.CancelledError) else str(exc)
            await runner.emit(StepFinished(instance_id=iid, step=step, ok=False, detail=detail))
            raise

    def _runner(
        self, record: InstanceRecord, events: Subscriber | None = None, release_id: str = ""
    ) -> Runner:
        return Runner(
            self.backend,
            record.instance_id,
            record.secret_values,
            self._rollout.time_scale,
            events,
            release_id,
        )

    def _fault(self, instance_id: str, step: str) -> None:
        reason = self.backend.faults.take_provision_failure(step)
        if reason is not None:
            raise ProvisionFailed(instance_id, step, f"{reason} (fault injected)")

    def _remove(self, instance_id: str) -> None:
        record = self.backend.instances.pop(instance_id, None)
        for unit in self.backend.staged.pop(instance_id, []):
            for c in unit.containers.values():
                stop_container(self.backend, c)
        if record is not None:
            for unit in record.units:
                stop_unit(self.backend, unit, record.services)

    async def deprovision(self, instance_id: str) -> None:
        """Remove the instance, its containers and volumes. Unknown IDs are a no-op."""
        self._guard()
        async with self._ops.mutating(instance_id, "deprovision"):
            self._remove(instance_id)

    async def start(self, instance_id: str) -> None:
        """Start a stopped instance (inits run again). No-op if running.

        An init failing now marks the instance failed and raises ``BackendError``.
        """
        async with self._locked(instance_id, "start") as (op, record):
            if record.state is InstanceState.RUNNING:
                return
            await self._start_units(op, record)

    async def _start_units(self, op: Operation, record: InstanceRecord) -> None:
        record.state = InstanceState.STARTING
        try:
            material = await self._secrets_for(op, record, record.services)
            for unit in record.units:
                fresh = build_unit(self.backend, record, unit.replica, record.services, material)
                for name, c in unit.containers.items():
                    c.env = fresh.containers[name].env
                    c.files.own.update(fresh.containers[name].files.own)
                await self._runner(record).run_unit(unit, record.services)
        except (UnitFailed, CtrlplaneError) as exc:
            record.state = InstanceState.FAILED
            record.message = redact(str(exc), record.secret_values)
            raise BackendError(
                f"starting {record.instance_id!r} failed: {record.message}", backend=self._name
            ) from None
        record.state, record.message = InstanceState.RUNNING, ""

    async def stop(self, instance_id: str) -> None:
        """Stop every container gracefully, in reverse dependency order. No-op if stopped."""
        async with self._locked(instance_id, "stop") as (_, record):
            for unit in record.units:
                stop_unit(self.backend, unit, record.services)
            record.state = InstanceState.STOPPED

    async def restart(self, instance_id: str) -> None:
        """Stop, then start; every container's start time and start logs are new."""
        async with self._locked(instance_id, "restart") as (op, record):
            for unit in record.units:
                stop_unit(self.backend, unit, record.services)
            await self._start_units(op, record)

    # status and usage

    async def status(self, instance_id: str) -> InstanceStatus:
        """Worst-of over long-lived services (and failed inits); per-service detail."""
        status = await instance_status(self.backend, self._record(instance_id))
        return with_lease(status, await self._ops.current_lease(instance_id))

    async def units(self, instance_id: str) -> list[UnitStatus]:
        """Every container of the instance (a rollout's new units too), one row each."""
        return await unit_statuses(self.backend, self._record(instance_id))

    async def resources(self, instance_id: str) -> ResourceUsage:
        """Usage summed over running containers: each image's memory and CPU figures."""
        return usage(self.backend, self._record(instance_id))

    async def scale(self, instance_id: str, spec: ResourceSpec) -> None:
        """Change the replica count and the main service's limits (0 leaves one unchanged)."""
        self._checks.scale(spec)
        async with self._locked(instance_id, "scale") as (op, record):
            main = record.main
            res = main.resources.model_copy(
                update={
                    k: v
                    for k, v in spec.model_dump().items()
                    if v and k in ("cpu_millis", "memory_mb", "disk_mb", "replicas")
                }
            )
            record.services = [
                s.model_copy(update={"resources": res}) if s.name == main.name else s
                for s in record.services
            ]
            if spec.replicas:
                await self._set_replicas(op, record, spec.replicas)

    async def _set_replicas(self, op: Operation, record: InstanceRecord, count: int) -> None:
        while len(record.units) > count:
            unit = record.units.pop()
            stop_unit(self.backend, unit, record.services)
        if len(record.units) < count:
            material = await self._secrets_for(op, record, record.services)
            while len(record.units) < count:
                unit = build_unit(
                    self.backend, record, len(record.units), record.services, material
                )
                record.units.append(unit)
                if record.state is InstanceState.STOPPED:
                    continue
                try:
                    await self._runner(record).run_unit(unit, record.services)
                except UnitFailed as exc:
                    raise BackendError(
                        f"scaling {record.instance_id!r} failed: "
                        f"{redact(str(exc), record.secret_values)}",
                        backend=self._name,
                    ) from None
        record.replicas = count

    # releases

    async def deploy(self, req: DeployRequest, *, events: Subscriber | None = None) -> DeployResult:
        """Roll out the listed services with the request's strategy, gated on health.

        Unlisted services keep their version (the release inherits them). A failed gate,
        the progress deadline or cancellation restores the previous release. ``events``
        (beyond Go) receives step, unit, probe, traffic and roll-back events.
        """
        self._checks.deploy(req)
        async with self._locked(req.instance_id, "deploy", events) as (op, record):
            known = [r.release_id for r in record.releases]
            plan = plan_deploy(req, record.services, known)
            await self._roll_out(op, record, plan)
        return DeployResult(
            provider_ref=record.provider_ref, status=DEPLOYED, release_id=plan.release_id
        )

    async def _roll_out(self, op: Operation, record: InstanceRecord, plan: ReleasePlan) -> None:
        for svc in plan.after:
            if self.backend.image(svc.image) is None:
                raise DeployFailed(
                    record.instance_id,
                    strategy=str(plan.strategy),
                    step="pull",
                    reason=f"image {svc.image!r} not found; nothing was changed",
                )
        material = await self._secrets_for(op, record, plan.after)
        await op.note(release_id=plan.release_id, phase="roll out")
        await deploy_plan(
            self.backend,
            record,
            plan,
            secrets=material,
            settings=self._rollout,
            events=op.events,
            history_depth=self._history_depth,
            backend_name=self._name,
        )
        record.state, record.message = InstanceState.RUNNING, ""

    async def rollback(
        self, instance_id: str, release_id: str, *, events: Subscriber | None = None
    ) -> None:
        """Restore ``release_id``'s snapshot (rolling, gated); record it as a new release.

        Unknown or pruned ``release_id``: ``ReleaseNotFound``, and nothing changes.
        """
        self._checks.rollback()
        async with self._locked(instance_id, "rollback", events) as (op, record):
            history = list(reversed(record.releases))
            plan = plan_rollback(instance_id, release_id, record.services, history)
            await self._roll_out(op, record, plan)

    async def releases(self, instance_id: str) -> list[Release]:
        """Retained releases, newest first; the live one has ``live`` set."""
        record = self._record(instance_id)
        return [r.model_copy(deep=True) for r in reversed(record.releases)]

    # logs and exec

    def logs(self, instance_id: str, opts: LogOptions | None = None) -> LogStream:
        """Records of one service (default main): tail, since, follow, one replica or all."""
        options = opts or LogOptions()

        async def opener() -> AsyncIterator[LogRecord]:
            self._checks.logs()
            record = self._record(instance_id)
            service = options.service_name or record.main.name
            self._check_target(record, service, options.replica, "service_name")
            return stream_records(self.backend, instance_id, service, options)

        return LogStream(opener)

    def _check_target(
        self, record: InstanceRecord, service: str, replica: int | None, field: str
    ) -> None:
        names = [s.name for s in record.services]
        if service not in names:
            raise InvalidSpec(
                [Problem(field, f"no service {service!r} (services: {', '.join(names)})")]
            )
        if replica is not None and replica >= len(record.units):
            raise InvalidSpec(
                [Problem("replica", f"replica {replica} does not exist ({len(record.units)} run)")]
            )

    def _exec_target(self, instance_id: str, req: ExecRequest) -> FakeContainer:
        self._checks.exec(req)
        record = self._record(instance_id)
        service = req.service or record.main.name
        self._check_target(record, service, req.replica, "service")
        replica = req.replica or 0
        container = _container(record, service, replica)
        if container is None or not container.running:
            raise BackendError(
                f"service {service!r} of replica {replica} of {instance_id!r} is not running",
                backend=self._name,
            )
        return container

    @contextlib.asynccontextmanager
    async def exec_session(self, instance_id: str, req: ExecRequest) -> AsyncIterator[FakeSession]:
        """An interactive session with ``req.command``, started at once (see
        :mod:`ctrlplane.testing.sessions`: output as it comes, input as it is written)."""
        container = self._exec_target(instance_id, req)
        session = FakeSession(list(req.command), env=container.env, fs=container.files, tty=req.tty)
        session.start()
        try:
            yield session
        finally:
            await session.end()

    async def exec(self, instance_id: str, req: ExecRequest) -> ExecResult:
        """Run ``req.command`` (an argv list) with the fake shell in a running container."""
        container = self._exec_target(instance_id, req)
        res = await run_command(
            list(req.command), env=container.env, fs=container.files, stdin=req.stdin or b""
        )
        if req.tty:
            return ExecResult(exit_code=res.exit_code, stdout=res.stdout + res.stderr)
        return ExecResult(exit_code=res.exit_code, stdout=res.stdout, stderr=res.stderr)


def _container(record: InstanceRecord, service: str, replica: int) -> FakeContainer | None:
    # The newest container of that replica (a rolling deploy briefly runs two).
    found = [c for c in record.containers(service) if c.replica == replica]
    running = [c for c in found if c.running]
    pick = running or found
    return pick[-1] if pick else None
