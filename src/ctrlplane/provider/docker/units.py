"""Replica units on the engine: create, deliver files, start in order, stop, remove.

A unit is one replica of the workload: its init containers (run to completion in
``depends_on`` order) and its long-lived containers (started wave by wave; the
network-namespace owner is in the first wave, the others join it). Everything here is
I/O on one :class:`~ctrlplane.provider.docker.engine.Engine`; failures raise
:class:`StepFailed` naming the step, which the provider turns into its own errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.docker.archive import build_tar
from ctrlplane.provider.docker.engine import Engine
from ctrlplane.provider.docker.gate import gate_service
from ctrlplane.provider.docker.logframes import FrameDecoder, LineSplitter
from ctrlplane.provider.docker.materials import ServiceMaterials, redact
from ctrlplane.provider.docker.translate import (
    Translator,
    Workload,
    init_waves,
    long_lived_waves,
    netns_owner,
)
from ctrlplane.provider.events import Subscriber, UnitStarted, emit
from ctrlplane.provider.spec import ServiceSpec

__all__ = [
    "StepFailed",
    "UnitRunner",
    "first_error",
    "uncancellable",
    "uncancellable_value",
]

JSON = dict[str, Any]
_T = TypeVar("_T")


class StepFailed(CtrlplaneError):
    """A step of bringing a unit up failed; ``step`` names it, ``reason`` says why."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"{step}: {reason}")


def first_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups; cancellations come last."""
    if isinstance(exc, BaseExceptionGroup):
        inner = [first_error(e) for e in exc.exceptions]
        for e in inner:
            if not isinstance(e, asyncio.CancelledError):
                return e
        return inner[0] if inner else exc
    return exc


async def uncancellable_value(work: Awaitable[_T]) -> _T:
    """Run ``work`` (cleanup) to completion even if the caller is cancelled meanwhile;
    a cancellation that arrived is re-raised afterwards, else the result is returned."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result


async def uncancellable(work: Awaitable[None]) -> None:
    """:func:`uncancellable_value` for cleanup without a result."""
    await uncancellable_value(work)


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class UnitRunner:
    """Brings units of one workload up and down on one engine."""

    engine: Engine
    tr: Translator
    wl: Workload
    materials: Mapping[str, ServiceMaterials]
    advertise: bool = True
    """False: namespace owners get no network aliases (see ``Translator.container_config``)."""
    events: Subscriber | None = None
    """Receives a ``UnitStarted`` for every container this runner starts."""

    async def _started(self, svc: ServiceSpec, replica: int) -> None:
        event = UnitStarted(
            instance_id=self.wl.instance_id,
            service=svc.name,
            replica=replica,
            release_id=self.wl.release_id,
        )
        await emit(self.events, event)

    @property
    def stop_seconds(self) -> int:
        return max(int(_seconds(self.tr.config.stop_timeout)), 0)

    async def tail(self, ref: str, lines: int) -> str:
        """The last ``lines`` lines of a container's output (stdout and stderr)."""
        if lines <= 0:
            return ""
        params = {"stdout": "1", "stderr": "1", "tail": str(lines)}
        decoder = FrameDecoder()
        splitter = LineSplitter()
        out: list[str] = []
        try:
            async with self.engine.logs(ref, params) as resp:
                data = await resp.read()
        except CtrlplaneError:
            return ""
        for stream, chunk in decoder.feed(data):
            out.extend(splitter.feed(stream, chunk))
        out.extend(line for _, line in splitter.flush())
        return redact("\n".join(out[-lines:]), self.materials)

    async def create(self, svc: ServiceSpec, replica: int) -> str:
        """Create the container of ``svc`` in ``replica`` and write its files into it."""
        mats = self.materials.get(svc.name) or ServiceMaterials()
        name = self.tr.container_name(self.wl, replica, svc.name)
        body = self.tr.container_config(
            self.wl, svc, replica, secret_env=mats.env, advertise=self.advertise
        )
        step = f"create service {svc.name} (replica {replica})"
        try:
            ref = await self.engine.create_container(name, body)
            if mats.files:
                await self.engine.put_archive(ref, "/", build_tar(mats.files))
        except StepFailed:
            raise
        except CtrlplaneError as exc:
            raise StepFailed(step, str(exc)) from exc
        return ref

    async def run_init(self, svc: ServiceSpec, replica: int) -> None:
        """Create, start and wait for an init container; non-zero exit fails the step."""
        step = f"init service {svc.name} (replica {replica})"
        ref = await self.create(svc, replica)
        timeout = _seconds(self.tr.config.init_timeout)
        try:
            await self.engine.start_container(ref)
            await self._started(svc, replica)
            async with asyncio.timeout(timeout):
                code = await self.engine.wait_container(ref)
        except TimeoutError:
            raise StepFailed(step, f"did not finish within {timeout:g}s") from None
        except CtrlplaneError as exc:
            raise StepFailed(step, str(exc)) from exc
        if code != 0:
            logs = await self.tail(ref, self.tr.config.log_tail_on_failure)
            detail = f"; last log lines:\n{logs}" if logs else " (no output)"
            raise StepFailed(step, f"exited with code {code}{detail}")

    async def start_service(self, svc: ServiceSpec, replica: int, *, create: bool) -> str:
        """(Create and) start a long-lived container; fails if it exits at once."""
        step = f"start service {svc.name} (replica {replica})"
        if create:
            ref = await self.create(svc, replica)
        else:
            ref = self.tr.container_name(self.wl, replica, svc.name)
        try:
            await self.engine.start_container(ref)
        except CtrlplaneError as exc:
            raise StepFailed(step, str(exc)) from exc
        await self.check_running(ref, step)
        await self._started(svc, replica)
        return ref

    async def check_running(self, ref: str, step: str) -> None:
        """Fail ``step`` with the container's last log lines unless it is running."""
        info = await self.engine.inspect_container(ref)
        state = (info or {}).get("State") or {}
        if state.get("Running") and not state.get("Restarting"):
            return
        code = state.get("ExitCode")
        logs = await self.tail(ref, self.tr.config.log_tail_on_failure)
        detail = f"; last log lines:\n{logs}" if logs else ""
        what = f"exited with code {code}" if code is not None else "is not running"
        if state.get("OOMKilled"):
            what += " (OOM-killed)"
        raise StepFailed(step, f"{what}{detail}")

    async def bring_up(self, replica: int) -> None:
        """Run the unit's inits, then start its long-lived services, wave by wave."""
        for wave in init_waves(self.wl.services):
            async with asyncio.TaskGroup() as tg:
                for svc in wave:
                    tg.create_task(self.run_init(svc, replica))
        await self.start_long_lived(replica, create=True)

    async def start_long_lived(
        self, replica: int, *, create: bool, only: Sequence[str] | None = None
    ) -> None:
        """Start the long-lived services (or ``only`` those) in dependency order."""
        owner = netns_owner(self.wl.services).name
        for wave in long_lived_waves(self.wl.services):
            chosen = [s for s in wave if only is None or s.name in only]
            # the namespace owner starts alone, before the services that join it
            for group in (
                [s for s in chosen if s.name == owner],
                [s for s in chosen if s.name != owner],
            ):
                if not group:
                    continue
                async with asyncio.TaskGroup() as tg:
                    for svc in group:
                        tg.create_task(self.start_service(svc, replica, create=create))
                await self.gate_dependencies(group, replica)

    async def address(self, replica: int) -> str:
        """The unit's address on the instance network (its namespace owner's)."""
        owner = self.tr.container_name(self.wl, replica, netns_owner(self.wl.services).name)
        info = await self.engine.inspect_container(owner) or {}
        nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
        net = nets.get(self.tr.names.network(self.wl.instance_id)) or {}
        return str(net.get("IPAddress") or "127.0.0.1")

    async def gate_dependencies(self, started: Sequence[ServiceSpec], replica: int) -> None:
        """Wait until each just-started service that others depend on passes its health
        check (if it has one); a failing check fails the step with the probe evidence."""
        needed = {d for s in self.wl.services for d in s.depends_on}
        checked = [s for s in started if s.health_check is not None and s.name in needed]
        if not checked:
            return
        address = await self.address(replica)
        for svc in checked:
            assert svc.health_check is not None
            outcome = await gate_service(
                self.engine,
                svc.health_check,
                service=svc.name,
                replica=replica,
                address=address,
                container=self.tr.container_name(self.wl, replica, svc.name),
                start_period=_seconds(self.tr.config.probe_start_period),
            )
            if not outcome.passed:
                raise StepFailed(
                    f"health check of service {svc.name} (replica {replica})",
                    f"dependents were not started: {outcome.reason} ({outcome.last})",
                )

    async def stop_long_lived(self, replica: int, only: Sequence[str] | None = None) -> None:
        """Stop the long-lived services (or ``only`` those) in reverse dependency order."""
        owner = netns_owner(self.wl.services).name
        for wave in reversed(long_lived_waves(self.wl.services)):
            chosen = [s for s in wave if only is None or s.name in only]
            # joined services stop before the namespace owner
            for group in (
                [s for s in chosen if s.name != owner],
                [s for s in chosen if s.name == owner],
            ):
                await asyncio.gather(
                    *(
                        self.engine.stop_container(
                            self.tr.container_name(self.wl, replica, s.name), self.stop_seconds
                        )
                        for s in group
                    )
                )

    async def remove_services(self, replica: int, names: Sequence[str]) -> None:
        """Remove the named services' containers of ``replica`` (joiners before owners)."""
        waves = startup_names(self.wl.services)
        for wave in reversed(waves):
            await asyncio.gather(
                *(
                    self.engine.remove_container(self.tr.container_name(self.wl, replica, n))
                    for n in wave
                    if n in names
                )
            )


def startup_names(services: Sequence[ServiceSpec]) -> list[list[str]]:
    """Service names in start-up order (inits first), wave by wave."""
    return [[s.name for s in w] for w in (*init_waves(services), *long_lived_waves(services))]
