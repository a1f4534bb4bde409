"""The fake API server is strict: it answers like a real server and rejects what a real one
rejects (so passing against it means something). Plain HTTP, no lightkube involved."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from .fake_apiserver import FakeCluster

JSON = dict[str, Any]
APPLY = {"Content-Type": "application/apply-patch+yaml"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def _deployment(name: str = "web", **spec_changes: Any) -> JSON:
    labels = {"app": name}
    spec: JSON = {
        "replicas": 1,
        "selector": {"matchLabels": dict(labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": [{"name": "app", "image": "conformance/app:1"}]},
        },
    }
    spec.update(spec_changes)
    meta = {"name": name, "labels": dict(labels)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


async def _apply(http: httpx.AsyncClient, obj: JSON, manager: str = "tests") -> httpx.Response:
    name = obj["metadata"]["name"]
    return await http.patch(
        f"{DEPLOYMENTS}/{name}",
        params={"fieldManager": manager},
        content=json.dumps(obj),
        headers=APPLY,
    )


@pytest.fixture
async def http(fake: FakeCluster) -> Any:
    async with httpx.AsyncClient(base_url=fake.server.url, trust_env=False) as client:
        yield client


def _status(resp: httpx.Response, code: int, reason: str) -> JSON:
    assert resp.status_code == code, resp.text
    assert resp.headers["content-type"] == "application/json"  # exactly: lightkube needs it
    body: JSON = resp.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        reason,
        code,
    )
    return body


async def test_get_of_a_missing_object_is_a_404_status(http: httpx.AsyncClient) -> None:
    body = _status(await http.get(f"{DEPLOYMENTS}/nope"), 404, "NotFound")
    assert body["message"] == 'deployments.apps "nope" not found'


async def test_apply_creates_then_converges_with_uid_generation_and_resource_version(
    http: httpx.AsyncClient,
) -> None:
    first = await _apply(http, _deployment())
    assert first.status_code == 201
    again = await _apply(http, _deployment())
    assert again.status_code == 200
    a, b = first.json()["metadata"], again.json()["metadata"]
    assert a["uid"] == b["uid"]
    assert b["generation"] == a["generation"] == 1
    assert int(b["resourceVersion"]) > int(a["resourceVersion"])
    changed = await _apply(http, _deployment(replicas=3))
    assert changed.json()["metadata"]["generation"] == 2
    assert changed.json()["metadata"]["managedFields"][0]["manager"] == "tests"


async def test_apply_without_field_manager_is_refused(http: httpx.AsyncClient) -> None:
    resp = await http.patch(f"{DEPLOYMENTS}/web", content=json.dumps(_deployment()), headers=APPLY)
    _status(resp, 422, "Invalid")


async def test_create_of_an_existing_object_is_a_409(http: httpx.AsyncClient) -> None:
    assert (await http.post(DEPLOYMENTS, json=_deployment())).status_code == 201
    _status(await http.post(DEPLOYMENTS, json=_deployment()), 409, "AlreadyExists")


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda d: d["spec"].update(bogus=1), id="unknown field"),
        pytest.param(lambda d: d["metadata"].update(name="Not_A_Name"), id="not DNS-1123"),
        pytest.param(lambda d: d["metadata"]["labels"].update(app="-bad-"), id="bad label value"),
        pytest.param(
            lambda d: d["spec"]["selector"]["matchLabels"].update(app="other"),
            id="selector mismatch",
        ),
        pytest.param(
            lambda d: d["spec"]["template"]["spec"]["containers"].append(
                {"name": "app", "image": "x:1"}
            ),
            id="duplicate container",
        ),
        pytest.param(
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                volumeMounts=[{"name": "ghost", "mountPath": "/x"}]
            ),
            id="mount of an undeclared volume",
        ),
        pytest.param(
            lambda d: d["spec"]["template"]["spec"].update(
                initContainers=[
                    {"name": "i", "image": "x:1", "readinessProbe": {"tcpSocket": {"port": 1}}}
                ]
            ),
            id="probe on a plain init container",
        ),
    ],
)
async def test_invalid_objects_are_422(http: httpx.AsyncClient, broken: Any) -> None:
    obj = _deployment()
    broken(obj)
    resp = await http.post(DEPLOYMENTS, json=obj)
    body = _status(resp, 422, "Invalid")
    assert body["details"]["causes"]


async def test_a_created_object_of_the_wrong_type_cannot_be_decoded(
    http: httpx.AsyncClient,
) -> None:
    """A create (not an apply) with a value of the wrong JSON type is a 400 on a real
    server: it cannot be decoded into the typed object."""
    obj = _deployment(replicas="two")
    body = _status(await http.post(DEPLOYMENTS, json=obj), 400, "BadRequest")
    assert body["message"].startswith('Deployment in version "v1" cannot be handled')


async def test_immutable_selector_cannot_change(http: httpx.AsyncClient) -> None:
    assert (await _apply(http, _deployment())).status_code == 201
    obj = _deployment()
    obj["spec"]["selector"]["matchLabels"]["tier"] = "x"
    obj["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    _status(await _apply(http, obj), 422, "Invalid")


async def test_native_sidecars_are_refused_by_an_old_server(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    """As a real 1.21 server: structured-merge-diff refuses the undeclared field with a
    500 (not a 422) before any validation."""
    obj = _deployment()
    obj["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "side", "image": "conformance/app:1", "restartPolicy": "Always"}
    ]
    fake.cluster.version = (1, 21)
    resp = await _apply(http, obj)
    assert resp.status_code == 500, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert "reason" not in body
    assert body["message"] == (
        "failed to create typed patch object: .spec.template.spec.initContainers"
        '[name="side"].restartPolicy: field not declared in schema'
    )
    fake.cluster.version = (1, 33)
    assert (await _apply(http, obj)).status_code == 201


async def test_list_filters_by_label_selector(http: httpx.AsyncClient) -> None:
    for name in ("a", "b"):
        assert (await _apply(http, _deployment(name))).status_code == 201
    found = (await http.get(DEPLOYMENTS, params={"labelSelector": "app=b"})).json()
    assert [i["metadata"]["name"] for i in found["items"]] == ["b"]
    everything = (await http.get(DEPLOYMENTS, params={"labelSelector": "app"})).json()
    assert len(everything["items"]) == 2


async def _pods(http: httpx.AsyncClient, selector: str) -> list[JSON]:
    resp = await http.get("/api/v1/namespaces/default/pods", params={"labelSelector": selector})
    items: list[JSON] = resp.json()["items"]
    return items


async def test_controller_makes_ready_pods_and_delete_removes_them(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    assert (await _apply(http, _deployment(replicas=2))).status_code == 201
    for _ in range(200):
        pods = await _pods(http, "app=web")
        if len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods):
            break
        await _sleep()
    else:
        pytest.fail("pods never ran")
    pod = pods[0]["metadata"]["name"]
    log = await http.get(f"/api/v1/namespaces/default/pods/{pod}/log")
    assert log.status_code == 200
    resp = await http.delete(f"{DEPLOYMENTS}/web", params={"propagationPolicy": "Foreground"})
    assert resp.status_code == 200
    for _ in range(200):
        if (
            not await _pods(http, "app=web")
            and (await http.get(f"{DEPLOYMENTS}/web")).status_code == 404
        ):
            return
        await _sleep()
    pytest.fail("dependents were not garbage-collected")


async def test_logs_need_a_container_name_when_the_pod_has_several(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    obj = _deployment()
    obj["spec"]["template"]["spec"]["containers"].append(
        {"name": "two", "image": "conformance/app:1"}
    )
    assert (await _apply(http, obj)).status_code == 201
    for _ in range(200):
        pods = await _pods(http, "app=web")
        if pods:
            break
        await _sleep()
    name = pods[0]["metadata"]["name"]
    _status(await http.get(f"/api/v1/namespaces/default/pods/{name}/log"), 400, "BadRequest")


async def test_unsupported_patch_type_is_415(http: httpx.AsyncClient) -> None:
    assert (await _apply(http, _deployment())).status_code == 201
    resp = await http.patch(
        f"{DEPLOYMENTS}/web", content="[]", headers={"Content-Type": "application/json-patch+json"}
    )
    _status(resp, 415, "UnsupportedMediaType")


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.02)


STATEFULSETS = "/apis/apps/v1/namespaces/default/statefulsets"


def _stateful_set(image: str, partition: int | None = None) -> JSON:
    sts = _deployment("db", replicas=3)
    sts["kind"] = "StatefulSet"
    sts["spec"]["serviceName"] = "db"
    sts["spec"]["template"]["spec"]["containers"][0]["image"] = image
    sts["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    if partition is not None:
        sts["spec"]["updateStrategy"]["rollingUpdate"] = {"partition": partition}
    return sts


async def _apply_sts(http: httpx.AsyncClient, obj: JSON) -> None:
    resp = await http.patch(
        f"{STATEFULSETS}/db",
        params={"fieldManager": "tests"},
        content=json.dumps(obj),
        headers=APPLY,
    )
    assert resp.status_code in (200, 201), resp.text


async def _ordinals(http: httpx.AsyncClient, want: dict[int, str]) -> dict[int, JSON]:
    """Wait until pod ``db-<n>`` is ready with image ``want[n]`` for every n; return them."""
    for _ in range(400):
        pods = {
            int(p["metadata"]["name"].rsplit("-", 1)[1]): p for p in await _pods(http, "app=db")
        }
        if set(pods) == set(want) and all(
            not p["metadata"].get("deletionTimestamp")
            and p["spec"]["containers"][0]["image"] == want[n]
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
            for n, p in pods.items()
        ):
            return pods
        await _sleep()
    seen = {n: p["spec"]["containers"][0]["image"] for n, p in pods.items()}
    pytest.fail(f"pods never became {want}: {seen}")


async def test_stateful_set_partition_updates_only_the_highest_ordinals(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    await _apply_sts(http, _stateful_set("conformance/app:1"))
    first = await _ordinals(
        http, {0: "conformance/app:1", 1: "conformance/app:1", 2: "conformance/app:1"}
    )
    await _apply_sts(http, _stateful_set("conformance/app:2", partition=2))
    pods = await _ordinals(
        http, {0: "conformance/app:1", 1: "conformance/app:1", 2: "conformance/app:2"}
    )
    assert [pods[n]["metadata"]["uid"] for n in (0, 1)] == [
        first[n]["metadata"]["uid"] for n in (0, 1)
    ]
    # a pod below the partition that is recreated gets the current (old) revision back
    assert (await http.delete("/api/v1/namespaces/default/pods/db-0")).status_code == 200
    pods = await _ordinals(
        http, {0: "conformance/app:1", 1: "conformance/app:1", 2: "conformance/app:2"}
    )
    assert pods[0]["metadata"]["uid"] != first[0]["metadata"]["uid"]
    status = (await http.get(f"{STATEFULSETS}/db")).json()["status"]
    assert status["updatedReplicas"] == 1
    assert status["currentRevision"] != status["updateRevision"]
    await _apply_sts(http, _stateful_set("conformance/app:2", partition=0))
    await _ordinals(http, dict.fromkeys(range(3), "conformance/app:2"))
    for _ in range(100):
        status = (await http.get(f"{STATEFULSETS}/db")).json()["status"]
        if status["currentRevision"] == status["updateRevision"]:
            break
        await _sleep()
    assert status["currentRevision"] == status["updateRevision"]


async def test_stateful_set_pod_of_a_broken_version_blocks_until_deleted(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    """As a real OrderedReady StatefulSet: reverting the template does not replace a pod
    that is not ready; deleting it does (Kubernetes' documented forced rollback)."""
    await _apply_sts(http, _stateful_set("conformance/app:1"))
    before = await _ordinals(http, dict.fromkeys(range(3), "conformance/app:1"))
    fake.hooks.broken_images.add("conformance/app:2")
    await _apply_sts(http, _stateful_set("conformance/app:2"))
    for _ in range(400):
        pods = {p["metadata"]["name"]: p for p in await _pods(http, "app=db")}
        if pods.get("db-2", {}).get("spec", {}).get("containers", [{}])[0].get("image") == (
            "conformance/app:2"
        ):
            break
        await _sleep()
    await _apply_sts(http, _stateful_set("conformance/app:1"))
    await asyncio.sleep(0.5)  # the controller would have replaced it by now if it could
    pods = {p["metadata"]["name"]: p for p in await _pods(http, "app=db")}
    stuck = pods["db-2"]
    assert stuck["spec"]["containers"][0]["image"] == "conformance/app:2"
    assert not stuck["metadata"].get("deletionTimestamp")
    untouched = [pods[f"db-{n}"]["metadata"]["uid"] for n in (0, 1)]
    assert untouched == [before[n]["metadata"]["uid"] for n in (0, 1)], "rolled past a broken pod"
    assert (await http.delete("/api/v1/namespaces/default/pods/db-2")).status_code == 200
    await _ordinals(http, dict.fromkeys(range(3), "conformance/app:1"))


async def test_event_field_selectors_filter_and_unknown_fields_are_a_400(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    for uid in ("u1", "u2"):
        pod = {"kind": "Pod", "metadata": {"name": f"p-{uid}", "namespace": "default", "uid": uid}}
        fake.cluster.event(pod, "Unhealthy", "Readiness probe failed", "Warning")
    events = "/api/v1/namespaces/default/events"
    found = await http.get(
        events, params={"fieldSelector": "involvedObject.uid=u2,reason=Unhealthy"}
    )
    assert [e["involvedObject"]["uid"] for e in found.json()["items"]] == ["u2"]
    others = await http.get(events, params={"fieldSelector": "involvedObject.uid!=u2"})
    assert [e["involvedObject"]["uid"] for e in others.json()["items"]] == ["u1"]
    body = _status(
        await http.get(events, params={"fieldSelector": "spec.nodeName=n"}), 400, "BadRequest"
    )
    assert body["message"] == "field label not supported: spec.nodeName"
    _status(
        await http.get(DEPLOYMENTS, params={"fieldSelector": "status.phase=Running"}),
        400,
        "BadRequest",
    )


async def _eventually(check: Any, what: str) -> Any:
    for _ in range(500):
        found = await check()
        if found:
            return found
        await _sleep()
    pytest.fail(f"never: {what}")


async def test_deployments_own_replica_sets_and_services_have_endpoints_all_collected(
    http: httpx.AsyncClient,
) -> None:
    """As on a real cluster: a Deployment's pods belong to a ReplicaSet of its template,
    a Service has Endpoints listing the ready pods it selects, and deleting the owners
    takes the ReplicaSets, pods and Endpoints with them."""
    assert (await _apply(http, _deployment(replicas=2))).status_code == 201
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    resp = await http.patch(
        "/api/v1/namespaces/default/services/web",
        params={"fieldManager": "tests"},
        content=json.dumps(service),
        headers=APPLY,
    )
    assert resp.status_code == 201, resp.text
    sets_url = "/apis/apps/v1/namespaces/default/replicasets"

    async def replica_sets() -> list[JSON]:
        items: list[JSON] = (await http.get(sets_url)).json()["items"]
        return items

    (rs,) = await _eventually(replica_sets, "a ReplicaSet")
    owner = rs["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "web", True)
    assert rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["spec"]["replicas"] == 2

    async def endpoints() -> JSON | None:
        ep: JSON = (await http.get("/api/v1/namespaces/default/endpoints/web")).json()
        subsets = ep.get("subsets") or []
        ready = subsets[0].get("addresses", []) if subsets else []
        return ep if len(ready) == 2 else None

    ep = await _eventually(endpoints, "Endpoints with two ready addresses")
    assert ep["metadata"]["labels"] == {"app": "web"}
    assert ep["subsets"][0]["ports"] == [{"name": None, "port": 8080, "protocol": "TCP"}]
    pods = await _pods(http, "app=web")
    assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} == {rs["metadata"]["name"]}
    # a new template: a second ReplicaSet takes over, the first is scaled to 0
    changed = _deployment(replicas=2)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "conformance/app:2"
    assert (await _apply(http, changed)).status_code == 200

    async def rolled() -> bool:
        sets = await replica_sets()
        counts = sorted(s["spec"]["replicas"] for s in sets)
        ready = [
            p for p in await _pods(http, "app=web") if not p["metadata"].get("deletionTimestamp")
        ]
        return len(sets) == 2 and counts == [0, 2] and len(ready) == 2

    await _eventually(rolled, "the rollout to a second ReplicaSet")
    assert (await http.delete(f"{DEPLOYMENTS}/web")).status_code == 200
    assert (await http.delete("/api/v1/namespaces/default/services/web")).status_code == 200

    async def collected() -> bool:
        gone = (await http.get("/api/v1/namespaces/default/endpoints/web")).status_code == 404
        return gone and not await replica_sets() and not await _pods(http, "app=web")

    await _eventually(collected, "the ReplicaSets, pods and Endpoints collected")


async def test_a_pod_that_fits_nowhere_stays_pending_with_the_schedulers_reason(
    fake: FakeCluster, http: httpx.AsyncClient
) -> None:
    big = _deployment()
    big["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "64"},
        "limits": {"cpu": "64"},
    }
    assert (await _apply(http, big)).status_code == 201

    async def unschedulable() -> JSON | None:
        pods = await _pods(http, "app=web")
        conditions = pods[0]["status"].get("conditions", []) if pods else []
        return next((c for c in conditions if c["type"] == "PodScheduled"), None)

    cond = await _eventually(unschedulable, "the PodScheduled condition")
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")
    assert cond["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    (pod,) = await _pods(http, "app=web")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    events = (
        await http.get(
            "/api/v1/namespaces/default/events",
            params={"fieldSelector": f"involvedObject.uid={pod['metadata']['uid']}"},
        )
    ).json()["items"]
    assert [(e["reason"], e["source"]["component"]) for e in events] == [
        ("FailedScheduling", "default-scheduler")
    ]


LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def _lease(holder: str) -> JSON:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "lock"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30},
    }


async def test_leases_are_created_once_and_replaced_or_deleted_only_at_their_version(
    http: httpx.AsyncClient,
) -> None:
    made = await http.post(LEASES, json=_lease("a"))
    assert made.status_code == 201
    version = made.json()["metadata"]["resourceVersion"]
    _status(await http.post(LEASES, json=_lease("b")), 409, "AlreadyExists")
    unconditional = await http.put(f"{LEASES}/lock", json=_lease("b"))
    _status(unconditional, 422, "Invalid")
    mine = _lease("b")
    mine["metadata"]["resourceVersion"] = version
    replaced = await http.put(f"{LEASES}/lock", json=mine)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["spec"]["holderIdentity"] == "b"
    stale = _lease("c")
    stale["metadata"]["resourceVersion"] = version
    body = _status(await http.put(f"{LEASES}/lock", json=stale), 409, "Conflict")
    assert "the object has been modified" in body["message"]
    wrong = {"preconditions": {"resourceVersion": version}}
    body = _status(
        await http.request("DELETE", f"{LEASES}/lock", content=json.dumps(wrong)), 409, "Conflict"
    )
    assert "Precondition failed: ResourceVersion in precondition" in body["message"]
    right = {"preconditions": {"resourceVersion": replaced.json()["metadata"]["resourceVersion"]}}
    gone = await http.request("DELETE", f"{LEASES}/lock", content=json.dumps(right))
    assert gone.status_code == 200
    assert (gone.json()["kind"], gone.json()["status"]) == ("Status", "Success")
    _status(await http.get(f"{LEASES}/lock"), 404, "NotFound")
    broken = _lease("d")
    broken["spec"]["leaseDurationSeconds"] = "long"
    body = _status(await http.post(LEASES, json=broken), 400, "BadRequest")
    assert body["message"].startswith('Lease in version "v1" cannot be handled as a Lease')
    broken["spec"]["leaseDurationSeconds"] = 0
    _status(await http.post(LEASES, json=broken), 422, "Invalid")


async def test_split_log_streams_validate_the_stream_where_the_feature_is_on(
    http: httpx.AsyncClient,
) -> None:
    """1.32+ with ``PodLogsQuerySplitStreams``: a bad ``stream`` is 422, and a specific
    stream cannot go with ``tailLines``."""
    assert (await _apply(http, _deployment())).status_code == 201

    async def running() -> str:
        pods = await _pods(http, "app=web")
        ok = pods and pods[0]["status"].get("phase") == "Running"
        return str(pods[0]["metadata"]["name"]) if ok else ""

    name = await _eventually(running, "a running pod")
    url = f"/api/v1/namespaces/default/pods/{name}/log"
    _status(await http.get(url, params={"stream": "Bogus"}), 422, "Invalid")
    _status(await http.get(url, params={"stream": "Stdout", "tailLines": "1"}), 422, "Invalid")
    assert (await http.get(url, params={"stream": "All", "tailLines": "1"})).status_code == 200
    assert (await http.get(url, params={"stream": "Stderr"})).status_code == 200


async def test_foreground_delete_returns_the_object_and_waits_for_dependents(
    http: httpx.AsyncClient,
) -> None:
    assert (await _apply(http, _deployment())).status_code == 201
    await _eventually(lambda: _pods(http, "app=web"), "a pod")
    resp = await http.delete(f"{DEPLOYMENTS}/web", params={"propagationPolicy": "Foreground"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["kind"] == "Deployment"
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["finalizers"] == ["foregroundDeletion"]
