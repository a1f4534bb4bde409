"""Pure reading of a rollout: whether the pods of a release are all there and ready, or
why they never will be (:func:`assess`), and the failed readiness probes behind a failed
gate (:func:`probe_evidence`), from the controller, its pods and their ``Unhealthy`` Events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.health import ProbeResult, probe_kind, probe_target
from ctrlplane.provider.kubernetes.observe.pods import (
    FAILED_REASONS,
    IMAGE_REASONS,
    container_statuses,
    is_current,
    is_ready,
    live_pods,
    parse_time,
    unschedulable,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["Verdict", "assess", "probe_evidence"]


@dataclass(frozen=True)
class Verdict:
    """Where a rollout stands: ``done``, or ``failed`` at ``step`` for ``reason``."""

    done: bool = False
    failed: bool = False
    step: str = ""
    reason: str = ""
    unhealthy: tuple[str, ...] = ()
    """Services of the new pods that fail their readiness probe past its threshold."""


def assess(
    req: ProvisionRequest,
    workload: JSON,
    pods: Sequence[JSON],
    *,
    release: str,
    restarted_at: str,
    events: Sequence[JSON] = (),
    updated: int | None = None,
) -> Verdict:
    """Whether the pods of ``release`` are all there and ready, or why they never will be.

    ``updated`` is how many pods must run ``release`` (``None``: all of them; fewer for a
    partitioned StatefulSet update, whose other pods keep their version but must be ready).

    Failures: a pod the scheduler cannot place (step ``schedule``, with its reason), an
    init container that exited non-zero (step ``init <name>``), an image that cannot be
    pulled (``pull``), a crash-looping or exited long-lived container (``start``: it runs
    with ``restartPolicy: Always``, so any exit is a crash), a readiness probe failing
    past its threshold per the pod's ``Unhealthy`` Events (``gate``), the controller's
    progress deadline (``rollout``).
    """
    spec = workload.get("spec") or {}
    want = int(spec.get("replicas", 1))
    live = live_pods(pods)
    mine = [p for p in live if is_current(p, release, restarted_at)]
    for pod in mine:
        why = unschedulable(pod)
        if why is not None:
            name = pod["metadata"]["name"]
            return Verdict(
                failed=True,
                step="schedule",
                reason=f"pod {name} cannot be scheduled: {why}",
            )
    for pod in mine:
        statuses = container_statuses(pod)
        for svc in req.services:
            cs = statuses.get(svc.name)
            if cs is None:
                continue
            state = cs.get("state") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            term = state.get("terminated") or {}
            waiting = state.get("waiting") or {}
            if svc.role is ServiceRole.INIT and (term.get("exitCode") or last.get("exitCode")):
                code = term.get("exitCode") or last.get("exitCode")
                return Verdict(
                    failed=True,
                    step=f"init {svc.name}",
                    reason=f"init {svc.name} exited with code {code}",
                )
            reason = waiting.get("reason", "")
            if reason in IMAGE_REASONS:
                detail = f"{reason}: {waiting.get('message', '')}".rstrip(": ")
                return Verdict(
                    failed=True,
                    step="pull",
                    reason=f"image {svc.image!r} of {svc.name} cannot be pulled: {detail}",
                )
            if reason in FAILED_REASONS:
                code = last.get("exitCode")
                return Verdict(
                    failed=True,
                    step="start",
                    reason=f"{svc.name} is failing: {reason}"
                    + (f" (exit code {code})" if code is not None else ""),
                )
            if term and svc.role is not ServiceRole.INIT:
                return Verdict(
                    failed=True,
                    step="start",
                    reason=f"{svc.name} exited with code {term.get('exitCode')} "
                    f"({term.get('reason') or 'Error'}); it runs with restartPolicy Always, "
                    "so any exit is a crash",
                )
    unhealthy = _unhealthy(req, mine, events)
    if unhealthy:
        return Verdict(
            failed=True,
            step="gate",
            reason=f"{', '.join(unhealthy)} failed the readiness probe",
            unhealthy=tuple(unhealthy),
        )
    status = workload.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return Verdict(
                failed=True, step="rollout", reason="the rollout exceeded its progress deadline"
            )
    generation = int(workload["metadata"].get("generation", 0))
    observed = int(status.get("observedGeneration", 0))
    ready = [p for p in live if is_ready(p)]
    expected = want if updated is None else updated
    done = (
        observed >= generation
        and _rolled(workload, want, updated)
        and len(live) == want
        and len(mine) == expected
        and len(ready) == want
    )
    return Verdict(done=done)


def _rolled(workload: JSON, want: int, updated: int | None) -> bool:
    """Whether the controller says its pods run its current template (a change that keeps
    the release, such as new limits, rolls the pods too): a Deployment has only updated
    replicas; a StatefulSet's update revision is current (or, partitioned, ``updated``
    pods run it)."""
    status = workload.get("status") or {}
    if workload.get("kind") == "StatefulSet":
        if updated is not None:
            return int(status.get("updatedReplicas") or 0) >= updated
        if not want:
            return True
        return bool(status.get("updateRevision")) and status.get("updateRevision") == status.get(
            "currentRevision"
        )
    return (
        int(status.get("updatedReplicas") or 0) >= want and int(status.get("replicas") or 0) == want
    )


def _unhealthy_events(pod: JSON, events: Sequence[JSON]) -> dict[str, list[JSON]]:
    uid = pod["metadata"].get("uid")
    out: dict[str, list[JSON]] = {}
    for ev in events:
        ref = ev.get("involvedObject") or {}
        if ref.get("uid") != uid or ev.get("reason") != "Unhealthy":
            continue
        if "Readiness probe failed" not in str(ev.get("message", "")):
            continue
        path = str(ref.get("fieldPath", ""))
        name = path.split("{", 1)[-1].rstrip("}") if "{" in path else ""
        out.setdefault(name, []).append(ev)
    return out


def _unhealthy(req: ProvisionRequest, pods: Sequence[JSON], events: Sequence[JSON]) -> list[str]:
    found: list[str] = []
    for pod in pods:
        if is_ready(pod):
            continue
        per = _unhealthy_events(pod, events)
        for svc in req.services:
            hc = svc.health_check
            if hc is None or svc.role is ServiceRole.INIT:
                continue
            count = sum(int(e.get("count", 1)) for e in per.get(svc.name, []))
            if count >= (hc.retries or 3) and svc.name not in found:
                found.append(svc.name)
    return found


def probe_evidence(
    req: ProvisionRequest, pods: Sequence[JSON], events: Sequence[JSON]
) -> list[ProbeResult]:
    """The failed readiness probes of ``pods`` (from their Events) as probe results."""
    out: list[ProbeResult] = []
    for replica, pod in enumerate(pods):
        for name, evs in _unhealthy_events(pod, events).items():
            try:
                svc = req.service(name)
            except KeyError:
                continue
            if svc.health_check is None:
                continue
            for ev in evs:
                at = (
                    parse_time(ev.get("lastTimestamp") or ev.get("eventTime"))
                    or datetime.now().astimezone()
                )
                out.append(
                    ProbeResult(
                        service=name,
                        replica=replica,
                        kind=probe_kind(svc.health_check),
                        target=probe_target(svc.health_check),
                        attempt=int(ev.get("count", 1)),
                        healthy=False,
                        observed=str(ev.get("message", "")),
                        at=at,
                    )
                )
    return out
