"""The simulated cluster: object store, controllers (Deployment, StatefulSet, PVC, garbage
collection), pods (see :mod:`.pods`), Events, and the hooks tests use to make things fail.

Controllers run in one reconcile loop every ``tick`` seconds. Simplifications (documented):
Deployments own their pods directly (no ReplicaSets; the template hash is still the
``pod-template-hash`` label); there is one node; Services have no endpoints objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import random
import string
import time
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.testing.backend import FakeBackend

from .pods import PodRunner, decode_data
from .store import Store, micro_time, now_rfc3339, parse_selector

JSON = dict[str, Any]


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
    """Whether ``metrics.k8s.io`` is served (a cluster without metrics-server answers 404)."""
    refused_deletes: set[str] = field(default_factory=set)
    """Kinds whose DELETE is answered 403 Forbidden (a service account without the right)."""
    failing_reads: dict[str, int] = field(default_factory=dict)
    """Kind -> how many of its next GETs (lists and single objects) are answered 500
    Internal Server Error (an API server or etcd hiccup); each answer counts one down."""


def _count(value: object, total: int, *, up: bool) -> int:
    """An int-or-percentage of the rolling update settings, as pods."""
    text = str(value)
    if text.endswith("%"):
        share = total * int(text[:-1]) / 100
        return int(-(-share // 1)) if up else int(share)
    return int(text)


def template_hash(template: JSON) -> str:
    """The ``pod-template-hash`` of a pod template."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


@dataclass
class Cluster:
    """Everything the fake API server serves."""

    backend: FakeBackend
    version: tuple[int, int] = (1, 30)
    time_scale: float = 0.05
    tick: float = 0.01
    store: Store = field(default_factory=Store)
    hooks: Hooks = field(default_factory=Hooks)
    runners: dict[tuple[str, str], PodRunner] = field(default_factory=dict)
    claims: dict[tuple[str, str], dict[str, bytes]] = field(default_factory=dict)
    revisions: dict[tuple[str, str], dict[str, JSON]] = field(default_factory=dict)
    """StatefulSet revision name -> pod template (the fake's ControllerRevisions)."""
    errors: list[str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _loop: asyncio.Task[None] | None = None
    _events = itertools.count(1)
    _progress: dict[str, float] = field(default_factory=dict)
    _rr: itertools.count[int] = field(default_factory=itertools.count)

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
        self, obj: JSON, reason: str, message: str, type_: str = "Normal", *, field_path: str = ""
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
                "reportingComponent": "kubelet",
                "reportingInstance": "fake-node",
                "source": {"component": "kubelet", "host": "fake-node"},
            }
        )

    # pods

    def create_pod(
        self,
        owner: JSON,
        name: str,
        extra_labels: dict[str, str],
        replica: int,
        template: JSON | None = None,
    ) -> JSON:
        """A pod of ``owner`` from ``template`` (default: the owner's current template)."""
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
                        "apiVersion": "apps/v1",
                        "kind": owner["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {**json.loads(json.dumps(template["spec"])), "nodeName": "fake-node"},
        }
        self.store.put(pod)
        runner = PodRunner(self, pod, replica)
        self.runners[(meta["namespace"], name)] = runner
        runner.start()
        return pod

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
            self.store.delete("Pod", ns, name)

        asyncio.get_running_loop().create_task(finish())

    def owned_pods(self, owner: JSON) -> list[JSON]:
        uid = owner["metadata"]["uid"]
        return [
            p
            for p in self.store.list("Pod", owner["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences", []))
        ]

    def ready(self, pod: JSON) -> bool:
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (pod.get("status") or {}).get("conditions", [])
        )

    async def delete_owned(self, owner: JSON) -> None:
        """Garbage-collect the dependents of a deleted owner."""
        for pod in self.owned_pods(owner):
            await self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])

    # controllers

    async def _reconcile_forever(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception as exc:  # pragma: no cover - a bug in the fake: make it visible
                self.errors.append(f"reconcile: {type(exc).__name__}: {exc}")
            await asyncio.sleep(self.tick)

    async def reconcile(self) -> None:
        for key, obj in list(self.store.objects.items()):
            kind = key[0]
            if obj["metadata"].get("deletionTimestamp"):
                continue
            if kind == "Deployment":
                await self._deployment(obj)
            elif kind == "StatefulSet":
                await self._statefulset(obj)
            elif (
                kind == "PersistentVolumeClaim"
                and (obj.get("status") or {}).get("phase") != "Bound"
            ):
                obj["status"] = {
                    "phase": "Bound",
                    "accessModes": obj["spec"].get("accessModes", []),
                }
                self.store.touch(obj)
            elif kind == "Service":
                self._service(obj)

    def _service(self, svc: JSON) -> None:
        """Allocate what the server allocates: cluster IP, node ports, a load balancer."""
        spec = svc["spec"]
        changed = False
        if "clusterIP" not in spec:
            spec["clusterIP"] = f"10.96.0.{random.randint(2, 250)}"
            changed = True
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            taken = {
                p.get("nodePort")
                for o in self.store.list("Service", svc["metadata"]["namespace"])
                for p in o["spec"].get("ports") or []
            }
            for port in spec.get("ports") or []:
                if not port.get("nodePort"):
                    port["nodePort"] = next(n for n in range(30000, 32768) if n not in taken)
                    taken.add(port["nodePort"])
                    changed = True
        if spec.get("type") == "LoadBalancer" and not (svc.get("status") or {}).get("loadBalancer"):
            svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
            changed = True
        if changed:
            self.store.touch(svc)

    def _suffix(self) -> str:
        return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))

    async def _deployment(self, dep: JSON) -> None:
        spec = dep["spec"]
        meta = dep["metadata"]
        desired = spec.get("replicas", 1)
        h = template_hash(spec["template"])
        pods = [p for p in self.owned_pods(dep) if not p["metadata"].get("deletionTimestamp")]
        new = [p for p in pods if p["metadata"]["labels"].get("pod-template-hash") == h]
        old = [p for p in pods if p not in new]
        rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        surge = _count(rolling.get("maxSurge", "25%"), desired, up=True)
        unavailable = _count(rolling.get("maxUnavailable", "25%"), desired, up=False)
        if surge == 0 and unavailable == 0:
            surge = 1
        ready_new = [p for p in new if self.ready(p)]
        ready_old = [p for p in old if self.ready(p)]
        uid = meta["uid"]
        if len(new) < desired:
            room = desired + surge - len(pods) if old else desired - len(new)
            for _ in range(max(0, min(room, desired - len(new)))):
                pod = self.create_pod(
                    dep, f"{meta['name']}-{h}-{self._suffix()}", {"pod-template-hash": h}, len(pods)
                )
                pods.append(pod)
                new.append(pod)
                self._progress[uid] = time.monotonic()
        elif len(new) > desired:
            for pod in sorted(new, key=lambda p: p["metadata"]["name"])[desired:]:
                await self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
                new.remove(pod)
        for pod in old:
            available = len(ready_new) + len(ready_old) - (1 if pod in ready_old else 0)
            if available >= desired - unavailable or desired == 0:
                await self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
                if pod in ready_old:
                    ready_old.remove(pod)
                self._progress[uid] = time.monotonic()
        live = [p for p in self.owned_pods(dep) if not p["metadata"].get("deletionTimestamp")]
        ready = [p for p in live if self.ready(p)]
        updated = [p for p in live if p["metadata"]["labels"].get("pod-template-hash") == h]
        complete = len(updated) == desired and len(live) == desired and len(ready) == desired
        started = self._progress.setdefault(uid, time.monotonic())
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            progressing = {"status": "True", "reason": "NewReplicaSetAvailable"}
        elif time.monotonic() - started > deadline:
            progressing = {"status": "False", "reason": "ProgressDeadlineExceeded"}
        else:
            progressing = {"status": "True", "reason": "ReplicaSetUpdated"}
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(live),
            "updatedReplicas": len(updated),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "unavailableReplicas": max(0, len(live) - len(ready)),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if len(ready) >= desired else "False",
                    "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": now_rfc3339(),
                    "lastTransitionTime": now_rfc3339(),
                },
                {
                    "type": "Progressing",
                    **progressing,
                    "lastUpdateTime": now_rfc3339(),
                    "lastTransitionTime": now_rfc3339(),
                },
            ],
        }
        if status != dep.get("status"):
            dep["status"] = status
            self.store.touch(dep)

    async def _statefulset(self, sts: JSON) -> None:
        """The StatefulSet controller with ``OrderedReady`` pods and ``RollingUpdate``.

        As the real one: pods are created one at a time in ordinal order; while any pod
        is missing, terminating or not ready, nothing else happens (so a pod of a broken
        version blocks the rollout, also after the template is reverted, until someone
        deletes it: Kubernetes' "forced rollback"). Updates replace the highest ordinal
        first, only down to ``rollingUpdate.partition``; pods below it that are recreated
        get the current revision. Revisions are kept like ControllerRevisions.
        """
        spec = sts["spec"]
        meta = sts["metadata"]
        ns, name = meta["namespace"], meta["name"]
        desired = spec.get("replicas", 1)
        update_rev = f"{name}-{template_hash(spec['template'])}"
        revisions = self.revisions.setdefault((ns, name), {})
        revisions.setdefault(update_rev, json.loads(json.dumps(spec["template"])))
        current_rev = (sts.get("status") or {}).get("currentRevision") or update_rev
        rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
        partition = int(rolling.get("partition", 0))
        pods = {p["metadata"]["name"]: p for p in self.owned_pods(sts)}
        for pod_name, pod in pods.items():
            ordinal = int(pod_name.rsplit("-", 1)[1])
            if ordinal >= desired and not pod["metadata"].get("deletionTimestamp"):
                await self.delete_pod(ns, pod_name)
        blocked = False
        for ordinal in range(desired):
            pod_name = f"{name}-{ordinal}"
            pod = pods.get(pod_name)
            if pod is None:
                rev = current_rev if ordinal < partition else update_rev
                self._create_ordinal(sts, pod_name, ordinal, rev, revisions[rev])
                blocked = True
                break
            if pod["metadata"].get("deletionTimestamp") or not self.ready(pod):
                blocked = True
                break
        if not blocked:  # every pod is there and ready: update one, highest ordinal first
            for ordinal in range(desired - 1, partition - 1, -1):
                pod = pods[f"{name}-{ordinal}"]
                if pod["metadata"]["labels"].get("controller-revision-hash") != update_rev:
                    await self.delete_pod(ns, pod["metadata"]["name"])
                    break
        live = [p for p in self.owned_pods(sts) if not p["metadata"].get("deletionTimestamp")]
        updated = [
            p for p in live if p["metadata"]["labels"].get("controller-revision-hash") == update_rev
        ]
        ready = [p for p in live if self.ready(p)]
        if len(updated) == len(live) == len(ready) == desired:
            current_rev = update_rev
        current = [
            p
            for p in live
            if p["metadata"]["labels"].get("controller-revision-hash") == current_rev
        ]
        status = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(live),
            "readyReplicas": len(ready),
            "availableReplicas": len(ready),
            "currentReplicas": len(current),
            "updatedReplicas": len(updated),
            "currentRevision": current_rev,
            "updateRevision": update_rev,
        }
        if status != sts.get("status"):
            sts["status"] = status
            self.store.touch(sts)

    def _create_ordinal(
        self, sts: JSON, pod_name: str, ordinal: int, revision: str, template: JSON
    ) -> None:
        """Create the pod of ``ordinal`` from ``template`` (of ``revision``), and its claims."""
        spec = sts["spec"]
        ns = sts["metadata"]["namespace"]
        for tpl in spec.get("volumeClaimTemplates") or []:
            claim = f"{tpl['metadata']['name']}-{pod_name}"
            if self.store.get("PersistentVolumeClaim", ns, claim) is None:
                self.store.put(
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {
                            "name": claim,
                            "namespace": ns,
                            "labels": dict(spec["selector"]["matchLabels"]),
                        },
                        "spec": tpl["spec"],
                    }
                )
        self.create_pod(
            sts,
            pod_name,
            {"controller-revision-hash": revision, "statefulset.kubernetes.io/pod-name": pod_name},
            ordinal,
            template,
        )

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
