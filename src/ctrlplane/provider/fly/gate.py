"""Health gates of Machines (I/O): Fly's own check results, or exec probes via ``/exec``.

An http or tcp check is a Machine check (:mod:`~ctrlplane.provider.fly.render.checks`):
Fly runs it and reports ``CheckStatus`` on the Machine. The gate reads the Machine every
poll: each new result (a changed ``updated_at``) is one probe result; the gate passes on
``passing`` and fails after ``retries`` consecutive ``critical`` results, when the Machine
stops running, or at the deadline. An exec check has no Machine check type, so the core
probe engine (:func:`~ctrlplane.provider.health.run_gate`) runs it through ``/exec``.

Probe results never quote container output: an exec probe reports its exit code only,
a check Fly's one-line output (``HTTP 503``), scrubbed with the operation's redactor.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.deadlines import Deadline, seconds
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render.checks import CHECK_NAME
from ctrlplane.provider.health import (
    GateOutcome,
    ProbeOutcome,
    ProbePolicy,
    ProbeResult,
    probe_kind,
    probe_target,
    run_gate,
)
from ctrlplane.provider.spec import HealthCheckSpec

__all__ = ["Gate", "ProbeSink"]

ProbeSink = Callable[[ProbeResult], Awaitable[None]]


class Gate:
    """Gates Machines of one app; ``redact`` scrubs what a probe observed."""

    def __init__(self, ctx: FlyContext, app: str, redact: Callable[[str], str]) -> None:
        self.ctx = ctx
        self.app = app
        self.redact = redact

    def policy(self, hc: HealthCheckSpec) -> ProbePolicy:
        cfg = self.ctx.config
        base = ProbePolicy(
            interval=seconds(cfg.check_interval),
            timeout=seconds(cfg.check_timeout),
            retries=cfg.check_retries,
            start_period=seconds(cfg.check_grace_period),
        )
        return base.apply(hc)

    def _result(
        self, hc: HealthCheckSpec, service: str, replica: int, attempt: int, outcome: ProbeOutcome
    ) -> ProbeResult:
        return ProbeResult(
            service=service,
            replica=replica,
            kind=probe_kind(hc),
            target=probe_target(hc),
            attempt=attempt,
            healthy=outcome.healthy,
            observed=self.redact(outcome.observed),
            status_code=outcome.status_code,
            exit_code=outcome.exit_code,
            at=datetime.now(UTC),
        )

    async def exec_probe(self, machine_id: str, hc: HealthCheckSpec) -> ProbeOutcome:
        """One exec probe in the Machine (its exit code, never its output)."""
        limit = max(1, math.ceil(self.policy(hc).timeout))
        try:
            answer = await self.ctx.api.exec(self.app, machine_id, list(hc.command), limit)
        except CtrlplaneError as exc:
            return ProbeOutcome(False, f"exec failed: {exc}")
        code = int(answer.get("exit_code") or 0)
        return ProbeOutcome(code == 0, f"exit code {code}", exit_code=code)

    async def check_once(self, machine_id: str) -> ProbeOutcome:
        """The Machine's current check result (one observation round)."""
        found = await self.ctx.api.get_machine(self.app, machine_id)
        if found is None:
            return ProbeOutcome(False, "the machine is gone")
        view = MachineView.of(found)
        if view.state != "started":
            return ProbeOutcome(False, f"the machine is {view.state}")
        for name, status, output, _ in view.check_statuses():
            if name == CHECK_NAME:
                return ProbeOutcome(status == "passing", f"{status}: {output}")
        return ProbeOutcome(False, "no check result")

    async def probe_once(
        self, view: MachineView, service: str, hc: HealthCheckSpec, attempt: int = 1
    ) -> ProbeResult:
        """One probe of the service's Machine (canary observation)."""
        if probe_kind(hc) == "exec":
            outcome = await self.exec_probe(view.id, hc)
        else:
            outcome = await self.check_once(view.id)
        return self._result(hc, service, view.replica, attempt, outcome)

    async def gate(
        self,
        view: MachineView,
        service: str,
        hc: HealthCheckSpec,
        deadline: Deadline,
        on_probe: ProbeSink | None = None,
    ) -> GateOutcome:
        """Probe the service's Machine until it passes or fails (module docs)."""
        if probe_kind(hc) == "exec":
            policy = self.policy(hc)

            async def probe() -> ProbeOutcome:
                return await self.exec_probe(view.id, hc)

            async def seen(result: ProbeResult) -> None:
                if on_probe is not None:
                    await on_probe(
                        result.model_copy(update={"observed": self.redact(result.observed)})
                    )

            outcome = await run_gate(
                probe,
                policy,
                service=service,
                replica=view.replica,
                kind="exec",
                target=probe_target(hc),
                deadline=deadline.at,
                on_result=seen,
            )
            return GateOutcome(
                outcome.passed,
                [
                    r.model_copy(update={"observed": self.redact(r.observed)})
                    for r in outcome.results
                ],
                self.redact(outcome.reason),
            )
        return await self._watch_checks(view, service, hc, deadline, on_probe)

    async def _watch_checks(
        self,
        view: MachineView,
        service: str,
        hc: HealthCheckSpec,
        deadline: Deadline,
        on_probe: ProbeSink | None,
    ) -> GateOutcome:
        policy = self.policy(hc)
        pause = max(0.01, min(policy.interval / 2, seconds(self.ctx.config.poll_interval)))
        results: list[ProbeResult] = []
        failures = 0
        seen = ""
        while True:
            found = await self.ctx.api.get_machine(self.app, view.id)
            current = MachineView.of(found) if found is not None else None
            outcome: ProbeOutcome | None = None
            if current is None or current.state in ("stopped", "failed", "destroyed"):
                state = current.state if current is not None else "gone"
                outcome = ProbeOutcome(False, f"the machine is {state}")
            else:
                for name, status, output, updated in current.check_statuses():
                    if name == CHECK_NAME and updated != seen and status in ("passing", "critical"):
                        seen = updated
                        outcome = ProbeOutcome(status == "passing", output or status)
            if outcome is not None:
                result = self._result(hc, service, view.replica, len(results) + 1, outcome)
                results.append(result)
                if on_probe is not None:
                    await on_probe(result)
                if outcome.healthy:
                    return GateOutcome(True, results, "healthy")
                failures += 1
                if current is None or current.state in ("stopped", "failed", "destroyed"):
                    return GateOutcome(False, results, result.observed)
                if failures >= policy.retries:
                    return GateOutcome(
                        False, results, f"{failures} consecutive failed checks: {result.observed}"
                    )
            if deadline.expired():
                return GateOutcome(False, results, "health gate deadline passed")
            await asyncio.sleep(min(pause, deadline.remaining()))
