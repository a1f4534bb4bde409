"""Pure reading of pods and controllers: per-service states, instance status, rollout verdicts.

Input is what the API server returned (plain dicts); nothing here does I/O. A service is
one container name in every pod of the instance. Container states map as follows:
``running`` + ready -> running/ready; ``running`` not ready -> starting; ``waiting`` with
a failure reason (``ImagePullBackOff``, ``ErrImagePull``, ``CrashLoopBackOff``, ...) ->
failed with the reason; other ``waiting`` -> starting; a completed init -> stopped
(not counted in the aggregate); an init that exited non-zero -> failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.health import ProbeResult, probe_kind, probe_target
from ctrlplane.provider.kubernetes.render.naming import ANN_RELEASE, ANN_RESTARTED_AT, LABEL_ORDINAL
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import Endpoint, InstanceStatus, ServiceStatus, worst_state
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec

__all__ = [
    "FAILED_REASONS",
    "IMAGE_REASONS",
    "Verdict",
    "assess",
    "endpoints",
    "instance_status",
    "is_current",
    "is_ready",
    "live_pods",
    "parse_time",
    "probe_evidence",
    "public_addresses",
    "replica_order",
]


IMAGE_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
)
FAILED_REASONS = IMAGE_REASONS | {
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 time of the API server (``Z`` suffix, optional fraction)."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def live_pods(pods: Sequence[JSON]) -> list[JSON]:
    """Pods not being deleted."""
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def replica_order(pods: Sequence[JSON]) -> list[JSON]:
    """Live pods in replica order: StatefulSet ordinal, else creation time then name."""

    def key(p: JSON) -> tuple[int, str, str]:
        meta = p["metadata"]
        name = str(meta["name"])
        ordinal = name.rsplit("-", 1)[-1]
        by_ordinal = LABEL_ORDINAL in (meta.get("labels") or {})
        return (
            int(ordinal) if by_ordinal and ordinal.isdigit() else 0,
            str(meta.get("creationTimestamp", "")),
            name,
        )

    return sorted(live_pods(pods), key=key)


def _statuses(pod: JSON) -> dict[str, JSON]:
    status = pod.get("status") or {}
    out = {c["name"]: c for c in status.get("initContainerStatuses") or []}
    out.update({c["name"]: c for c in status.get("containerStatuses") or []})
    return out


def _container_state(svc: ServiceSpec, cs: JSON | None) -> tuple[InstanceState, bool, str]:
    """(state, ready, message) of one container status."""
    if cs is None:
        return InstanceState.STARTING, False, "not created yet"
    state = cs.get("state") or {}
    last = (cs.get("lastState") or {}).get("terminated")
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        message = state["waiting"].get("message", "")
        if reason in FAILED_REASONS:
            if last and reason == "CrashLoopBackOff":
                message = f"exited with code {last.get('exitCode')}"
            return InstanceState.FAILED, False, f"{reason}: {message}".rstrip(": ")
        return InstanceState.STARTING, False, reason
    if "terminated" in state:
        code = state["terminated"].get("exitCode", 0)
        if svc.role is ServiceRole.INIT and code == 0:
            return InstanceState.STOPPED, False, "completed"
        return InstanceState.FAILED, False, f"exited with code {code}"
    if "running" in state:
        if cs.get("ready"):
            return InstanceState.RUNNING, True, ""
        return InstanceState.STARTING, False, "running, not ready"
    return InstanceState.STARTING, False, ""


def _service_status(svc: ServiceSpec, pods: Sequence[JSON], pod_ref: str) -> ServiceStatus:
    states: list[InstanceState] = []
    ready = True
    restarts = 0
    messages: list[str] = []
    for pod in pods:
        cs = _statuses(pod).get(svc.name)
        state, ok, message = _container_state(svc, cs)
        states.append(state)
        ready = ready and ok
        restarts += int((cs or {}).get("restartCount", 0))
        if message and state is not InstanceState.RUNNING and message not in messages:
            messages.append(message)
    state = worst_state(states)
    return ServiceStatus(
        state=state,
        ready=ready and state is InstanceState.RUNNING,
        restarts=restarts,
        provider_ref=pod_ref,
        message="; ".join(messages) if state is not InstanceState.RUNNING else "",
    )


def public_addresses(
    service: JSON | None, nodes: Sequence[JSON]
) -> dict[int, list[tuple[str, int]]]:
    """Where each Service port is reachable from outside the cluster: the load balancer's
    ingress addresses (on the Service port) and the nodes' addresses (on the node port).

    ``nodes`` are the Nodes the instance's pods run on. External node addresses are preferred
    over internal ones. Returns target port -> [(host, port)].
    """
    if service is None:
        return {}
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    out: dict[int, list[tuple[str, int]]] = {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    hosts: list[str] = []
    for node in nodes:
        addresses = (node.get("status") or {}).get("addresses") or []
        by_type = {a.get("type"): a.get("address") for a in addresses}
        host = by_type.get("ExternalIP") or by_type.get("InternalIP")
        if host and host not in hosts:
            hosts.append(str(host))
    for port in spec.get("ports") or []:
        target = int(port.get("targetPort") or port["port"])
        found = out.setdefault(target, [])
        if kind == "LoadBalancer":
            for ing in ingress:
                host = ing.get("ip") or ing.get("hostname")
                if host:
                    found.append((str(host), int(port["port"])))
        if kind in ("NodePort", "LoadBalancer") and port.get("nodePort"):
            found += [(h, int(port["nodePort"])) for h in hosts]
    return out


def endpoints(
    req: ProvisionRequest,
    service_host: str,
    public: Mapping[int, Sequence[tuple[str, int]]] | None = None,
) -> list[Endpoint]:
    """Endpoints of the instance: the Service's cluster DNS name per port (not public), and
    the ``public`` addresses of each container port (see :func:`public_addresses`)."""
    out: list[Endpoint] = []
    for svc in req.services:
        if svc.role is ServiceRole.INIT:
            continue
        for p in svc.ports:
            scheme = "http" if p.protocol.value == "tcp" else p.protocol.value
            out.append(
                Endpoint(
                    service_name=svc.name,
                    url=f"{scheme}://{service_host}:{p.container}",
                    port=p.container,
                    protocol=p.protocol.value,
                    public=False,
                )
            )
            for host, port in (public or {}).get(p.container, []):
                shown = f"[{host}]" if ":" in host else host
                out.append(
                    Endpoint(
                        service_name=svc.name,
                        url=f"{scheme}://{shown}:{port}",
                        port=port,
                        protocol=p.protocol.value,
                        public=True,
                    )
                )
    return out


def instance_status(
    req: ProvisionRequest,
    workload: JSON,
    pods: Sequence[JSON],
    eps: Sequence[Endpoint],
    metadata: Mapping[str, str],
) -> InstanceStatus:
    """The instance's status from its controller and pods (worst-of over services)."""
    ordered = replica_order(pods)
    replicas = int((workload.get("spec") or {}).get("replicas", 0))
    ref = str(workload["metadata"]["name"])
    services: dict[str, ServiceStatus] = {}
    for svc in req.services:
        if replicas == 0:
            services[svc.name] = ServiceStatus(state=InstanceState.STOPPED, provider_ref=ref)
        elif not ordered:
            services[svc.name] = ServiceStatus(
                state=InstanceState.STARTING, provider_ref=ref, message="no pods yet"
            )
        else:
            services[svc.name] = _service_status(svc, ordered, ref)
    counted = [
        s
        for name, s in services.items()
        if req.service(name).role is not ServiceRole.INIT or s.state is InstanceState.FAILED
    ]
    state = worst_state(s.state for s in counted)
    if replicas and ordered and len(ordered) < replicas and state is InstanceState.RUNNING:
        state = InstanceState.STARTING
    ready = state is InstanceState.RUNNING and all(
        s.ready for n, s in services.items() if req.service(n).role is not ServiceRole.INIT
    )
    started = [t for p in ordered if (t := parse_time((p.get("status") or {}).get("startTime")))]
    failed = [f"{n}: {s.message}" for n, s in services.items() if s.state is InstanceState.FAILED]
    return InstanceStatus(
        state=state,
        ready=ready,
        restarts=sum(s.restarts for s in services.values()),
        started_at=min(started) if started else None,
        message="; ".join(failed),
        endpoints=list(eps),
        services=services,
        metadata=dict(metadata),
    )


@dataclass(frozen=True)
class Verdict:
    """Where a rollout stands: ``done``, or ``failed`` at ``step`` for ``reason``."""

    done: bool = False
    failed: bool = False
    step: str = ""
    reason: str = ""
    unhealthy: tuple[str, ...] = ()
    """Services of the new pods that fail their readiness probe past its threshold."""


def is_current(pod: JSON, release: str, restarted_at: str) -> bool:
    """Whether ``pod`` runs ``release`` with the restart stamp ``restarted_at``."""
    ann = pod["metadata"].get("annotations") or {}
    return ann.get(ANN_RELEASE) == release and ann.get(ANN_RESTARTED_AT, "") == restarted_at


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

    Failures: an init container that exited non-zero (step ``init <name>``), an image that
    cannot be pulled (``pull``), a crash-looping container (``start``), a readiness probe
    failing past its threshold per the pod's ``Unhealthy`` Events (``gate``), the
    controller's progress deadline (``rollout``).
    """
    spec = workload.get("spec") or {}
    want = int(spec.get("replicas", 1))
    live = live_pods(pods)
    mine = [p for p in live if is_current(p, release, restarted_at)]
    for pod in mine:
        statuses = _statuses(pod)
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
        and len(live) == want
        and len(mine) == expected
        and len(ready) == want
    )
    return Verdict(done=done)


def is_ready(pod: JSON) -> bool:
    """Whether the pod's ``Ready`` condition is true."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
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
