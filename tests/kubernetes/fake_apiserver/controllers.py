"""The simulated controllers: Deployment (through ReplicaSets), ReplicaSet, StatefulSet,
PersistentVolumeClaim binding, Service allocation, Endpoints, and garbage collection.

Each is a function of one object, called by :meth:`.cluster.Cluster.reconcile` with the
dependents of every owner (``owned``: owner uid -> objects whose ``ownerReferences`` name
it), so one pass reads the store once.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .store import Store, now_rfc3339

if TYPE_CHECKING:
    from .cluster import Cluster

JSON = dict[str, Any]
Owned = Mapping[str, list[JSON]]

__all__ = [
    "bind_claim",
    "collect_garbage",
    "copy",
    "dependents",
    "deployment",
    "endpoints",
    "replica_number",
    "replica_set",
    "service",
    "stateful_set",
    "template_hash",
]

ORDINAL_LABEL = "statefulset.kubernetes.io/pod-name"


def copy(obj: Any) -> Any:
    """A deep copy of plain JSON."""
    return json.loads(json.dumps(obj))


def template_hash(template: JSON) -> str:
    """The ``pod-template-hash`` of a pod template."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def replica_number(pod: JSON) -> int:
    """A StatefulSet pod's ordinal (0 for other pods)."""
    meta = pod["metadata"]
    ordinal = str(meta["name"]).rsplit("-", 1)[-1]
    if ORDINAL_LABEL in (meta.get("labels") or {}) and ordinal.isdigit():
        return int(ordinal)
    return 0


def _suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


def _live(objects: list[JSON]) -> list[JSON]:
    return [o for o in objects if not o["metadata"].get("deletionTimestamp")]


def _ready(pod: JSON) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (pod.get("status") or {}).get("conditions", [])
    )


def _report(cluster: Cluster, obj: JSON, status: JSON) -> None:
    """Write a controller's ``status`` (only when it changed)."""
    if status != obj.get("status"):
        obj["status"] = status
        cluster.store.touch(obj)


def _count(value: object, total: int, *, up: bool) -> int:
    """An int-or-percentage of the rolling update settings, as pods."""
    text = str(value)
    if text.endswith("%"):
        share = total * int(text[:-1]) / 100
        return int(-(-share // 1)) if up else int(share)
    return int(text)


# -- ownership -------------------------------------------------------------------------


def dependents(store: Store) -> dict[str, list[JSON]]:
    """Owner uid -> the objects that name it in their ``ownerReferences``."""
    out: dict[str, list[JSON]] = {}
    for obj in store.objects.values():
        for ref in obj["metadata"].get("ownerReferences") or []:
            out.setdefault(str(ref.get("uid")), []).append(obj)
    return out


async def collect_garbage(cluster: Cluster, owned: Owned) -> None:
    """The garbage collector: an object whose owners are all gone is deleted (in the
    background); an owner deleted in the foreground (``foregroundDeletion`` finalizer)
    has its dependents deleted first and goes when none is left."""
    uids = {str(o["metadata"].get("uid")) for o in cluster.store.objects.values()}
    for obj in list(cluster.store.objects.values()):
        meta = obj["metadata"]
        refs = meta.get("ownerReferences") or []
        if refs and not any(str(r.get("uid")) in uids for r in refs):
            await cluster.remove(obj)
            continue
        if "foregroundDeletion" in (meta.get("finalizers") or []):
            left = owned.get(str(meta.get("uid")), [])
            for dependent in left:
                if dependent["kind"] == "ReplicaSet" and not dependent["metadata"].get(
                    "deletionTimestamp"
                ):
                    dependent["metadata"]["deletionTimestamp"] = now_rfc3339()
                    dependent["metadata"]["finalizers"] = ["foregroundDeletion"]
                    cluster.store.touch(dependent)
                elif dependent["kind"] == "Pod":
                    await cluster.remove(dependent)
            if not left:
                await cluster.remove(obj)


# -- Deployment and ReplicaSet ---------------------------------------------------------


def _new_replica_set(cluster: Cluster, dep: JSON, h: str) -> JSON:
    """The ReplicaSet of the Deployment's current template (0 replicas: the Deployment
    scales it)."""
    meta = dep["metadata"]
    template = copy(dep["spec"]["template"])
    template["metadata"].setdefault("labels", {})["pod-template-hash"] = h
    selector = copy(dep["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = h
    rs: JSON = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{h}",
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {"deployment.kubernetes.io/desired-replicas": "0"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"replicas": 0, "selector": selector, "template": template},
        "status": {"replicas": 0},
    }
    return cluster.store.put(rs)


def _set_replicas(cluster: Cluster, rs: JSON, replicas: int) -> None:
    if rs["spec"].get("replicas", 0) != replicas:
        rs["spec"]["replicas"] = replicas
        cluster.store.put(rs, spec_changed=True)


async def deployment(cluster: Cluster, dep: JSON, owned: Owned) -> None:
    """The Deployment controller (``RollingUpdate``): the ReplicaSet of the current
    template is scaled up within ``maxSurge``, the older ones down while at least
    ``replicas - maxUnavailable`` pods are ready (not-ready old pods first); old
    ReplicaSets beyond ``revisionHistoryLimit`` are deleted; the status reports the
    progress and the progress deadline."""
    spec, meta = dep["spec"], dep["metadata"]
    uid = str(meta["uid"])
    desired = int(spec.get("replicas", 1))
    h = template_hash(spec["template"])
    sets = [o for o in _live(owned.get(uid, [])) if o["kind"] == "ReplicaSet"]
    new = next((rs for rs in sets if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
    if new is None:
        new = _new_replica_set(cluster, dep, h)
        cluster.progress[uid] = time.monotonic()
        sets.append(new)
    old = sorted(
        (rs for rs in sets if rs is not new), key=lambda r: r["metadata"]["creationTimestamp"]
    )
    pods = {
        str(rs["metadata"]["uid"]): _live(owned.get(str(rs["metadata"]["uid"]), [])) for rs in sets
    }

    def available(rs: JSON) -> int:
        return sum(1 for p in pods.get(str(rs["metadata"]["uid"]), []) if _ready(p))

    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = _count(rolling.get("maxSurge", "25%"), desired, up=True)
    unavailable = _count(rolling.get("maxUnavailable", "25%"), desired, up=False)
    if surge == 0 and unavailable == 0:
        surge = 1
    before = [rs["spec"].get("replicas", 0) for rs in (new, *old)]
    total = sum(rs["spec"].get("replicas", 0) for rs in (new, *old))
    current_new = int(new["spec"].get("replicas", 0))
    if not any(rs["spec"].get("replicas", 0) for rs in old):
        _set_replicas(cluster, new, desired)
    elif current_new < desired and total < desired + surge:
        _set_replicas(
            cluster, new, current_new + min(desired + surge - total, desired - current_new)
        )
    min_available = desired - unavailable
    total = sum(rs["spec"].get("replicas", 0) for rs in (new, *old))
    budget = total - min_available - (new["spec"]["replicas"] - available(new))
    for rs in old:  # unhealthy old pods go first
        if budget <= 0:
            break
        cut = min(budget, rs["spec"].get("replicas", 0) - available(rs))
        if cut > 0:
            _set_replicas(cluster, rs, rs["spec"]["replicas"] - cut)
            budget -= cut
    budget = sum(available(rs) for rs in (new, *old)) - min_available
    for rs in old:
        if budget <= 0:
            break
        cut = min(budget, rs["spec"].get("replicas", 0))
        if cut > 0:
            _set_replicas(cluster, rs, rs["spec"]["replicas"] - cut)
            budget -= cut
    if before != [rs["spec"].get("replicas", 0) for rs in (new, *old)]:
        cluster.progress[uid] = time.monotonic()
    limit = int(spec.get("revisionHistoryLimit", 10))
    retired = [
        rs for rs in old if not rs["spec"].get("replicas") and not pods[str(rs["metadata"]["uid"])]
    ]
    for rs in retired[: max(0, len(retired) - limit)]:
        await cluster.remove(rs)
    _deployment_status(cluster, dep, new, old, pods, desired)


def _deployment_status(
    cluster: Cluster,
    dep: JSON,
    new: JSON,
    old: list[JSON],
    pods: Mapping[str, list[JSON]],
    desired: int,
) -> None:
    meta = dep["metadata"]
    uid = str(meta["uid"])
    every = [p for rs in (new, *old) for p in pods.get(str(rs["metadata"]["uid"]), [])]
    updated = pods.get(str(new["metadata"]["uid"]), [])
    ready = [p for p in every if _ready(p)]
    complete = len(updated) == desired and len(every) == desired and len(ready) == desired
    started = cluster.progress.setdefault(uid, time.monotonic())
    deadline = dep["spec"].get("progressDeadlineSeconds", 600)
    if complete:
        progressing = {"status": "True", "reason": "NewReplicaSetAvailable"}
    elif time.monotonic() - started > deadline:
        progressing = {"status": "False", "reason": "ProgressDeadlineExceeded"}
    else:
        progressing = {"status": "True", "reason": "ReplicaSetUpdated"}
    status = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": len(every),
        "updatedReplicas": len(updated),
        "readyReplicas": len(ready),
        "availableReplicas": len(ready),
        "unavailableReplicas": max(0, len(every) - len(ready)),
        "conditions": [
            {
                "type": "Available",
                "status": "True" if len(ready) >= desired else "False",
                "reason": "MinimumReplicasAvailable",
            },
            {"type": "Progressing", **progressing},
        ],
    }
    _report(cluster, dep, status)


async def replica_set(cluster: Cluster, rs: JSON, owned: Owned) -> None:
    """The ReplicaSet controller: as many pods as ``replicas`` (extra ones go
    unscheduled, then not ready, then the newest first)."""
    meta = rs["metadata"]
    want = int(rs["spec"].get("replicas", 0))
    pods = [p for p in _live(owned.get(str(meta["uid"]), [])) if p["kind"] == "Pod"]
    for _ in range(want - len(pods)):
        pods.append(cluster.create_pod(rs, f"{meta['name']}-{_suffix()}", {}))
    if len(pods) > want:

        def doomed(p: JSON) -> tuple[bool, bool, str]:
            scheduled = bool(p["spec"].get("nodeName"))
            return (scheduled, _ready(p), str(p["metadata"].get("creationTimestamp")))

        for pod in sorted(pods, key=doomed)[: len(pods) - want]:
            await cluster.delete_pod(meta["namespace"], pod["metadata"]["name"])
            pods.remove(pod)
    ready = sum(1 for p in pods if _ready(p))
    status = {
        "observedGeneration": meta.get("generation", 1),
        "replicas": len(pods),
        "fullyLabeledReplicas": len(pods),
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    _report(cluster, rs, status)


# -- StatefulSet -----------------------------------------------------------------------


async def stateful_set(cluster: Cluster, sts: JSON, owned: Owned) -> None:
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
    revisions = cluster.revisions.setdefault((ns, name), {})
    revisions.setdefault(update_rev, copy(spec["template"]))
    current_rev = (sts.get("status") or {}).get("currentRevision") or update_rev
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    partition = int(rolling.get("partition", 0))
    mine = [o for o in owned.get(str(meta["uid"]), []) if o["kind"] == "Pod"]
    pods = {p["metadata"]["name"]: p for p in mine}
    for pod_name, existing in pods.items():
        ordinal = int(pod_name.rsplit("-", 1)[1])
        if ordinal >= desired and not existing["metadata"].get("deletionTimestamp"):
            await cluster.delete_pod(ns, pod_name)
    blocked = False
    for ordinal in range(desired):
        pod_name = f"{name}-{ordinal}"
        pod = pods.get(pod_name)
        if pod is None:
            rev = current_rev if ordinal < partition else update_rev
            _create_ordinal(cluster, sts, pod_name, rev, revisions[rev])
            blocked = True
            break
        if pod["metadata"].get("deletionTimestamp") or not _ready(pod):
            blocked = True
            break
    if not blocked:  # every pod is there and ready: update one, highest ordinal first
        for ordinal in range(desired - 1, partition - 1, -1):
            pod = pods[f"{name}-{ordinal}"]
            if pod["metadata"]["labels"].get("controller-revision-hash") != update_rev:
                await cluster.delete_pod(ns, pod["metadata"]["name"])
                break
    live = _live([p for p in mine if cluster.store.get("Pod", ns, p["metadata"]["name"]) is p])
    updated = [
        p for p in live if p["metadata"]["labels"].get("controller-revision-hash") == update_rev
    ]
    ready = [p for p in live if _ready(p)]
    if len(updated) == len(live) == len(ready) == desired:
        current_rev = update_rev
    current = [
        p for p in live if p["metadata"]["labels"].get("controller-revision-hash") == current_rev
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
    _report(cluster, sts, status)


def _create_ordinal(
    cluster: Cluster, sts: JSON, pod_name: str, revision: str, template: JSON
) -> None:
    """Create the pod of an ordinal from ``template`` (of ``revision``), and its claims."""
    spec = sts["spec"]
    ns = sts["metadata"]["namespace"]
    for tpl in spec.get("volumeClaimTemplates") or []:
        claim = f"{tpl['metadata']['name']}-{pod_name}"
        if cluster.store.get("PersistentVolumeClaim", ns, claim) is None:
            cluster.store.put(
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
    cluster.create_pod(
        sts,
        pod_name,
        {"controller-revision-hash": revision, ORDINAL_LABEL: pod_name},
        template,
    )


# -- claims, Services, Endpoints -------------------------------------------------------


def bind_claim(cluster: Cluster, claim: JSON) -> None:
    """A claim binds at once (there is a default storage class)."""
    if (claim.get("status") or {}).get("phase") != "Bound":
        claim["status"] = {"phase": "Bound", "accessModes": claim["spec"].get("accessModes", [])}
        cluster.store.touch(claim)


def service(cluster: Cluster, svc: JSON) -> None:
    """Allocate what the server allocates: cluster IP, node ports, a load balancer."""
    spec = svc["spec"]
    changed = False
    if "clusterIP" not in spec:
        spec["clusterIP"] = f"10.96.0.{random.randint(2, 250)}"
        changed = True
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        taken = {
            p.get("nodePort")
            for o in cluster.store.list("Service", svc["metadata"]["namespace"])
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
        cluster.store.touch(svc)


def _selects(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    have = labels or {}
    return all(have.get(k) == v for k, v in selector.items())


def endpoints(cluster: Cluster) -> None:
    """The Endpoints controller: every Service with a selector has an Endpoints object of
    its name and labels listing the ready (and not ready) pods it selects; the Endpoints of
    a Service that is gone are deleted."""
    store = cluster.store
    services = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s for s in store.list_kind("Service")
    }
    pods = [p for p in store.list_kind("Pod") if p["status"].get("podIP")]
    for ep in store.list_kind("Endpoints"):
        key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
        if key not in services:
            cluster.forget(store.delete("Endpoints", *key))
    for (ns, name), svc in services.items():
        selector = svc["spec"].get("selector")
        if not selector:
            continue
        ready: list[JSON] = []
        waiting: list[JSON] = []
        for pod in pods:
            meta = pod["metadata"]
            if meta["namespace"] != ns or not _selects(selector, meta.get("labels")):
                continue
            if meta.get("deletionTimestamp"):
                continue
            address = {
                "ip": pod["status"]["podIP"],
                "nodeName": pod["spec"].get("nodeName"),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": meta["name"],
                    "uid": meta["uid"],
                },
            }
            (ready if _ready(pod) else waiting).append(address)
        subsets: list[JSON] = []
        if ready or waiting:
            subset: JSON = {
                "ports": [
                    {
                        "name": p.get("name"),
                        "port": p.get("targetPort", p["port"]),
                        "protocol": p.get("protocol", "TCP"),
                    }
                    for p in svc["spec"].get("ports") or []
                ]
            }
            if ready:
                subset["addresses"] = sorted(ready, key=lambda a: a["ip"])
            if waiting:
                subset["notReadyAddresses"] = sorted(waiting, key=lambda a: a["ip"])
            subsets.append(subset)
        found = store.get("Endpoints", ns, name)
        labels = dict(svc["metadata"].get("labels") or {})
        if found is None:
            store.put(
                {
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "subsets": subsets,
                }
            )
        elif found.get("subsets") != subsets or found["metadata"].get("labels") != labels:
            found["subsets"] = subsets
            found["metadata"]["labels"] = labels
            store.put(found)
