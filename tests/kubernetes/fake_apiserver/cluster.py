"""The simulated cluster: the object store, one node and its scheduler, the pods (see
:mod:`.pods`), Events, garbage collection, and the hooks tests use to make things fail.

Controllers (:mod:`.controllers`) run in one reconcile loop every ``tick`` seconds, after
the scheduler and the garbage collector: Deployments own ReplicaSets which own pods,
StatefulSets own their pods, every Service with a selector has its Endpoints. There is one
node (``fake-node``: 4 CPUs, the backend's ``host_memory_mb`` of memory, 100 Gi of
ephemeral storage, one ``nvidia.com/gpu``); a pod is bound to it when its requests fit
beside the other pods', else it stays ``Pending`` with ``PodScheduled`` false
(``Unschedulable``) and a ``FailedScheduling`` Event, as the real scheduler leaves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.testing.backend import FakeBackend

from . import controllers
from .managers import FieldOwners
from .pods import PodRunner, decode_data
from .store import Key, Store, micro_time, now_rfc3339, parse_selector
from .versions import ServerVersion

JSON = dict[str, Any]

NODE = "fake-node"


@dataclass
class Hooks:
    """What tests can break: probes, containers, image pulls."""

    failing_probes: set[str] = field(default_factory=set)
    """Container names whose probes fail."""
    crash_containers: dict[str, int] = field(default_factory=dict)
    """Container name -> exit code it exits with right after each start (a crash loop)."""
    broken_images: set[str] = field(default_factory=set)
    """Image references whose pull fails (besides images the backend does not know)."""
    metrics_api: bool = True
    """Whether ``metrics.k8s.io`` is served (without metrics-server the real server
    answers a plain-text ``404 page not found`` for it)."""
    refused_deletes: set[str] = field(default_factory=set)
    """Kinds whose DELETE is answered 403 Forbidden (a service account without the right)."""
    stalled_deletes: set[str] = field(default_factory=set)
    """Kinds whose DELETE of one object gets no answer while the kind is here (a server
    that hangs; the client's request timeout ends the wait)."""
    stalled: list[str] = field(default_factory=list)
    """The kinds of the DELETEs :attr:`stalled_deletes` held back, in order."""
    failing_reads: dict[str, int] = field(default_factory=dict)
    """Kind -> how many of its next GETs (lists and single objects) are answered 500
    Internal Server Error (an API server or etcd hiccup); each answer counts one down."""
    undeclared_fields: dict[str, str] = field(default_factory=dict)
    """Kind -> a field path the server refuses in server-side apply as not declared in
    its schema (500, as a server older than its objects' fields answers)."""


_MEMORY_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def quantity(text: object) -> float:
    """A resource quantity (``500m``, ``2``, ``64Mi``, ``1G``) as a number (cpu in cores,
    memory in bytes)."""
    value = str(text).strip()
    if value.endswith("m"):
        return float(value[:-1]) / 1000
    for suffix, factor in _MEMORY_UNITS.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value or 0)


def pod_requests(spec: JSON) -> dict[str, float]:
    """What a pod asks the scheduler for: its containers' and native sidecars' requests
    summed, or its largest init container's when that is more (per resource)."""
    total: dict[str, float] = {}
    inits: dict[str, float] = {}
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            requests = (c.get("resources") or {}).get("requests") or {}
            plain_init = group == "initContainers" and c.get("restartPolicy") != "Always"
            for name, amount in requests.items():
                value = quantity(amount)
                if plain_init:
                    inits[name] = max(inits.get(name, 0.0), value)
                else:
                    total[name] = total.get(name, 0.0) + value
    for name, value in inits.items():
        total[name] = max(total.get(name, 0.0), value)
    return total


@dataclass
class Cluster:
    """Everything the fake API server serves."""

    backend: FakeBackend
    version: tuple[int, int] = (1, 30)
    time_scale: float = 0.05
    tick: float = 0.01
    split_log_streams: bool = True
    """Whether ``PodLogsQuerySplitStreams`` is on (it exists from 1.32)."""
    store: Store = field(default_factory=Store)
    hooks: Hooks = field(default_factory=Hooks)
    owners: dict[Key, FieldOwners] = field(default_factory=dict)
    """The field managers of every object (see :mod:`.managers`)."""
    runners: dict[tuple[str, str], PodRunner] = field(default_factory=dict)
    claims: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    revisions: dict[tuple[str, str], dict[str, JSON]] = field(default_factory=dict)
    """StatefulSet revision name -> pod template (the fake's ControllerRevisions)."""
    errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    progress: dict[str, float] = field(default_factory=dict)
    """Deployment uid -> when its rollout last made progress (for its deadline)."""
    _loop: asyncio.Task[None] | None = None
    _events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _rr: itertools.count[int] = field(default_factory=itertools.count)
    _ips: itertools.count[int] = field(default_factory=lambda: itertools.count(2))
    _unschedulable: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def features(self) -> ServerVersion:
        """What the impersonated version does (see :mod:`.versions`)."""
        return ServerVersion(self.version, self.split_log_streams)

    @property
    def allocatable(self) -> dict[str, float]:
        """What the node offers pods."""
        return {
            "cpu": 4.0,
            "memory": float(self.backend.host_memory_mb) * 2**20,
            "ephemeral-storage": 100.0 * 2**30,
            "nvidia.com/gpu": 1.0,
            "pods": 110.0,
        }

    async def start(self) -> None:
        self._loop = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for runner in list(self.runners.values()):
            await runner.stop()
        self.runners.clear()

    # helpers for pods

    def secret_data(self, ns: str, name: str) -> dict[str, bytes]:
        return decode_data(self.store.get("Secret", ns, name))

    def claim_files(self, ns: str, claim: str) -> dict[str, bytes]:
        return self.claims.setdefault((ns, claim), {})

    def event(
        self,
        obj: JSON,
        reason: str,
        message: str,
        type_: str = "Normal",
        *,
        field_path: str = "",
        component: str = "kubelet",
    ) -> None:
        """Post (or count up) an Event about ``obj``."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "default")
        for ev in self.store.list("Event", ns):
            ref = ev["involvedObject"]
            if (
                ref.get("uid") == meta.get("uid")
                and ev["reason"] == reason
                and ev["message"] == message
            ):
                ev["count"] = ev.get("count", 1) + 1
                ev["lastTimestamp"] = now_rfc3339()
                self.store.touch(ev)
                return
        involved: JSON = {
            "kind": obj["kind"],
            "namespace": ns,
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", "v1"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        host = {"host": NODE} if component == "kubelet" else {}
        self.store.put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{next(self._events):08x}", "namespace": ns},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": now_rfc3339(),
                "lastTimestamp": now_rfc3339(),
                "eventTime": micro_time(),
                "reportingComponent": component,
                "reportingInstance": NODE if component == "kubelet" else "",
                "source": {"component": component, **host},
            }
        )

    # pods

    def create_pod(
        self,
        owner: JSON,
        name: str,
        extra_labels: dict[str, str],
        template: JSON | None = None,
    ) -> JSON:
        """A pod of ``owner`` from ``template`` (default: the owner's current template),
        not yet scheduled (the scheduler binds it at the next reconcile)."""
        template = template if template is not None else owner["spec"]["template"]
        meta = owner["metadata"]
        pod: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": {**(template["metadata"].get("labels") or {}), **extra_labels},
                "annotations": dict(template["metadata"].get("annotations") or {}),
                "ownerReferences": [
                    {
                        "apiVersion": owner.get("apiVersion", "apps/v1"),
                        "kind": owner["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": controllers.copy(template["spec"]),
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }
        return self.store.put(pod)

    def _bind(self, pod: JSON) -> None:
        """Bind ``pod`` to the node and start its kubelet."""
        meta = pod["metadata"]
        n = next(self._ips)
        pod["spec"]["nodeName"] = NODE
        pod["status"]["podIP"] = f"10.244.{n // 250}.{n % 250 + 1}"
        replica = controllers.replica_number(pod)
        runner = PodRunner(self, pod, replica)
        self.runners[(meta["namespace"], meta["name"])] = runner
        self._unschedulable.pop(meta["uid"], None)
        runner.start()

    def _used(self) -> dict[str, float]:
        used: dict[str, float] = {"pods": 0.0}
        for pod in self.store.list_kind("Pod"):
            if pod["spec"].get("nodeName"):
                used["pods"] += 1
                for name, value in pod_requests(pod["spec"]).items():
                    used[name] = used.get(name, 0.0) + value
        return used

    def schedule(self) -> None:
        """Bind every pending pod that fits; mark the others unschedulable (with the
        scheduler's reason, as a condition and a ``FailedScheduling`` Event)."""
        pending = [
            p
            for p in self.store.list_kind("Pod")
            if not p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp")
        ]
        if not pending:
            return
        used = self._used()
        free = self.allocatable
        for pod in sorted(pending, key=lambda p: p["metadata"]["resourceVersion"]):
            wants = {**pod_requests(pod["spec"]), "pods": 1.0}
            short = sorted(r for r, v in wants.items() if used.get(r, 0.0) + v > free.get(r, 0.0))
            if not short:
                for r, v in wants.items():
                    used[r] = used.get(r, 0.0) + v
                self._bind(pod)
                continue
            reasons = ", ".join(f"1 Insufficient {r}" for r in short)
            message = f"0/1 nodes are available: {reasons}."
            uid = pod["metadata"]["uid"]
            seen = self._unschedulable.get(uid)
            if seen is not None and seen[0] == message and time.monotonic() - seen[1] < 1.0:
                continue
            self._unschedulable[uid] = (message, time.monotonic())
            pod["status"] = {
                "phase": "Pending",
                "qosClass": pod["status"].get("qosClass", "BestEffort"),
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "reason": "Unschedulable",
                        "message": message,
                        "lastProbeTime": None,
                        "lastTransitionTime": now_rfc3339(),
                    }
                ],
            }
            self.store.touch(pod)
            self.event(pod, "FailedScheduling", message, "Warning", component="default-scheduler")

    async def delete_pod(self, ns: str, name: str) -> None:
        pod = self.store.get("Pod", ns, name)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        pod["metadata"]["deletionTimestamp"] = now_rfc3339()
        pod["metadata"]["deletionGracePeriodSeconds"] = 0
        self.store.touch(pod)
        runner = self.runners.pop((ns, name), None)

        async def finish() -> None:
            if runner is not None:
                await runner.stop()
            await asyncio.sleep(self.tick * 3)
            self.forget(self.store.delete("Pod", ns, name))

        asyncio.get_running_loop().create_task(finish())

    def forget(self, obj: JSON | None) -> None:
        """Drop what the cluster kept about a removed object."""
        if obj is not None:
            meta = obj["metadata"]
            self.owners.pop((obj["kind"], meta.get("namespace", ""), meta["name"]), None)

    async def remove(self, obj: JSON) -> None:
        """Remove ``obj`` now (a pod: gracefully, see :meth:`delete_pod`)."""
        meta = obj["metadata"]
        if obj["kind"] == "Pod":
            await self.delete_pod(meta["namespace"], meta["name"])
        else:
            self.forget(self.store.delete(obj["kind"], meta.get("namespace", ""), meta["name"]))

    def ready(self, pod: JSON) -> bool:
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (pod.get("status") or {}).get("conditions", [])
        )

    # the control loop

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception as exc:  # pragma: no cover - a bug in the fake: make it visible
                self.errors.append(f"reconcile: {type(exc).__name__}: {exc}")
            await asyncio.sleep(self.tick)

    async def reconcile(self) -> None:
        """One pass: garbage collection, the scheduler, then every controller."""
        owned = controllers.dependents(self.store)
        await controllers.collect_garbage(self, owned)
        self.schedule()
        owned = controllers.dependents(self.store)
        for key, obj in list(self.store.objects.items()):
            if self.store.objects.get(key) is not obj or obj["metadata"].get("deletionTimestamp"):
                continue
            kind = key[0]
            if kind == "Deployment":
                await controllers.deployment(self, obj, owned)
            elif kind == "ReplicaSet":
                await controllers.replica_set(self, obj, owned)
            elif kind == "StatefulSet":
                await controllers.stateful_set(self, obj, owned)
            elif kind == "PersistentVolumeClaim":
                controllers.bind_claim(self, obj)
            elif kind == "Service":
                controllers.service(self, obj)
        controllers.endpoints(self)

    # reading back, for the harness

    def pods_of(self, ns: str, selector: str) -> list[JSON]:
        return self.store.list("Pod", ns, parse_selector(selector))

    def http_get(self, host: str, port: int, path: str) -> tuple[int, bytes]:
        """GET through a Service's cluster DNS name, as a pod in the cluster would: to one
        of the ready pods its selector matches. ``ConnectionRefusedError`` if none listens."""
        from ctrlplane.testing.images import HttpRequest

        name, _, rest = host.partition(".")
        ns = rest.split(".", 1)[0] or "default"
        svc = self.store.get("Service", ns, name)
        if svc is None:
            raise ConnectionRefusedError(f"no Service {name} in {ns}")
        selector = ",".join(f"{k}={v}" for k, v in (svc["spec"].get("selector") or {}).items())
        targets = []
        for pod in self.pods_of(ns, selector):
            runner = self.runners.get((ns, pod["metadata"]["name"]))
            if runner is None or not self.ready(pod):
                continue
            for slot in runner.slots:
                proc = slot.proc
                if proc is not None and proc.running and port in proc.ports and proc.image.http:
                    targets.append(proc)
        if not targets:
            raise ConnectionRefusedError(f"nothing ready listens on {host}:{port}")
        proc = targets[next(self._rr) % len(targets)]
        assert proc.image.http is not None
        return proc.image.http(
            HttpRequest(path, port, proc.service, proc.replica, dict(proc.env), proc.files.read)
        )
