"""What a real Nomad 1.1.2 agent showed the provider got wrong (issue 13), each proved
against the fake agent that now answers as that agent did, and the features that let
older agents and agents without Consul run what truly can run."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from ctrlplane.errors import BackendError, DeployFailed, ProvisionFailed
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.failures import RolloutFailed
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.context import open_context
from ctrlplane.provider.nomad.limits import preflight
from ctrlplane.provider.nomad.observe.allocations import task_failure
from ctrlplane.provider.nomad.strategies import promote
from ctrlplane.provider.spec import (
    DeployRequest,
    LogOptions,
    ResourceSpec,
    ServiceDeploySpec,
)

from .harness import NAMESPACE, OLDEST, TOKEN, NomadHarness, request_of


async def test_deprovision_on_1_1_never_asks_for_variables_and_leaves_nothing(
    old: NomadHarness,
) -> None:
    provider = old.make_provider()
    req = request_of(old.http_service("web", port=8080))
    await provider.provision(req)
    await provider.deprovision(req.instance_id)
    await provider.deprovision(req.instance_id)  # twice is fine
    assert not [r for r in old.agent.requests if r.path.startswith("/v1/var")]
    assert await old.leftovers(req.instance_id) == []
    failing = request_of(old.exit_service("app", code=3))
    with pytest.raises(ProvisionFailed):
        await provider.provision(failing)  # its cleanup purges without Variables too
    assert await old.leftovers(failing.instance_id) == []


async def test_tail_reads_every_line_and_follow_resumes_where_history_ended(
    old: NomadHarness,
) -> None:
    """Frames carry the offset at the end of their data: no first line is dropped, a
    tail beyond the file reads it from its start in one request, and follow goes on
    from the end of the history (no line twice, none lost)."""
    provider = old.make_provider()
    lines = [f"line {i}" for i in range(5)]
    quiet = request_of(old.log_service("app", lines=lines))
    await provider.provision(quiet)
    tail = await provider.logs(quiet.instance_id, LogOptions(tail=3)).collect()
    assert [r.line for r in tail] == lines[-3:]
    before = len(old.agent.requests)
    everything = await provider.logs(quiet.instance_id, LogOptions(tail=1000)).collect()
    assert [r.line for r in everything] == lines
    reads = [r for r in old.agent.requests[before:] if r.path.startswith("/v1/client/fs/logs")]
    assert len(reads) == 2  # stdout and stderr, once each: no loop on a short file
    req = request_of(old.log_service("app", lines=lines, tick=True))
    await provider.provision(req)
    seen: list[str] = []
    async with provider.logs(req.instance_id, LogOptions(follow=True)) as stream:
        async for record in stream:
            seen.append(record.line)
            if sum(1 for line in seen if line.startswith("tick")) >= 3:
                break
    assert seen[:5] == lines
    ticks = [line for line in seen if line.startswith("tick")]
    assert ticks == [f"tick {n}" for n in range(1, len(ticks) + 1)]


async def test_a_followed_log_ends_when_the_task_is_dead(old: NomadHarness) -> None:
    """The agent keeps a followed stream open after the task died; the provider ends it
    (with the lines written before)."""
    provider = old.make_provider()
    req = request_of(old.log_service("app", lines=["first"], tick=True))
    await provider.provision(req)
    seen: list[str] = []
    ticking = asyncio.Event()

    async def follow() -> None:
        async with provider.logs(req.instance_id, LogOptions(follow=True)) as stream:
            async for record in stream:
                seen.append(record.line)
                if record.line.startswith("tick"):
                    ticking.set()

    reader = asyncio.create_task(follow())
    await asyncio.wait_for(ticking.wait(), 5)
    await provider.stop(req.instance_id)
    started = time.monotonic()
    await asyncio.wait_for(reader, 5)
    assert time.monotonic() - started < 3
    assert seen[0] == "first"


async def test_restart_with_a_finished_init_restarts_the_running_tasks(
    old: NomadHarness,
) -> None:
    """An empty restart request is a 500 ``Task not running`` when an init finished;
    the provider restarts each running task by name."""
    init = old.exit_service("setup", code=0).model_copy(update={"role": ServiceRole.INIT})
    req = request_of(old.http_service("web", port=8080), init)
    provider = old.make_provider()
    await provider.provision(req)
    await provider.restart(req.instance_id)
    status = await provider.status(req.instance_id)
    assert status.services["web"].restarts == 1
    assert status.services["setup"].state == InstanceState.STOPPED
    restarts = [r for r in old.agent.requests if r.path.endswith("/restart")]
    assert len(restarts) == 1


async def test_list_instances_on_1_1_reads_the_jobs_itself(old: NomadHarness) -> None:
    provider = old.make_provider()
    a = request_of(old.idle_service("app"), tenant="acme", name="first")
    b = request_of(old.idle_service("app"), tenant="other", name="second")
    await provider.provision(a)
    await provider.provision(b)
    listed = await old.make_provider().list_instances()
    assert [(s.instance_id, s.name, s.tenant_id) for s in listed] == [
        (a.instance_id, "first", "acme"),
        (b.instance_id, "second", "other"),
    ]
    assert [s.instance_id for s in await provider.list_instances("acme")] == [a.instance_id]
    lease_jobs = [jid for (_, jid) in old.agent.state.jobs if jid.startswith("ctrlplane-lease")]
    assert lease_jobs  # tombstones of the operations' leases: never listed


async def test_up_twice_on_1_1_converges_one_job(old: NomadHarness, tmp_path: Path) -> None:
    """``ctrlplane up -f`` finds the instance by name the second time (no second job)."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "app.yaml").write_text(
        "name: twice\nservices:\n  - name: web\n    image: conformance/app:1\n"
        '    command: ["sh", "-c", "sleep infinity"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "NOMAD_"))}
    env.update(
        CTRLPLANE_PROVIDER="nomad",
        NOMAD_ADDR=old.agent.address,
        NOMAD_TOKEN=TOKEN,
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
        CTRLPLANE_NOMAD_NAMESPACE=NAMESPACE,
        CTRLPLANE_NOMAD_POLL_INTERVAL="0.02s",
        CTRLPLANE_NOMAD_MIN_HEALTHY_TIME="0s",
        CTRLPLANE_NOMAD_STABILITY_WINDOW="0.1s",
    )
    exe = str(Path(sys.executable).with_name("ctrlplane"))
    ids = []
    for _ in range(2):
        proc = await asyncio.create_subprocess_exec(
            exe,
            "-o",
            "json",
            "up",
            "-f",
            "app.yaml",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0, err.decode()
        ids.append(json.loads(out)["instance_id"])
    assert ids[0] == ids[1]
    instances = [jid for (_, jid) in old.agent.state.jobs if jid.startswith("inst_")]
    assert instances == [ids[0]]
    await old.make_provider().deprovision(ids[0])


def test_a_failure_reason_keeps_its_cause_before_the_agents_aftermath() -> None:
    """What a 1.1.2 agent recorded for an image that could not be pulled."""
    events = [
        ("Received", "Task received by client"),
        ("Task Setup", "Building Task Directory"),
        ("Driver", "Downloading image"),
        ("Driver Failure", "Failed to pull `nope:1`: pull access denied"),
        ("Not Restarting", "Error was unrecoverable"),
        ("Killing", "Sent interrupt. Waiting 5s before force killing"),
        ("Alloc Unhealthy", "Unhealthy because of failed task"),
    ]
    alloc = {
        "TaskStates": {
            "app": {
                "Failed": True,
                "Events": [{"Type": t, "DisplayMessage": m} for t, m in events],
            }
        }
    }
    assert task_failure([alloc]) == (
        "task 'app' failed: Driver Failure: Failed to pull `nope:1`: pull access denied; "
        "Not Restarting: Error was unrecoverable"
    )


async def test_a_provision_failure_names_the_cause(old: NomadHarness) -> None:
    app = old.idle_service("app").model_copy(update={"image": old.missing_image})
    with pytest.raises(ProvisionFailed) as caught:
        await old.make_provider().provision(request_of(app))
    assert "Driver Failure: Failed to pull" in caught.value.reason


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_host_mode_port_collisions_fail_fast_and_a_failed_scale_restores() -> None:
    h = NomadHarness(network_mode="host")
    await h.setup()
    try:
        port = _free_port()
        provider = h.make_provider()
        req = request_of(h.http_service("web", port=port, env={"MESSAGE": "v1"}))
        await provider.provision(req)
        iid = req.instance_id
        started = time.monotonic()
        with pytest.raises(BackendError, match="reserved port collision") as caught:
            await provider.scale(iid, ResourceSpec(replicas=2))
        assert "the previous scale was restored" in str(caught.value)
        assert time.monotonic() - started < 5  # not the 12 s deploy deadline
        state = h.agent.state.job(NAMESPACE, iid)
        assert state is not None
        assert state.current["TaskGroups"][0]["Count"] == 1
        assert len([u for u in await h.running(iid) if u.service == "web"]) == 1
        started = time.monotonic()
        blue_green = DeployRequest(
            instance_id=iid,
            strategy="blue-green",
            services=[ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v2"})],
        )
        with pytest.raises(DeployFailed, match="reserved port collision") as failed:
            await provider.deploy(blue_green)
        assert failed.value.rolled_back
        assert time.monotonic() - started < 5
        await provider.deprovision(iid)
    finally:
        await h.teardown()


async def test_failing_a_deployment_that_ended_is_fine_and_promoting_it_is_a_failure(
    harness: NomadHarness,
) -> None:
    """Nomad answers 500 to promote or fail a deployment that ended (or is unknown)."""
    provider = harness.make_provider()
    req = request_of(harness.idle_service("app"))
    await provider.provision(req)
    async with open_context(harness.config(), preflight(harness.config())) as ctx:
        dep = await jobs.deployment(ctx, req.instance_id)
        assert dep is not None
        assert dep["Status"] == "successful"
        await jobs.fail_deployment(ctx, str(dep["ID"]))  # already ended: nothing to do
        await jobs.fail_deployment(ctx, "00000000-0000-0000-0000-000000000000")
        with pytest.raises(RolloutFailed, match="terminal deployment"):
            await promote(ctx, str(dep["ID"]))


async def test_an_agent_without_registration_still_publishes_ports_in_host_mode() -> None:
    """1.1 without Consul: no service is registered anywhere, the ports still work."""
    h = NomadHarness(version=OLDEST, network_mode="host")
    await h.setup()
    try:
        port = _free_port()
        provider = h.make_provider()
        req = request_of(h.http_service("web", port=port, env={"MESSAGE": "hello"}))
        await provider.provision(req)
        state = h.agent.state.job(NAMESPACE, req.instance_id)
        assert state is not None
        assert state.current["TaskGroups"][0]["Services"] == []
        status = await provider.status(req.instance_id)
        code, body = await h.http_get([e for e in status.endpoints if e.public])
        assert (code, body) == (200, b"hello")
        await provider.deprovision(req.instance_id)
    finally:
        await h.teardown()
