"""Deploy strategies of the fake, each gated by health checks, with automatic restore.

- ``rolling``: per replica unit, start the new unit beside the old one (surge 1), gate
  it, then stop and retire the old one.
- ``blue-green``: start a full new set beside the old (not serving), gate every unit,
  then switch traffic to it in one step and retire the old set.
- ``canary``: replace the first unit as in rolling, gate it, watch it for the observation
  period (probing again at its end), then roll the rest.

A failed gate, the progress deadline or cancellation restores the previous units (the
old set keeps serving) and raises :class:`~ctrlplane.errors.DeployFailed` carrying the
strategy, the step and the probe results (cancellation re-raises ``CancelledError``).
Progress events (steps, units, probes, traffic switch, roll back) go to the runner's
subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from ctrlplane.errors import DeployFailed
from ctrlplane.provider.enums import DeployStrategy, ServiceRole
from ctrlplane.provider.events import (
    RolledBack,
    StepFinished,
    StepStarted,
    TrafficSwitched,
    UnitRemoved,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ServiceDeploySpec, ServiceSpec
from ctrlplane.testing.probes import probe_once
from ctrlplane.testing.records import InstanceRecord, Unit
from ctrlplane.testing.runtime import Runner, SecretMaterial, UnitFailed, build_unit, stop_unit

__all__ = ["RolloutSettings", "deployed", "restored", "roll_out"]


def deployed(svc: ServiceSpec, change: ServiceDeploySpec | None) -> ServiceSpec:
    """``svc`` after a deploy's ``change``: its image and env (replaced); its health check
    if the change has one. Unlisted services (``None``) are unchanged."""
    if change is None:
        return svc
    return svc.model_copy(
        update={
            "image": change.image,
            "env": dict(change.env),
            "health_check": change.health_check or svc.health_check,
        }
    )


def restored(svc: ServiceSpec, release: Release) -> ServiceSpec:
    """``svc`` with exactly the deployable fields ``release`` recorded for it."""
    try:
        snap = release.service(svc.name)
    except KeyError:
        return svc
    return svc.model_copy(
        update={"image": snap.image, "env": dict(snap.env), "health_check": snap.health_check}
    )


@dataclass(frozen=True)
class RolloutSettings:
    """Timing of a rollout: ``time_scale`` multiplies every wait (probe intervals too)."""

    time_scale: float = 1.0
    canary_observation: float = 0.1
    progress_deadline: float = 60.0


class _Rollout:
    def __init__(
        self,
        runner: Runner,
        record: InstanceRecord,
        services: Sequence[ServiceSpec],
        secrets: dict[str, SecretMaterial],
        settings: RolloutSettings,
    ) -> None:
        self.runner = runner
        self.backend = runner.backend
        self.record = record
        self.old_services = list(record.services)
        self.old_units = list(record.units)
        self.old_release = record.live_release.release_id if record.live_release else ""
        self.services = list(services)
        self.secrets = secrets
        self.settings = settings
        self.added: list[Unit] = []
        self.retired: list[Unit] = []
        self.evidence: list[ProbeResult] = []
        self.step = "start"

    async def enter(self, step: str) -> None:
        self.step = step
        await self.runner.emit(StepStarted(instance_id=self.record.instance_id, step=step))

    async def done(self) -> None:
        await self.runner.emit(StepFinished(instance_id=self.record.instance_id, step=self.step))

    async def start_new(self, replica: int, *, staged: bool) -> Unit:
        unit = build_unit(self.backend, self.record, replica, self.services, self.secrets)
        self.added.append(unit)
        if staged:
            self.backend.staged.setdefault(self.record.instance_id, []).append(unit)
        else:
            self.record.units.append(unit)
        self.evidence += await self.runner.run_unit(unit, self.services)
        return unit

    async def retire(self, unit: Unit) -> None:
        stop_unit(self.backend, unit, self.old_services)
        if unit in self.record.units:
            self.record.units.remove(unit)
        self.retired.append(unit)
        for name in unit.containers:
            await self.runner.emit(
                UnitRemoved(
                    instance_id=self.record.instance_id,
                    service=name,
                    replica=unit.replica,
                    release_id=self.old_release,
                )
            )

    async def rolling(self, canary: bool) -> None:
        for i, old in enumerate(self.old_units):
            await self.enter(f"replace replica {old.replica}")
            new = await self.start_new(old.replica, staged=False)
            if canary and i == 0:
                await self.done()
                await self.enter("observe canary")
                await asyncio.sleep(self.settings.canary_observation * self.settings.time_scale)
                await self.recheck(new)
            await self.retire(old)
            await self.done()
        await self.switched()

    async def recheck(self, unit: Unit) -> None:
        for svc in self.services:
            if svc.health_check is None or svc.role is ServiceRole.INIT:
                continue
            result = await probe_once(self.backend, unit.containers[svc.name], svc.health_check)
            self.evidence.append(result)
            if not result.healthy:
                raise UnitFailed(
                    f"health {svc.name}", f"canary turned unhealthy: {result.observed}"
                )

    async def blue_green(self) -> None:
        await self.enter("start new set")
        green = [await self.start_new(u.replica, staged=True) for u in self.old_units]
        await self.done()
        await self.enter("switch traffic")
        self.backend.staged.pop(self.record.instance_id, None)
        self.record.units[:] = green
        await self.switched()
        for unit in self.old_units:
            await self.retire(unit)
        await self.done()

    async def switched(self) -> None:
        await self.runner.emit(
            TrafficSwitched(
                instance_id=self.record.instance_id,
                from_release=self.old_release,
                to_release=self.runner.release_id,
            )
        )

    async def restore(self, reason: str) -> None:
        """Remove what the rollout added and bring the old units back."""
        self.backend.staged.pop(self.record.instance_id, None)
        for unit in self.added:
            stop_unit(self.backend, unit, self.services)
            if unit in self.record.units:
                self.record.units.remove(unit)
        old = Runner(
            self.backend,
            self.record.instance_id,
            self.runner.secret_values,
            self.runner.time_scale,
            self.runner.progress,
            self.old_release,
        )
        for unit in self.retired:
            # A unit that fails to come back is reported by status; the others go on.
            with contextlib.suppress(UnitFailed):
                await old.run_unit(unit, self.old_services)
        self.record.units[:] = sorted(self.old_units, key=lambda u: u.replica)
        self.record.services = self.old_services
        await self.runner.emit(
            RolledBack(
                instance_id=self.record.instance_id, to_release=self.old_release, reason=reason
            )
        )


async def roll_out(
    runner: Runner,
    record: InstanceRecord,
    services: Sequence[ServiceSpec],
    strategy: DeployStrategy,
    *,
    secrets: dict[str, SecretMaterial],
    settings: RolloutSettings = RolloutSettings(),
) -> list[ProbeResult]:
    """Replace ``record``'s units with units of ``services`` using ``strategy``.

    ``runner.release_id`` names the release being rolled out. On success
    ``record.services`` is ``services`` and the probe results are returned.
    """
    run = _Rollout(runner, record, services, secrets, settings)
    try:
        async with asyncio.timeout(settings.progress_deadline):
            if strategy is DeployStrategy.BLUE_GREEN:
                await run.blue_green()
            else:
                await run.rolling(canary=strategy is DeployStrategy.CANARY)
    except UnitFailed as exc:
        await run.restore(exc.reason)
        raise DeployFailed(
            record.instance_id,
            strategy=str(strategy),
            step=f"{run.step} ({exc.step})",
            reason=exc.reason,
            evidence=[*run.evidence, *exc.evidence],
        ) from None
    except TimeoutError:
        reason = f"progress deadline of {settings.progress_deadline:g}s passed"
        await run.restore(reason)
        raise DeployFailed(
            record.instance_id,
            strategy=str(strategy),
            step=run.step,
            reason=reason,
            evidence=run.evidence,
        ) from None
    except BaseException:
        await run.restore("cancelled")
        raise
    record.units.sort(key=lambda u: u.replica)
    record.services = list(services)
    return run.evidence
