"""Replica units on the engine: create, deliver files, start in order, stop, remove.

A unit is one replica of the workload: its init containers (run to completion in
``depends_on`` order) and its long-lived containers (started wave by wave; the
services join the unit's namespace holder, started first and stopped last). Failures raise
:class:`~ctrlplane.provider.failures.RolloutFailed` naming the step, which the
operations turn into their own errors.

**A crash is a crash.** A long-lived container "stays up" only if it keeps running
through a stability window (``settle_time`` after its start) with its ``RestartCount``
and ``StartedAt`` unchanged: the engine restarts a crashed container (restart policy)
fast enough that "running" alone is seen about half the time after a crash. Every start
returns a :class:`Started` snapshot; :meth:`UnitRunner.stable` checks them once the
window has passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrlplane.errors import CtrlplaneError, OperationTimeout
from ctrlplane.provider.deadlines import bounded, seconds
from ctrlplane.provider.docker.addressing import address_taken, unpin
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.gate import OnProbe, gate_service
from ctrlplane.provider.docker.observe.logframes import FrameDecoder, LineSplitter
from ctrlplane.provider.docker.observe.workload import network_endpoint
from ctrlplane.provider.docker.render.materials import ServiceMaterials, build_tar, redact
from ctrlplane.provider.docker.render.workload import (
    Workload,
    init_waves,
    long_lived_waves,
    startup_names,
)
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.health import GateOutcome
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.taskgroups import TaskGroup

__all__ = ["Started", "UnitRunner"]


@dataclass(frozen=True, slots=True)
class Started:
    """A long-lived container (of ``service``) right after this operation started it:
    ``restarts`` and ``started_at`` as the engine reported them, ``at`` the
    :func:`time.monotonic` instant of the start. The stability window compares the
    container with it."""

    ref: str
    service: str
    step: str
    restarts: int
    started_at: str
    at: float

    def same_run(self, info: JSON | None) -> bool:
        """Whether ``info`` (an inspect) shows the same run, still going: running, not
        restarting, neither restarted by the engine nor started anew since."""
        state = (info or {}).get("State") or {}
        return (
            bool(state.get("Running"))
            and not state.get("Restarting")
            and int((info or {}).get("RestartCount") or 0) == self.restarts
            and str(state.get("StartedAt") or "") == self.started_at
        )


@dataclass(frozen=True, slots=True)
class UnitRunner:
    """Brings units of one workload up and down on one engine."""

    ctx: DockerContext
    wl: Workload
    materials: Mapping[str, ServiceMaterials]
    advertise: bool = True
    """False: new holders get no network aliases (see ``Renderer.holder_body``)."""
    events: Subscriber | None = None
    """Receives a ``UnitStarted`` for every container this runner starts."""

    def name(self, replica: int, service: str) -> str:
        """The container name of ``service`` in unit ``replica``."""
        return self.ctx.render.container_name(self.wl, replica, service)

    def holder(self, replica: int) -> str:
        """The container name of unit ``replica``'s namespace holder."""
        return self.ctx.render.holder_name(self.wl, replica)

    def _whole(self, only: Sequence[str] | None) -> bool:
        """Whether ``only`` (``None``: all) covers the unit's holder: it goes with the
        service that would own the namespace (whose change replaces every long-lived
        service, :func:`~.render.workload.replaced_services`)."""
        return only is None or self.wl.owner in only

    async def start_holder(self, replica: int, *, create: bool) -> None:
        """(Create and) start unit ``replica``'s namespace holder, before any service
        joins it (an existing one is created anew only when it is gone; a leftover is
        replaced when ``create``). A holder whose pinned address another container took
        while it was stopped rejoins under a free one (:func:`.addressing.unpin`)."""
        name = self.holder(replica)
        step = f"start the network holder of replica {replica}"
        client = self.ctx.client
        try:
            if create or await client.inspect_container(name) is None:
                await client.remove_container(name)
                body = self.ctx.render.holder_body(self.wl, replica, advertise=self.advertise)
                await client.create_container(name, body)
            try:
                await client.start_container(name)
            except CtrlplaneError as exc:
                if not address_taken(exc):
                    raise
                await unpin(self.ctx, self.wl, name)  # see addressing: the engine gave it away
                await client.start_container(name)
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
        await self.check_running(name, step)

    async def _started(self, svc: ServiceSpec, replica: int) -> None:
        event = UnitStarted(
            instance_id=self.wl.instance_id,
            service=svc.name,
            replica=replica,
            release_id=self.wl.release_id,
        )
        await emit(self.events, event)

    async def tail(self, ref: str, lines: int) -> str:
        """The last ``lines`` lines of a container's output (stdout and stderr), with
        secret values redacted."""
        if lines <= 0:
            return ""
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        decoder = FrameDecoder()
        splitter = LineSplitter()
        out: list[str] = []
        try:
            async with self.ctx.client.logs(ref, params, follow=False) as chunks:
                async for chunk in chunks:
                    for stream, payload in decoder.feed(chunk):
                        out.extend(splitter.feed(stream, payload))
        except CtrlplaneError:
            return ""
        out.extend(line for _, line in splitter.flush())
        return redact("\n".join(out[-lines:]), self.materials)

    async def create(self, svc: ServiceSpec, replica: int) -> str:
        """Create the container of ``svc`` in ``replica`` and write its files into it."""
        mats = self.materials.get(svc.name) or ServiceMaterials()
        body = self.ctx.render.container_config(self.wl, svc, replica, secret_env=mats.env)
        step = f"create service {svc.name} (replica {replica})"
        try:
            ref = await self.ctx.client.create_container(self.name(replica, svc.name), body)
            if mats.files:
                await self.ctx.client.put_archive(ref, "/", build_tar(mats.files))
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
        return ref

    async def run_init(self, svc: ServiceSpec, replica: int) -> None:
        """Create, start and wait for an init container; non-zero exit fails the step."""
        step = f"init service {svc.name} (replica {replica})"
        ref = await self.create(svc, replica)
        timeout = seconds(self.ctx.config.init_timeout)
        try:
            await self.ctx.client.start_container(ref)
            await self._started(svc, replica)
            code = await bounded(self.ctx.client.wait_container(ref), timeout, step)
        except OperationTimeout:
            raise RolloutFailed(step, f"did not finish within {timeout:g}s") from None
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
        if code != 0:
            logs = await self.tail(ref, self.ctx.config.log_tail_on_failure)
            detail = f"; last log lines:\n{logs}" if logs else " (no output)"
            raise RolloutFailed(step, f"exited with code {code}{detail}")

    async def run_inits(self, replica: int, only: Sequence[str] | None = None) -> None:
        """Run the unit's inits (or ``only`` those), wave by wave."""
        for wave in init_waves(self.wl.services):
            chosen = [s for s in wave if only is None or s.name in only]
            async with TaskGroup() as tg:
                for svc in chosen:
                    tg.create_task(self.run_init(svc, replica))

    async def start_service(self, svc: ServiceSpec, replica: int, *, create: bool) -> Started:
        """(Create and) start a long-lived container; fails if it is not running right
        after (or was already restarted by the engine: it crashed at once). Returns the
        snapshot the stability window compares with."""
        step = f"start service {svc.name} (replica {replica})"
        ref = await self.create(svc, replica) if create else self.name(replica, svc.name)
        fresh = create
        try:
            if not create:  # an already running container keeps its run (start is a no-op)
                before = await self.ctx.client.inspect_container(ref)
                fresh = not ((before or {}).get("State") or {}).get("Running")
            await self.ctx.client.start_container(ref)
        except CtrlplaneError as exc:
            raise RolloutFailed(step, str(exc)) from exc
        info = await self.check_running(ref, step)
        started = Started(
            ref=ref,
            service=svc.name,
            step=step,
            restarts=int(info.get("RestartCount") or 0),
            started_at=str((info.get("State") or {}).get("StartedAt") or ""),
            at=time.monotonic(),
        )
        if fresh and started.restarts:  # a start resets the count: it crashed already
            raise await self.unstable(ref, step, info)
        await self._started(svc, replica)
        return started

    async def check_running(self, ref: str, step: str, since: Started | None = None) -> JSON:
        """The container's inspect if it is running (and, given ``since``, still in the
        same run); else fail ``step`` with its last log lines."""
        info = await self.ctx.client.inspect_container(ref)
        state = (info or {}).get("State") or {}
        running = state.get("Running") and not state.get("Restarting")
        if info is not None and running and (since is None or since.same_run(info)):
            return info
        raise await self.unstable(ref, step, info)

    async def unstable(self, ref: str, step: str, info: JSON | None) -> RolloutFailed:
        """The :class:`RolloutFailed` of ``step``: the container (inspect ``info``)
        exited, is restarting, or was restarted; with its last log lines."""
        state = (info or {}).get("State") or {}
        code = state.get("ExitCode")
        logs = await self.tail(ref, self.ctx.config.log_tail_on_failure)
        detail = f"; last log lines:\n{logs}" if logs else ""
        restarts = int((info or {}).get("RestartCount") or 0)
        if info is None:
            what = "is gone"
        elif state.get("Running") and not state.get("Restarting"):
            what = (
                f"crashed and was restarted by the engine ({restarts} restart(s)); a service "
                "must keep running through its stability window"
            )
        elif state.get("Restarting"):
            what = f"crashed and is restarting (exit code {code}, {restarts} restart(s))"
        else:
            what = f"exited with code {code}" if code is not None else "is not running"
        if state.get("OOMKilled"):
            what += " (OOM-killed)"
        return RolloutFailed(step, f"{what}{detail}")

    async def stable(self, started: Sequence[Started]) -> None:
        """The stability window: wait until ``settle_time`` has passed since the last
        of ``started`` started, then fail (:class:`RolloutFailed`, with its last log
        lines) if one of them is not running in the same run any more."""
        if not started:
            return
        window = seconds(self.ctx.config.settle_time)
        await asyncio.sleep(max(0.0, max(s.at for s in started) + window - time.monotonic()))
        await asyncio.gather(*(self.check_running(s.ref, s.step, since=s) for s in started))

    async def bring_up(self, replica: int) -> list[Started]:
        """Run the unit's inits while its namespace holder starts and its long-lived
        containers are created (the inits do not join the holder; nothing long-lived
        starts before every init has succeeded), then start the long-lived services,
        wave by wave."""

        async def prepare() -> None:
            await self.start_holder(replica, create=True)
            long_lived = [s for s in self.wl.services if s.role is not ServiceRole.INIT]
            async with TaskGroup() as tg:
                for svc in long_lived:
                    tg.create_task(self.create(svc, replica))

        async with TaskGroup() as tg:
            tg.create_task(self.run_inits(replica))
            tg.create_task(prepare())
        return await self.start_long_lived(replica, create=False, holder=False)

    async def start_long_lived(
        self,
        replica: int,
        *,
        create: bool,
        only: Sequence[str] | None = None,
        holder: bool = True,
    ) -> list[Started]:
        """Start the long-lived services (or ``only`` those) in dependency order, after
        the unit's holder when ``only`` covers it (unless ``holder`` is false: it was
        started already); what was started, for the stability window. The services of
        one wave start together: each joins the holder's namespace, none another's."""
        out: list[Started] = []
        if holder and self._whole(only):
            await self.start_holder(replica, create=create)
        for wave in long_lived_waves(self.wl.services):
            chosen = [s for s in wave if only is None or s.name in only]
            if not chosen:
                continue
            async with TaskGroup() as tg:
                tasks = [
                    tg.create_task(self.start_service(svc, replica, create=create))
                    for svc in chosen
                ]
            out += [t.result() for t in tasks]
            await self.gate_dependencies(chosen, replica)
        return out

    async def address(self, replica: int) -> str:
        """The unit's address on the instance network (its holder's)."""
        info = await self.ctx.client.inspect_container(self.holder(replica))
        endpoint = network_endpoint(info, self.ctx.names.network(self.wl.instance_id))
        return str(endpoint.get("IPAddress") or "127.0.0.1")

    async def gate(
        self,
        svc: ServiceSpec,
        replica: int,
        address: str,
        on_result: OnProbe | None = None,
    ) -> GateOutcome:
        """Probe ``svc`` (which has a health check) of a just-started unit at ``address``
        until it is healthy or its gate fails, after ``probe_start_period``."""
        assert svc.health_check is not None
        return await gate_service(
            self.ctx.client,
            svc.health_check,
            service=svc.name,
            replica=replica,
            address=address,
            container=self.name(replica, svc.name),
            start_period=seconds(self.ctx.config.probe_start_period),
            on_result=on_result,
        )

    async def gate_dependencies(self, started: Sequence[ServiceSpec], replica: int) -> None:
        """Wait until each just-started service that others depend on passes its health
        check (if it has one); a failing check fails the step with the probe evidence."""
        needed = {d for s in self.wl.services for d in s.depends_on}
        chosen = [s for s in started if s.name in needed]
        await self.pass_checks(chosen, replica, "dependents were not started: ")

    async def pass_checks(self, services: Sequence[ServiceSpec], replica: int, why: str) -> None:
        """Gate each of ``services`` that has a health check, in order; the first that
        fails its gate fails the step ``health check of service <name> (replica <r>)``,
        its reason ``why`` followed by the probe evidence."""
        checked = [s for s in services if s.health_check is not None]
        if not checked:
            return
        address = await self.address(replica)
        for svc in checked:
            outcome = await self.gate(svc, replica, address)
            if not outcome.passed:
                raise RolloutFailed(
                    f"health check of service {svc.name} (replica {replica})",
                    f"{why}{outcome.reason} ({outcome.last})",
                )

    async def stop_long_lived(self, replica: int, only: Sequence[str] | None = None) -> None:
        """Stop the long-lived services (or ``only`` those) in reverse dependency order."""
        owner = self.wl.owner
        stop = self.ctx.render.stop_seconds
        for wave in reversed(long_lived_waves(self.wl.services)):
            chosen = [s for s in wave if only is None or s.name in only]
            # joined services stop before the namespace owner
            for group in (
                [s for s in chosen if s.name != owner],
                [s for s in chosen if s.name == owner],
            ):
                await asyncio.gather(
                    *(
                        self.ctx.client.stop_container(self.name(replica, s.name), stop)
                        for s in group
                    )
                )
        if self._whole(only):
            await self.ctx.client.stop_container(self.holder(replica), stop)

    async def remove_services(self, replica: int, names: Sequence[str]) -> None:
        """Remove the named services' containers of ``replica`` (in reverse start-up
        order), then its holder when ``names`` cover it."""
        for wave in reversed(startup_names(self.wl.services)):
            await asyncio.gather(
                *(
                    self.ctx.client.remove_container(self.name(replica, n))
                    for n in wave
                    if n in names
                )
            )
        if self._whole(names):
            await self.ctx.client.remove_container(self.holder(replica))
