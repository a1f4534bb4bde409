"""The fake agent answers as a real Nomad agent did.

``recorded/nomad-1.1.2.json`` holds what a real Nomad 1.1.2 dev agent (docker driver,
host networking, no Consul) answered to edge-case requests (``real``), beside what this
fake answered then (``fake_then``). Each test below replays one case (or a few of one
kind) against the fake impersonating 1.1.2 and compares the facts that matter (status
codes, error texts, body shapes and keys, frame encodings; IDs, indexes and times are
incidental). Every one of them failed on the fake before it impersonated versions.
The last tests check what differs on the current version and the facts the recording
does not show directly (deployment order, events after a failure, a stop's version).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import pytest_asyncio

from .harness import CURRENT, NAMESPACE, TOKEN, NomadHarness

RECORDED = json.loads(
    (Path(__file__).parent / "recorded" / "nomad-1.1.2.json").read_text(encoding="utf-8")
)["cases"]
JOB = "cmp-job-1796602380"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
S = 1_000_000_000


def real(case: str) -> Any:
    """What the real agent answered to ``case`` (decoded)."""
    return json.loads(RECORDED[case]["real"])


def job(**changes: Any) -> dict[str, Any]:
    """The job the recording registered: one group ``unit``, one task ``app`` printing
    ``out-1`` and ``err-1``, host networking, health from the task states."""
    body: dict[str, Any] = {
        "ID": JOB,
        "Name": JOB,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Update": {
            "MaxParallel": 1,
            "HealthCheck": "task_states",
            "MinHealthyTime": 0,
            "HealthyDeadline": 20 * S,
            "ProgressDeadline": 40 * S,
            "AutoRevert": True,
        },
        "TaskGroups": [
            {
                "Name": "unit",
                "Count": 1,
                "Networks": [{"Mode": "host"}],
                "Tasks": [
                    {
                        "Name": "app",
                        "Driver": "docker",
                        "Config": {
                            "image": "conformance/app:1",
                            "command": "sh",
                            "args": [
                                "-c",
                                "echo out-1; echo err-1 >&2; trap 'exit 0' TERM; "
                                "while true; do sleep 1 & wait $!; done",
                            ],
                        },
                        "Resources": {"CPU": 100, "MemoryMB": 64},
                    }
                ],
            }
        ],
    }
    body.update(changes)
    return body


def group(body: dict[str, Any]) -> dict[str, Any]:
    return body["TaskGroups"][0]  # type: ignore[no-any-return]


def task(body: dict[str, Any]) -> dict[str, Any]:
    return group(body)["Tasks"][0]  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def api(old: NomadHarness) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the 1.1.2 agent; these tests send unknown fields on purpose."""
    async with httpx.AsyncClient(
        base_url=old.agent.address,
        headers={"X-Nomad-Token": TOKEN},
        params={"namespace": NAMESPACE},
        timeout=10,
    ) as client:
        yield client
    old.agent.unknown_fields.clear()
    old.agent.lenient.clear()


async def _running(api: httpx.AsyncClient) -> dict[str, Any]:
    """Register the recorded job and return its allocation once it runs."""
    reg = await api.put("/v1/jobs", json={"Job": job()})
    assert reg.status_code == 200, reg.text
    for _ in range(200):
        allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
        if allocs and allocs[0]["ClientStatus"] == "running":
            dep = (await api.get(f"/v1/job/{JOB}/deployment")).json()
            if dep and dep["Status"] == "successful":
                return allocs[0]  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not run")


# -- unknown objects and malformed IDs -----------------------------------------------------


async def test_delete_of_an_unknown_job_answers_an_evaluation(api: httpx.AsyncClient) -> None:
    for case, params in (
        ("DELETE unknown job (stop)", {}),
        ("DELETE unknown job (purge)", {"purge": "true"}),
    ):
        status, body = real(case)
        got = await api.delete("/v1/job/nope", params=params)
        assert got.status_code == status == 200
        assert set(got.json()) == set(body)
        assert got.json()["EvalID"]


async def test_unknown_and_malformed_allocations(api: httpx.AsyncClient) -> None:
    cases = {
        "GET unknown alloc": ("GET", f"/v1/allocation/{UNKNOWN}", {}),
        "GET alloc malformed id": ("GET", "/v1/allocation/nope", {}),
        "GET unknown alloc stats": ("GET", f"/v1/client/allocation/{UNKNOWN}/stats", {}),
        "GET unknown alloc checks": ("GET", f"/v1/client/allocation/{UNKNOWN}/checks", {}),
        "GET unknown alloc logs": (
            "GET",
            f"/v1/client/fs/logs/{UNKNOWN}",
            {"task": "app", "type": "stdout"},
        ),
        "PUT restart unknown alloc": ("PUT", f"/v1/client/allocation/{UNKNOWN}/restart", {}),
    }
    for case, (method, path, params) in cases.items():
        status, body = real(case)
        got = await api.request(method, path, params=params, json={} if method == "PUT" else None)
        assert (got.status_code, got.text) == (status, body), case


async def test_promote_or_fail_of_an_unknown_deployment_is_500(api: httpx.AsyncClient) -> None:
    for case, verb in (
        ("POST promote unknown deployment", "promote"),
        ("POST fail unknown deployment", "fail"),
    ):
        got = await api.post(f"/v1/deployment/{verb}/{UNKNOWN}", json={"DeploymentID": UNKNOWN})
        assert [got.status_code, got.text] == real(case), case


async def test_variables_do_not_exist_before_1_4(api: httpx.AsyncClient) -> None:
    status, _ = real("GET vars")
    got = await api.get("/v1/vars")
    assert got.status_code == status == 404
    assert (await api.put("/v1/var/a/b", json={"Items": {"k": "v"}})).status_code == 404


async def test_job_list_ignores_meta_and_filter_before_1_4(api: httpx.AsyncClient) -> None:
    await _running(api)
    for case, params in (
        ("GET jobs meta+filter", {"meta": "true", "filter": '"x" in Meta'}),
        ("GET jobs bad filter", {"filter": "((( nonsense"}),
    ):
        status, _ = real(case)
        got = await api.get("/v1/jobs", params=params)
        assert got.status_code == status == 200, case
        assert [s["ID"] for s in got.json()] == [JOB]  # not filtered
        assert "Meta" not in got.json()[0]


async def test_region_and_namespace(api: httpx.AsyncClient) -> None:
    other = await api.get(f"/v1/job/{JOB}", params={"region": "elsewhere"})
    assert [other.status_code, other.text] == real("GET job other region")
    missing = await api.get(f"/v1/job/{JOB}", params={"namespace": "missing"})
    assert [missing.status_code, missing.text] == real("GET job missing namespace")


# -- registration ----------------------------------------------------------------------


def _invalid_jobs() -> dict[str, dict[str, Any]]:
    negative = job()
    group(negative)["Count"] = -1
    small = job()
    task(small)["Resources"]["MemoryMB"] = 5
    slow = job()
    slow["Update"]["MinHealthyTime"] = 20 * S + 1
    twice = job()
    group(twice)["Tasks"].append(json.loads(json.dumps(task(twice))))
    hooked = job()
    task(hooked)["Lifecycle"] = {"Hook": "bogus", "Sidecar": False}
    checked = job()
    group(checked)["Networks"] = [{"Mode": "host", "DynamicPorts": [{"Label": "http"}]}]
    group(checked)["Services"] = [
        {
            "Name": f"app-{JOB}",
            "PortLabel": "http",
            "Checks": [
                {
                    "Name": "app-health",
                    "Type": "tcp",
                    "PortLabel": "http",
                    "Interval": S // 10,
                    "Timeout": S,
                }
            ],
        }
    ]
    return {
        "register invalid: negative count": negative,
        "register invalid: no datacenters": job(Datacenters=[]),
        "register invalid: memory 5 MB": small,
        "register invalid: min_healthy > healthy_deadline": slow,
        "register invalid: duplicate task": twice,
        "register invalid: bad lifecycle hook": hooked,
        "register invalid: bad job type": job(Type="weird"),
        "register invalid: check interval 100ms": checked,
    }


@pytest.mark.parametrize("case", sorted(_invalid_jobs()))
async def test_validation_errors_are_500_with_nomads_nested_text(
    api: httpx.AsyncClient, case: str
) -> None:
    got = await api.put("/v1/jobs", json={"Job": _invalid_jobs()[case]})
    assert [got.status_code, got.text] == real(case)


async def test_unknown_fields_are_accepted_and_recorded(
    old: NomadHarness, api: httpx.AsyncClient
) -> None:
    bogus = job(Bogus=1)
    docker = job()
    task(docker)["Config"]["bogus_opt"] = True
    label = job()
    group(label)["Services"] = [{"Name": "app", "PortLabel": "nolabel"}]
    for case, body in (
        ("register invalid: unknown job field", bogus),
        ("register invalid: unknown docker config key", docker),
        ("register invalid: service port label unknown", label),
    ):
        status, answer = real(case)
        got = await api.put("/v1/jobs", json={"Job": body})
        assert got.status_code == status == 200, case
        assert set(got.json()) == set(answer)
    assert old.agent.unknown_fields == [
        'Job: json: unknown field "Bogus"',
        'Job.TaskGroups[0].Tasks[0].Config: json: unknown field "bogus_opt"',
    ]
    assert old.agent.lenient == [
        "Job.TaskGroups[0].Services[0].PortLabel: port label 'nolabel' is not in the network"
    ]


async def test_an_unknown_docker_option_fails_the_task_in_the_driver(
    api: httpx.AsyncClient,
) -> None:
    docker = job()
    task(docker)["Config"]["bogus_opt"] = True
    assert (await api.put("/v1/jobs", json={"Job": docker})).status_code == 200
    for _ in range(200):
        allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
        if allocs and allocs[0]["ClientStatus"] == "failed":
            break
        await asyncio.sleep(0.02)
    events = [e["Type"] for e in allocs[0]["TaskStates"]["app"]["Events"]]
    assert "Failed Validation" in events


async def test_registration_answers_and_identical_registrations(api: httpx.AsyncClient) -> None:
    first = await api.put("/v1/jobs", json={"Job": job()})
    _, valid = real("register valid")
    assert set(first.json()) == set(valid)
    again = await api.put("/v1/jobs", json={"Job": job()})
    _, identical = real("register identical again")
    assert set(again.json()) == set(identical)
    assert again.json()["EvalID"]  # a new evaluation...
    assert again.json()["JobModifyIndex"] == first.json()["JobModifyIndex"]  # ...no new version
    versions = (await api.get(f"/v1/job/{JOB}/versions")).json()["Versions"]
    await _running(api)
    versions = (await api.get(f"/v1/job/{JOB}/versions")).json()["Versions"]
    assert [[v["Version"], v["Stable"]] for v in versions] == real(
        "versions after 2 identical registers"
    )


async def test_shapes_of_jobs_deployments_allocations_and_task_states(
    api: httpx.AsyncClient,
) -> None:
    alloc = await _running(api)
    read = (await api.get(f"/v1/job/{JOB}")).json()
    assert sorted(read) == real("job read back: top keys")
    assert [read["Status"], read["Stop"], read["Version"], read["Stable"]] == real(
        "job read back: Status/Stop/Version/Stable"
    )
    dep = (await api.get(f"/v1/job/{JOB}/deployment")).json()
    assert {k: dep[k] for k in ("Status", "StatusDescription", "JobVersion")} == real("deployment")
    assert set(dep["TaskGroups"]["unit"]) == set(real("deployment TaskGroups.unit"))
    assert dep["TaskGroups"]["unit"]["PlacedCanaries"] is None
    assert sorted(alloc) == real("alloc stub keys")
    assert sorted(alloc["TaskStates"]["app"]) == real("task state keys")
    events = alloc["TaskStates"]["app"]["Events"]
    assert [[e["Type"], e["DisplayMessage"]] for e in events] == real("task events")
    full = (await api.get(f"/v1/allocation/{alloc['ID']}")).json()
    shared = full["AllocatedResources"]["Shared"]
    recorded = real("alloc full: AllocatedResources.Shared")
    assert set(shared) == set(recorded)
    assert set(shared["Networks"][0]) == set(recorded["Networks"][0])
    assert shared["Ports"] is None


async def test_the_checks_endpoint_does_not_exist_before_1_4(api: httpx.AsyncClient) -> None:
    alloc = await _running(api)
    got = await api.get(f"/v1/client/allocation/{alloc['ID']}/checks")
    assert [got.status_code, got.text] == real("alloc checks")


# -- logs ---------------------------------------------------------------------------------


def _raw(case: str) -> str:
    status, body = real(case)
    assert status == 200
    return str(body)


async def test_log_frames_carry_the_offset_where_their_data_ends(api: httpx.AsyncClient) -> None:
    alloc = await _running(api)
    path = f"/v1/client/fs/logs/{alloc['ID']}"
    cases = {
        "logs stdout start (raw)": {"type": "stdout", "origin": "start", "offset": "0"},
        "logs stderr start (raw)": {"type": "stderr", "origin": "start", "offset": "0"},
        "logs stdout end offset 4096 > size (raw)": {
            "type": "stdout",
            "origin": "end",
            "offset": "4096",
        },
        "logs stdout end offset 3 (raw)": {"type": "stdout", "origin": "end", "offset": "3"},
        "logs stdout start offset beyond size (raw)": {
            "type": "stdout",
            "origin": "start",
            "offset": "4096",
        },
        "logs plain=true": {"type": "stdout", "plain": "true"},
    }
    for case, params in cases.items():
        got = await api.get(path, params={"task": "app", **params})
        assert got.text == _raw(case), case
    unknown = await api.get(path, params={"task": "zzz", "type": "stdout"})
    assert [unknown.status_code, unknown.text] == real("logs unknown task")
    bad = await api.get(path, params={"task": "app", "type": "bogus"})
    assert [bad.status_code, bad.text] == real("logs bad type")


async def test_a_followed_log_stays_open_after_the_task_died(api: httpx.AsyncClient) -> None:
    alloc = await _running(api)
    path = f"/v1/client/fs/logs/{alloc['ID']}"
    params = {"task": "app", "type": "stdout", "follow": "true", "origin": "start"}
    chunks: list[str] = []
    async with api.stream("GET", path, params=params) as resp:
        stream = resp.aiter_text()
        chunks.append(await anext(stream))
        stop = await api.delete(f"/v1/job/{JOB}")
        assert stop.status_code == 200
        for _ in range(2):  # heartbeats keep coming after the task was killed
            chunks.append(await asyncio.wait_for(anext(stream), 5))
    assert chunks == real("logs follow 3s (chunks)")
    allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
    assert allocs[0]["TaskStates"]["app"]["State"] == "dead"


# -- exec ---------------------------------------------------------------------------------


async def _exec(
    old: NomadHarness, alloc_id: str, argv: list[str] | str, stdin: bytes | None = b""
) -> list[dict[str, Any]]:
    """The frames of one exec session; ``stdin`` ``None`` sends no stdin frame at all."""
    command = argv if isinstance(argv, str) else json.dumps(argv)
    url = f"{old.agent.address.replace('http', 'ws')}/v1/client/allocation/{alloc_id}/exec"
    params = {"task": "app", "command": command, "tty": "false", "namespace": NAMESPACE}
    frames: list[dict[str, Any]] = []
    async with (
        aiohttp.ClientSession(headers={"X-Nomad-Token": TOKEN}) as session,
        session.ws_connect(url, params=params) as ws,
    ):
        if stdin is not None:
            if stdin:
                await ws.send_json({"stdin": {"data": base64.b64encode(stdin).decode()}})
            await ws.send_json({"stdin": {"close": True}})
        async with asyncio.timeout(5):
            async for msg in ws:
                frames.append(json.loads(msg.data))
                if frames[-1].get("exited"):
                    break
    return frames


async def test_exec_frames(old: NomadHarness, api: httpx.AsyncClient) -> None:
    alloc = (await _running(api))["ID"]
    cases: dict[str, tuple[list[str], bytes | None]] = {
        "exec exit 3": (["sh", "-c", "echo out; echo err >&2; exit 3"], b""),
        "exec exit 0": (["echo", "hi"], b""),
        "exec stdin cat": (["cat"], b"abc\n"),
        "exec no stdin close (echo)": (["echo", "hi"], None),
        "exec missing binary": (["/no/such"], b""),
    }
    for case, (argv, stdin) in cases.items():
        assert await _exec(old, alloc, argv, stdin) == real(case), case
    bad = await api.get(
        f"/v1/client/allocation/{alloc}/exec", params={"task": "app", "command": "nope"}
    )
    status, _ = real("exec bad command json")
    assert bad.status_code == status == 500
    assert bad.text.startswith("failed to marshal command into json: ")


# -- deployments, restart, stop and purge ---------------------------------------------------


async def test_promote_or_fail_of_a_terminal_deployment_is_500(api: httpx.AsyncClient) -> None:
    await _running(api)
    dep = (await api.get(f"/v1/job/{JOB}/deployment")).json()
    for case, verb in (
        ("promote terminal deployment", "promote"),
        ("fail terminal deployment", "fail"),
    ):
        got = await api.post(f"/v1/deployment/{verb}/{dep['ID']}", json={"DeploymentID": dep["ID"]})
        assert [got.status_code, got.text] == real(case), case


async def test_restart_of_a_running_and_of_a_stopped_allocation(api: httpx.AsyncClient) -> None:
    alloc = await _running(api)
    path = f"/v1/client/allocation/{alloc['ID']}/restart"
    ok = await api.put(path, json={})
    assert [ok.status_code, ok.json()] == real("restart running alloc")
    await api.delete(f"/v1/job/{JOB}")
    for _ in range(200):
        allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
        if allocs[0]["ClientStatus"] == "complete":
            break
        await asyncio.sleep(0.02)
    dead = await api.put(path, json={})
    assert [dead.status_code, dead.text] == real("restart stopped alloc")


async def test_a_stop_is_a_stable_version_and_a_purge_leaves_the_allocations_listed(
    api: httpx.AsyncClient,
) -> None:
    await _running(api)
    stop = await api.delete(f"/v1/job/{JOB}")
    _, recorded = real("stop job")
    assert set(stop.json()) == set(recorded)
    read = (await api.get(f"/v1/job/{JOB}")).json()
    assert [read["Status"], read["Stop"], read["Version"]] == real(
        "after stop: Status/Stop/Version"
    )
    for _ in range(200):
        versions = (await api.get(f"/v1/job/{JOB}/versions")).json()["Versions"]
        allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
        if versions[0]["Stable"] and allocs[0]["ClientStatus"] == "complete":
            break
        await asyncio.sleep(0.02)
    assert [[v["Version"], v["Stable"], v["Stop"]] for v in versions] == real(
        "after stop: versions"
    )
    assert [[a["ClientStatus"], a["DesiredStatus"]] for a in allocs] == real("after stop: allocs")
    purge = await api.delete(f"/v1/job/{JOB}", params={"purge": "true"})
    _, recorded = real("purge")
    assert set(purge.json()) == set(recorded)
    gone = await api.get(f"/v1/job/{JOB}")
    assert [gone.status_code, gone.text] == real("after purge: GET job")
    listed = (await api.get(f"/v1/job/{JOB}/allocations")).json()
    # The recording of this answer is cut off after 696 characters: read its fields.
    text = RECORDED["after purge: allocations"]["real"]
    assert text.startswith("[200, [{")
    still = {
        k: re.search(rf'"{k}": "([^"]*)"', text).group(1)  # type: ignore[union-attr]
        for k in ("JobID", "ClientStatus", "DesiredStatus")
    }
    assert [(a["JobID"], a["ClientStatus"], a["DesiredStatus"]) for a in listed] == [
        (still["JobID"], still["ClientStatus"], still["DesiredStatus"])
    ]


# -- beyond the recording ---------------------------------------------------------------------


async def test_after_a_failure_the_events_end_with_the_agents_aftermath(
    api: httpx.AsyncClient,
) -> None:
    """The cause comes before ``Not Restarting``, ``Killing`` and ``Alloc Unhealthy``
    (what the real agent appended after an image pull failure)."""
    missing = job()
    task(missing)["Config"]["image"] = "ctrlplane-conformance/missing-image:0"
    await api.put("/v1/jobs", json={"Job": missing})
    for _ in range(200):
        allocs = (await api.get(f"/v1/job/{JOB}/allocations")).json()
        events = [
            e["Type"]
            for e in (allocs or [{}])[0].get("TaskStates", {}).get("app", {}).get("Events", [])
        ]
        if "Alloc Unhealthy" in events:
            break
        await asyncio.sleep(0.02)
    assert events[-4:] == ["Driver Failure", "Not Restarting", "Killing", "Alloc Unhealthy"]


async def test_deployments_are_listed_in_no_particular_order(
    old: NomadHarness, api: httpx.AsyncClient
) -> None:
    await _running(api)
    for n in (2, 3):
        changed = job()
        task(changed)["Env"] = {"N": str(n)}
        await api.put("/v1/jobs", json={"Job": changed})
        for _ in range(200):
            dep = (await api.get(f"/v1/job/{JOB}/deployment")).json()
            if dep["JobVersion"] == n - 1 and dep["Status"] == "successful":
                break
            await asyncio.sleep(0.02)
    listed = (await api.get(f"/v1/job/{JOB}/deployments")).json()
    assert len(listed) == 3
    assert [d["ID"] for d in listed] == sorted(d["ID"] for d in listed)  # not by time
    newest = (await api.get(f"/v1/job/{JOB}/deployment")).json()
    assert newest["JobVersion"] == 2


async def test_the_current_version_has_variables_checks_and_filters() -> None:
    h = NomadHarness(version=CURRENT)
    await h.setup()
    try:
        async with httpx.AsyncClient(
            base_url=h.agent.address,
            headers={"X-Nomad-Token": TOKEN},
            params={"namespace": NAMESPACE},
        ) as api:
            assert (await api.get("/v1/vars")).json() == []
            created = await api.put("/v1/var/a/b", params={"cas": "0"}, json={"Items": {"k": "v"}})
            assert created.status_code == 200
            again = await api.put("/v1/var/a/b", params={"cas": "0"}, json={"Items": {"k": "w"}})
            assert again.status_code == 409  # check-and-set: it exists
            assert again.json()["Items"] == {"k": "v"}
            index = str(created.json()["ModifyIndex"])
            assert (await api.delete("/v1/var/a/b", params={"cas": "1"})).status_code == 409
            assert (await api.delete("/v1/var/a/b", params={"cas": index})).status_code == 200
            bad = await api.get("/v1/jobs", params={"filter": "((( nonsense"})
            assert bad.status_code == 400
            checks = await api.get(f"/v1/client/allocation/{UNKNOWN}/checks")
            assert checks.status_code == 404
            assert checks.text != "resource not found"  # the endpoint exists
    finally:
        await h.teardown()
