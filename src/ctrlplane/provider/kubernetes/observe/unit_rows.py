"""An instance's pods -> one :class:`~ctrlplane.provider.results.UnitStatus` per container
(pure, no I/O, the clock passed in).

Every pod meant to run is listed (not one being deleted, nor one that ended: an evicted
pod), of every controller of the instance: the stable one's, and during a rollout the
pods of the new release beside the old ones, and the ``canary`` or ``green`` set of a
canary or blue-green deploy. Per container:

- ``service`` its name, ``replica`` the StatefulSet ordinal, or for a Deployment's pod
  its place (by creation time) among the pods of the same track, release and restart
  stamp (so the replicas of one release are ``0..n-1``, as the progress events number them);
- ``release_id`` and ``image`` the pod's own (its release annotation, its container's
  image), so an old pod shows the version it still runs;
- ``state``, ``ready`` and ``message`` as ``status`` reads a container
  (:func:`~.status.container_state`; a pod the scheduler cannot place is failed with the
  scheduler's reason); a canary or green pod's message names its track;
- ``health`` for a running container with a readiness probe (a running container that is
  not ready yet is in state ``starting``, as in ``status``): ``healthy`` when ready;
  else ``starting`` until the probe has had its chance (initial delay plus period times
  failure threshold since the container started), ``unhealthy`` after; ``""`` without a
  probe or when not running;
- ``restarts`` the container's restart count; ``ports`` its pod IP and container ports
  (cluster-internal: Kubernetes publishes no host ports, a NodePort or LoadBalancer
  Service reaches the instance, not one unit); ``started_at`` when the running container
  started; ``provider_ref`` ``<pod>/<container>``.

Rows come in the services' start-up order, then replica, then the stable track before a
canary or green one, then the older pod first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.kubernetes.observe.pods import (
    container_statuses,
    live_pods,
    parse_time,
    unschedulable,
)
from ctrlplane.provider.kubernetes.observe.status import container_state
from ctrlplane.provider.kubernetes.render.naming import (
    ANN_RELEASE,
    ANN_RESTARTED_AT,
    LABEL_ORDINAL,
    LABEL_TRACK,
    TRACK_STABLE,
)
from ctrlplane.provider.native import JSON
from ctrlplane.provider.reporting import private_endpoint, url_host, web_scheme
from ctrlplane.provider.results import Endpoint, UnitStatus
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec
from ctrlplane.provider.validation import startup_order

__all__ = ["pods_meant_to_run", "replica_numbers", "unit_rows"]

_ENDED = frozenset({"Succeeded", "Failed"})
_TRACKS = {
    "canary": "canary (the new release beside the stable pods)",
    "green": "green (blue-green: the new release, before it takes the traffic)",
}


def pods_meant_to_run(pods: Sequence[JSON]) -> list[JSON]:
    """The pods not being deleted and not ended (an evicted or completed pod stays listed
    until it is garbage-collected, but runs nothing)."""
    return [p for p in live_pods(pods) if (p.get("status") or {}).get("phase") not in _ENDED]


def _meta(pod: JSON) -> tuple[dict[str, str], dict[str, str]]:
    meta = pod["metadata"]
    return dict(meta.get("labels") or {}), dict(meta.get("annotations") or {})


def _ordinal(pod: JSON) -> int | None:
    labels, _ = _meta(pod)
    if LABEL_ORDINAL not in labels:
        return None
    tail = str(pod["metadata"]["name"]).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _group(pod: JSON) -> tuple[str, str, str]:
    labels, ann = _meta(pod)
    track = labels.get(LABEL_TRACK, TRACK_STABLE)
    return track, ann.get(ANN_RELEASE, ""), ann.get(ANN_RESTARTED_AT, "")


def _created(pod: JSON) -> tuple[str, str]:
    meta = pod["metadata"]
    return str(meta.get("creationTimestamp", "")), str(meta["name"])


def replica_numbers(pods: Sequence[JSON]) -> dict[str, int]:
    """Each pod's replica number, by pod name (see the module)."""
    out: dict[str, int] = {}
    counts: dict[tuple[str, str, str], int] = {}
    for pod in sorted(pods, key=_created):
        name = str(pod["metadata"]["name"])
        ordinal = _ordinal(pod)
        if ordinal is not None:
            out[name] = ordinal
            continue
        group = _group(pod)
        out[name] = counts.get(group, 0)
        counts[group] = out[name] + 1
    return out


def _containers(pod: JSON) -> dict[str, JSON]:
    spec = pod.get("spec") or {}
    found = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    return {str(c["name"]): c for c in found}


def _health(container: JSON, cs: JSON | None, now: datetime) -> str:
    probe = container.get("readinessProbe")
    if not probe or not _running(cs):
        return ""
    if (cs or {}).get("ready"):
        return "healthy"
    started = _started_at(cs)
    chance = timedelta(
        seconds=int(probe.get("initialDelaySeconds") or 0)
        + int(probe.get("periodSeconds") or 10) * int(probe.get("failureThreshold") or 3)
    )
    if started is None or now - started < chance:
        return "starting"
    return "unhealthy"


def _running(cs: JSON | None) -> bool:
    return "running" in ((cs or {}).get("state") or {})


def _started_at(cs: JSON | None) -> datetime | None:
    running = ((cs or {}).get("state") or {}).get("running") or {}
    return parse_time(running.get("startedAt"))


def _ports(svc: ServiceSpec, pod: JSON) -> list[Endpoint]:
    ip = str((pod.get("status") or {}).get("podIP") or "")
    if not ip:
        return []
    return [private_endpoint(svc.name, p, url_host(ip), web_scheme(p)) for p in svc.ports]


def _row(svc: ServiceSpec, pod: JSON, replica: int, now: datetime) -> UnitStatus:
    name = svc.name
    container = _containers(pod).get(name) or {}
    cs = container_statuses(pod).get(name)
    state, ready, message = container_state(svc, cs)
    why = unschedulable(pod)
    if cs is None and why is not None:
        state, message = InstanceState.FAILED, f"Unschedulable: {why}"
    if state is InstanceState.RUNNING:
        message = ""
    health = _health(container, cs, now)
    track, release, _ = _group(pod)
    return UnitStatus(
        service=name,
        replica=replica,
        release_id=release,
        image=str(container.get("image") or (cs or {}).get("image") or svc.image),
        state=state,
        ready=ready,
        health=health,
        restarts=int((cs or {}).get("restartCount") or 0),
        ports=_ports(svc, pod),
        started_at=_started_at(cs),
        provider_ref=f"{pod['metadata']['name']}/{name}",
        message="; ".join(m for m in (_TRACKS.get(track, ""), message) if m),
    )


def unit_rows(req: ProvisionRequest, pods: Sequence[JSON], now: datetime) -> list[UnitStatus]:
    """The rows of the instance ``req`` describes, from its ``pods`` (as listed by its
    label selector, any controller) at ``now`` (see the module)."""
    order = {
        s.name: i for i, s in enumerate(s for wave in startup_order(req.services) for s in wave)
    }
    running = pods_meant_to_run(pods)
    replicas = replica_numbers(running)
    rows: list[tuple[int, int, bool, tuple[str, str], UnitStatus]] = []
    for pod in running:
        present = _containers(pod)
        replica = replicas[str(pod["metadata"]["name"])]
        stable = _group(pod)[0] == TRACK_STABLE
        for svc in req.services:
            if svc.name not in present:
                continue
            row = _row(svc, pod, replica, now)
            rows.append((order[svc.name], replica, not stable, _created(pod), row))
    rows.sort(key=lambda r: r[:4])
    return [r[-1] for r in rows]
