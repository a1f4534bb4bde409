"""Deploys through Nomad deployments: rolling, canary and blue-green, gated by checks.

See :meth:`~ctrlplane.provider.nomad.NomadProvider.deploy` for the contract.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ctrlplane.errors import (
    CtrlplaneError,
    DeployFailed,
)
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import (
    RolledBack,
    Subscriber,
    TrafficSwitched,
    emit,
)
from ctrlplane.provider.events import StepTracker as Steps
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.nomad.checkgate import FailureCounter, check_limits
from ctrlplane.provider.nomad.client import NomadClient
from ctrlplane.provider.nomad.jobspec import (
    job_id,
    translate,
)
from ctrlplane.provider.nomad.meta import (
    RELEASE,
    ReleaseMeta,
    created_at,
    request_from_job,
)
from ctrlplane.provider.nomad.status import (
    current_allocs,
)
from ctrlplane.provider.nomad.waits import (
    Failed,
    JobReader,
    probe_results,
    seconds,
    task_failure,
    uncancellable,
)
from ctrlplane.provider.spec import (
    ProvisionRequest,
)

__all__ = ["Rollouts"]

JSON = dict[str, Any]


class Rollouts(JobReader):
    """Rolls a new job version out with a strategy; restores the previous on failure."""

    def _canaries(self, strategy: DeployStrategy, replicas: int) -> int:
        if strategy is DeployStrategy.CANARY:
            return min(self.config.canary_count, replicas)
        if strategy is DeployStrategy.BLUE_GREEN:
            return replicas
        return 0

    async def _roll_out(
        self,
        api: NomadClient,
        previous: JSON,
        new: ProvisionRequest,
        release: ReleaseMeta,
        strategy: DeployStrategy,
        events: Subscriber | None = None,
    ) -> None:
        iid = new.instance_id
        canaries = self._canaries(strategy, max(new.main.resources.replicas, 1))
        job = translate(new, release, self.config, canary=canaries, created=created_at(previous))
        evidence: list[ProbeResult] = []
        steps = Steps(iid, events)
        live = str((previous.get("Meta") or {}).get(RELEASE, ""))
        step = "register"
        try:
            async with asyncio.timeout(seconds(self.config.deploy_timeout)):
                await steps.enter(step, release.release_id)
                await api.put("/v1/jobs", {"Job": job})
                if canaries:
                    step = "gate canaries"
                    await steps.enter(step, f"{canaries} canaries")
                    dep = await self._gate_canaries(
                        api, iid, release.release_id, canaries, evidence, events
                    )
                    step = "promote"
                    await steps.enter(step)
                    await api.post(
                        f"/v1/deployment/promote/{dep}", {"DeploymentID": dep, "All": True}
                    )
                    if strategy is DeployStrategy.BLUE_GREEN:
                        # Promotion is the switch: Nomad moves the service registrations
                        # to the new set and stops the old one (no retire delay).
                        switched = TrafficSwitched(
                            instance_id=iid, from_release=live, to_release=release.release_id
                        )
                        await emit(events, switched)
                step = "rollout"
                await steps.enter(step, str(strategy))
                await self._wait_version(api, iid, step, evidence, release=release.release_id)
                await steps.finish()
        except BaseException as exc:
            await steps.fail(self._failure(exc))
            restore_error = await uncancellable(self._restore(api, previous))
            reason = self._failure(exc)
            if restore_error:
                reason += f"; restoring the previous release {live!r} also failed: {restore_error}"
            else:
                await emit(events, RolledBack(instance_id=iid, to_release=live, reason=reason))
            gate = isinstance(exc, TimeoutError | Failed)
            if isinstance(exc, asyncio.CancelledError) or not (gate or restore_error):
                raise
            if not isinstance(exc, Exception):
                raise
            failing = [r for r in evidence if not r.healthy] or evidence
            raise DeployFailed(
                iid,
                strategy=str(strategy),
                step=exc.step if isinstance(exc, Failed) else step,
                reason=reason,
                evidence=failing if isinstance(exc, Failed) else evidence,
                rolled_back=not restore_error,
            ) from (exc if isinstance(exc, CtrlplaneError) else None)

    def _failure(self, exc: BaseException) -> str:
        """One line on why a rollout step ended badly."""
        if isinstance(exc, asyncio.CancelledError):
            return "cancelled"
        if isinstance(exc, TimeoutError):
            return f"timed out after {seconds(self.config.deploy_timeout):g}s"
        if isinstance(exc, Failed):
            return exc.reason
        return str(exc) or type(exc).__name__

    async def _gate_canaries(
        self,
        api: NomadClient,
        iid: str,
        release: str,
        count: int,
        evidence: list[ProbeResult],
        events: Subscriber | None,
    ) -> str:
        """Wait until ``count`` canaries of the new version are healthy and stay so for
        ``canary_observation``; fail the deployment (:class:`Failed`) when Nomad finds a
        canary unhealthy, or a canary's check fails its ``retries`` consecutive times
        (:mod:`~ctrlplane.provider.nomad.checkgate`). Returns the deployment ID."""
        poll = seconds(self.config.poll_interval)
        seen: set[tuple[str, str, int]] = set()
        healthy_since: float | None = None
        counter: FailureCounter | None = None
        while True:
            job = await self._job(api, iid)
            if (job.get("Meta") or {}).get(RELEASE) != release:
                raise Failed("gate canaries", "the job was changed or reverted meanwhile")
            if counter is None:
                counter = FailureCounter(check_limits(request_from_job(job)))
            dep = await api.get(f"/v1/job/{job_id(iid)}/deployment")
            allocs = [
                a
                for a in current_allocs(job, await self._allocs(api, iid))
                if (a.get("DeploymentStatus") or {}).get("Canary")
            ]
            await self._gather(api, allocs, evidence, seen, events)
            broken = [
                a
                for a in allocs
                if a.get("ClientStatus") == "failed"
                or (a.get("DeploymentStatus") or {}).get("Healthy") is False
            ]
            if (
                broken
                or not isinstance(dep, dict)
                or dep.get("JobVersion") != job.get("Version")
                or dep.get("Status") in ("failed", "cancelled")
            ):
                if isinstance(dep, dict) and dep.get("Status") == "running":
                    await self._fail_deployment(api, str(dep["ID"]))
                reason = task_failure(broken) or "a canary failed its health checks"
                raise Failed("gate canaries", reason)
            tripped = await self._count_failures(api, allocs, counter, evidence)
            if tripped is not None:
                await self._fail_deployment(api, str(dep["ID"]))
                phase = "observe canaries" if healthy_since is not None else "gate canaries"
                raise Failed(phase, f"a canary is unhealthy: {tripped}")
            healthy = [a for a in allocs if (a.get("DeploymentStatus") or {}).get("Healthy")]
            passing = True
            for alloc in healthy:
                results = probe_results(await self._checks(api, str(alloc["ID"])), 0)
                passing = passing and all(r.healthy for r in results)
            if len(healthy) >= count and passing:
                healthy_since = healthy_since or time.monotonic()
                if time.monotonic() - healthy_since >= seconds(self.config.canary_observation):
                    return str(dep["ID"])
            else:
                healthy_since = None  # observed again from the next passing poll
            await asyncio.sleep(poll)
