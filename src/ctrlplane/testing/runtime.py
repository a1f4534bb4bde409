"""Running fake replica units: build containers, start them in order, gate, stop.

Used by :class:`~ctrlplane.testing.FakeProvider` for provision, start, scale and the
deploy strategies, through :class:`Runner` (which also reports progress events). A unit
starts inits one wave at a time (each must exit 0), then mains and sidecars in
``depends_on`` waves; a service with a health check must pass it before the next wave
starts, so ``depends_on`` waits for health. Failures raise :class:`UnitFailed`
naming the step; secret values are redacted from every message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from ctrlplane.errors import SecretNotFound
from ctrlplane.provider.enums import SecretType, ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    Subscriber,
    UnitStarted,
    emit,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.provider.validation import secret_target, startup_order
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.probes import gate
from ctrlplane.testing.records import ContainerFiles, FakeContainer, InstanceRecord, Unit
from ctrlplane.testing.shell import run_command

__all__ = [
    "Runner",
    "SecretMaterial",
    "UnitFailed",
    "build_unit",
    "redact",
    "resolve_secrets",
    "start_container",
    "stop_unit",
]


class UnitFailed(Exception):
    """A unit could not start: ``step`` says where, ``evidence`` holds probe results."""

    def __init__(self, step: str, reason: str, evidence: Sequence[ProbeResult] = ()) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason
        self.evidence = list(evidence)


@dataclass
class SecretMaterial:
    """The resolved secrets of one service: env vars and files (values never logged)."""

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def redact(text: str, values: Sequence[bytes]) -> str:
    """``text`` with every secret value replaced by ``[redacted]``."""
    for value in values:
        shown = value.decode(errors="replace")
        if shown:
            text = text.replace(shown, "[redacted]")
    return text


async def resolve_secrets(
    resolver: SecretResolver | None,
    services: Sequence[ServiceSpec],
    *,
    tenant_id: str,
    instance_id: str,
) -> tuple[dict[str, SecretMaterial], list[bytes]]:
    """Resolve every service's secrets: per-service material, and all values (to redact)."""
    material: dict[str, SecretMaterial] = {}
    values: list[bytes] = []
    for svc in services:
        mine = material.setdefault(svc.name, SecretMaterial())
        for ref in svc.secrets:
            if resolver is None:
                raise SecretNotFound(ref.key, looked_in="nothing: the provider has no resolver")
            value = await resolver.resolve(ref, tenant_id=tenant_id, instance_id=instance_id)
            values.append(value)
            target = secret_target(ref)
            if ref.type is SecretType.ENV:
                mine.env[target] = value.decode(errors="replace")
            elif ref.type is not SecretType.REGISTRY:
                mine.files[target] = bytes(value)
    return material, values


def build_unit(
    backend: FakeBackend,
    record: InstanceRecord,
    replica: int,
    services: Sequence[ServiceSpec],
    secrets: dict[str, SecretMaterial],
    release_id: str = "",
) -> Unit:
    """Create (not start) the containers of one replica unit of release ``release_id``
    (the live one when empty). Images must exist."""
    live = record.live_release
    unit = Unit(replica=replica, release_id=release_id or (live.release_id if live else ""))
    for svc in services:
        image = backend.image(svc.image)
        if image is None:
            raise UnitFailed("pull", f"image {svc.image!r} not found")
        files = ContainerFiles(own=dict(image.files))
        for cf in svc.config_files:
            files.own[cf.path] = cf.content.encode()
        mine = secrets.get(svc.name, SecretMaterial())
        files.own.update(mine.files)
        for vol in svc.volumes:
            if vol.type is VolumeType.TMPFS:
                store: dict[str, bytes] = {}
            else:
                key = (
                    vol.name if record.kind is WorkloadKind.DEPLOYMENT else f"{vol.name}-{replica}"
                )
                store = record.volumes.setdefault(key, {})
            files.mounts.append((vol.mount_path.rstrip("/"), store))
        unit.containers[svc.name] = FakeContainer(
            service=svc.name,
            replica=replica,
            role=svc.role,
            image=image,
            env={**svc.env, **mine.env},
            files=files,
            ports=[p.container for p in svc.ports],
            image_ref=svc.image,
        )
    return unit


async def _process(
    backend: FakeBackend, c: FakeContainer, svc: ServiceSpec, time_scale: float
) -> int | None:
    """The container's main process: its exit code, or ``None`` if it blocks (keeps running)."""
    image = c.image
    argv = [*svc.command, *svc.args]
    if argv and image.shell:

        def sink(out: bytes, err: bytes) -> None:
            backend.emit(c, out)
            backend.emit(c, err, "stderr")

        res = await run_command(argv, env=c.env, fs=c.files, at_start=True, sink=sink)
        sink(res.stdout, res.stderr)
        return None if res.blocked else res.exit_code
    if image.exit_code is not None:
        if image.run_for > 0:
            await asyncio.sleep(image.run_for * time_scale)
        return image.exit_code
    return None


def _exited(c: FakeContainer, code: int | None) -> None:
    if code is not None and c.running:
        c.state, c.exit_code = "exited", code


async def start_container(
    backend: FakeBackend, c: FakeContainer, svc: ServiceSpec, *, time_scale: float = 1.0
) -> None:
    """Start ``c``'s process.

    An init runs to completion here. A long-lived process runs in the background (an
    asyncio task, cancelled when the container stops); this returns once it has run up to
    its first wait, so a process that fails at once is already exited.
    """
    c.state, c.exit_code, c.ticks = "running", None, 0
    c.started_at = backend.now()
    for line in c.image.stdout:
        backend.emit(c, line)
    for line in c.image.stderr:
        backend.emit(c, line, "stderr")
    if svc.role is ServiceRole.INIT:
        code = await _process(backend, c, svc, time_scale)
        forced = backend.faults.init_exit_code(svc.name)
        if forced is not None:
            backend.emit(
                c, f"exit {forced} (failure injected by FakeBackend.faults.fail_init)", "stderr"
            )
            code = forced
        _exited(c, code)
        return
    task = asyncio.create_task(_process(backend, c, svc, time_scale))
    c.process = task

    def finished(done: asyncio.Task[int | None]) -> None:
        if c.process is done and not done.cancelled() and done.exception() is None:
            _exited(c, done.result())

    task.add_done_callback(finished)
    await asyncio.sleep(0)  # let the process run up to its first wait
    if task.done():
        finished(task)


def stop_container(backend: FakeBackend, c: FakeContainer) -> None:
    """Stop ``c`` gracefully (exit 0) if it runs."""
    backend.catch_up(c)
    if c.process is not None:
        c.process.cancel()
        c.process = None
    if c.running:
        c.state, c.exit_code = "exited", 0


def stop_unit(backend: FakeBackend, unit: Unit, services: Sequence[ServiceSpec]) -> None:
    """Stop a unit's containers in reverse startup order."""
    for wave in reversed(startup_order(services)):
        for svc in reversed(wave):
            if svc.name in unit.containers:
                stop_container(backend, unit.containers[svc.name])


def _last_lines(c: FakeContainer, values: Sequence[bytes], n: int = 5) -> str:
    lines = [r.line for r in c.logs[-n:]]
    return redact(" | ".join(lines), values) if lines else "(no output)"


@dataclass
class Runner:
    """Starts units of one instance, reporting progress to ``progress`` (if any)."""

    backend: FakeBackend
    instance_id: str
    secret_values: Sequence[bytes] = ()
    time_scale: float = 1.0
    progress: Subscriber | None = None
    release_id: str = ""

    async def emit(self, event: ProgressEvent) -> None:
        """Send ``event`` to the subscriber."""
        await emit(self.progress, event)

    async def run_unit(
        self, unit: Unit, services: Sequence[ServiceSpec], *, inits: bool | None = None
    ) -> list[ProbeResult]:
        """Start ``unit`` in order, gating each wave on health checks; return the probes.

        ``inits`` True runs only the init services, False only the others, None all.
        Raises :class:`UnitFailed` (``init <name>``, ``start`` or ``health <name>``).
        """
        evidence: list[ProbeResult] = []
        for wave in startup_order(services):
            if inits is not None and (wave[0].role is ServiceRole.INIT) is not inits:
                continue
            for svc in wave:
                c = unit.containers[svc.name]
                await start_container(self.backend, c, svc, time_scale=self.time_scale)
                await self.emit(
                    UnitStarted(
                        instance_id=self.instance_id,
                        service=svc.name,
                        replica=unit.replica,
                        release_id=self.release_id,
                    )
                )
                self._check_exit(svc, c)
            for svc in wave:
                if svc.health_check is not None and svc.role is not ServiceRole.INIT:
                    evidence += await self._gate(unit, svc, evidence)
        return evidence

    def _check_exit(self, svc: ServiceSpec, c: FakeContainer) -> None:
        if svc.role is ServiceRole.INIT and c.exit_code != 0:
            raise UnitFailed(
                f"init {svc.name}",
                f"exited with code {c.exit_code}; last lines: {_last_lines(c, self.secret_values)}",
            )
        if svc.role is not ServiceRole.INIT and c.exit_code not in (None, 0):
            raise UnitFailed(
                "start",
                f"{svc.name} exited with code {c.exit_code}; "
                f"last lines: {_last_lines(c, self.secret_values)}",
            )

    async def _gate(
        self, unit: Unit, svc: ServiceSpec, earlier: list[ProbeResult]
    ) -> list[ProbeResult]:
        assert svc.health_check is not None
        outcome = await gate(
            self.backend,
            unit.containers[svc.name],
            svc.health_check,
            time_scale=self.time_scale,
            on_result=self._observed,
        )
        if not outcome.passed:
            raise UnitFailed(
                f"health {svc.name}",
                f"{svc.name} of replica {unit.replica} failed its health check: {outcome.reason}",
                [*earlier, *outcome.results],
            )
        return outcome.results

    async def _observed(self, result: ProbeResult) -> None:
        await self.emit(ProbeObserved(instance_id=self.instance_id, result=result))
