"""Pure reading of an instance into our results: its status (per-service states from the
container statuses, worst-of aggregate), its endpoints and its summary for
``list_instances``.

Container states map as follows: ``running`` + ready -> running/ready; ``running`` not
ready -> starting; ``waiting`` with a failure reason (``ImagePullBackOff``,
``ErrImagePull``, ``CrashLoopBackOff``, ...) -> failed with the reason; other ``waiting`` ->
starting; a completed init -> stopped (not counted in the aggregate); an init that exited
non-zero -> failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.kubernetes.observe.pods import (
    FAILED_REASONS,
    container_statuses,
    parse_time,
    replica_order,
    unschedulable,
)
from ctrlplane.provider.kubernetes.render.naming import ANN_RELEASE, ANN_SPEC
from ctrlplane.provider.native import JSON
from ctrlplane.provider.reporting import (
    private_endpoint,
    replica_state,
    url_host,
    web_scheme,
    worst_of,
)
from ctrlplane.provider.results import (
    Endpoint,
    InstanceStatus,
    InstanceSummary,
    ServiceStatus,
    worst_state,
)
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec

__all__ = ["container_state", "endpoints", "instance_status", "public_addresses", "summaries"]


def container_state(svc: ServiceSpec, cs: JSON | None) -> tuple[InstanceState, bool, str]:
    """(state, ready, message) of one container status of ``svc`` (``None``: not
    created yet), as the module docstring maps them."""
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
        cs = container_statuses(pod).get(svc.name)
        state, ok, message = container_state(svc, cs)
        why = unschedulable(pod)
        if cs is None and why is not None:
            state, message = InstanceState.FAILED, f"Unschedulable: {why}"
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
            scheme = web_scheme(p)
            out.append(private_endpoint(svc.name, p, service_host, scheme))
            for host, port in (public or {}).get(p.container, []):
                out.append(
                    Endpoint(
                        service_name=svc.name,
                        url=f"{scheme}://{url_host(host)}:{port}",
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
    long_lived = [s for n, s in services.items() if req.service(n).role is not ServiceRole.INIT]
    started = [t for p in ordered if (t := parse_time((p.get("status") or {}).get("startTime")))]
    failed = [f"{n}: {s.message}" for n, s in services.items() if s.state is InstanceState.FAILED]
    return worst_of(
        state,
        services,
        long_lived,
        started=started,
        message="; ".join(failed),
        endpoints=eps,
        metadata=metadata,
    )


def summaries(controllers: Sequence[JSON]) -> list[InstanceSummary]:
    """One summary per controller that carries a request (others are skipped), oldest
    first. State from the controller: 0 replicas -> stopped, all ready -> running, else
    starting."""
    out: list[InstanceSummary] = []
    for obj in controllers:
        meta = obj["metadata"]
        ann = meta.get("annotations") or {}
        try:
            req = ProvisionRequest.model_validate_json(ann.get(ANN_SPEC, ""))
        except ValueError:
            continue
        want = int((obj.get("spec") or {}).get("replicas", 0))
        ready = int((obj.get("status") or {}).get("readyReplicas") or 0)
        state = replica_state(want, ready)
        out.append(
            InstanceSummary(
                instance_id=req.instance_id,
                tenant_id=req.tenant_id,
                name=req.name,
                state=state,
                release_id=ann.get(ANN_RELEASE, ""),
                created_at=parse_time(meta.get("creationTimestamp")),
            )
        )
    out.sort(key=lambda s: (s.created_at or datetime.min.replace(tzinfo=UTC), s.instance_id))
    return out
