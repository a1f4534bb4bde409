"""Pod-like networking: shared localhost, service-name aliases, ports on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable

import aiodocker

from ctrlplane.provider import DeployRequest
from ctrlplane.provider.docker import DockerProvider

from .helpers import IMAGE, http_get_async, loop_cmd, public_url, request, sh, web


async def test_services_share_localhost_and_names(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    req = request(
        iid,
        web(),
        {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()},
    )
    await provider.provision(req)
    try:
        # the sidecar reaches the main service on localhost and by its service name
        code, out, _ = await sh(provider, iid, "wget -qO- http://localhost:8080/", service="agent")
        assert code == 0
        assert "hello from ctrlplane-example" in out
        code, out, _ = await sh(provider, iid, "wget -qO- http://web:8080/", service="agent")
        assert code == 0
        assert "hello from ctrlplane-example" in out
        # each service name resolves to its own replica (the shared namespace)
        code, out, _ = await sh(provider, iid, "grep -w agent /etc/hosts", service="agent")
        assert code == 0
        assert out.startswith("127.0.0.1")
    finally:
        await provider.deprovision(iid)


async def test_one_port_published_on_loopback_for_every_replica(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    result = await provider.provision(request(iid, web(resources={"replicas": 2})))
    try:
        public = [e for e in result.endpoints if e.public]
        assert len(public) == 1  # the instance's port, held by its front for both replicas
        assert public[0].url.startswith("tcp://127.0.0.1:")
        status, body = await http_get_async(public_url(result.endpoints, "web"))
        assert status == 200
        assert "hello" in body
        async with aiodocker.Docker() as client:
            front = await client.containers.get(f"cp-{iid}-front-web-8080")
            bindings = front["HostConfig"]["PortBindings"]["8080/tcp"]
            assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(public[0].port)}]
            for replica in (0, 1):
                info = await client.containers.get(f"cp-{iid}-{replica}-web")
                assert not info["HostConfig"].get("PortBindings")
        # replica units reach each other by replica alias on the instance network
        code, out, _ = await sh(provider, iid, "wget -qO- http://web-1:8080/", replica=0)
        assert code == 0
        assert "hello" in out
    finally:
        await provider.deprovision(iid)


async def test_start_after_the_namespace_owner_died_rejoins_sidecars(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid, web(), {"name": "agent", "image": IMAGE, "role": "sidecar", "command": loop_cmd()}
        )
    )
    try:
        async with aiodocker.Docker() as client:
            owner = await client.containers.get(f"cp-{iid}-0-web")
            await owner.kill()
        await provider.start(iid)
        code, out, _ = await sh(provider, iid, "wget -qO- http://localhost:8080/", service="agent")
        assert code == 0
        assert "hello" in out
    finally:
        await provider.deprovision(iid)


CHILD_PROVISION = """
import asyncio, sys
from ctrlplane.provider import ProvisionRequest
from ctrlplane.provider.docker import DockerConfig, DockerProvider

req = ProvisionRequest.model_validate({
    "instance_id": sys.argv[1], "name": "pinned", "services": [
        {"name": "app", "image": sys.argv[2], "command": ["sleep", "600"]}]})
config = DockerConfig(settle_time=0.2, pull_policy="never", stop_timeout=1)
asyncio.run(DockerProvider(config).provision(req))
print("provisioned")
"""


def _network_events(since: float, until: float, names: set[str]) -> list[tuple[str, str]]:
    out = subprocess.run(
        [
            "docker", "events", "--since", f"{since:.3f}", "--until", f"{until:.3f}",
            "--filter", "type=network", "--format", "{{json .}}",
        ],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    events = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    named = [(e["Action"], e["Actor"]["Attributes"].get("name", "")) for e in events]
    return [(action, name) for action, name in named if name in names]


async def test_two_processes_provisioning_at_once_get_distinct_pinned_subnets(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """Two processes creating instance networks at the same moment both succeed, each
    network with a subnet pinned at creation (containers can rejoin it under their
    address) and created once: the subnet is chosen from one network list, and a
    process that loses a subnet to the other chooses again (issue 17, B1)."""
    ids = [make_id(), make_id()]
    names = {f"cp-{iid}" for iid in ids}
    since = time.time() - 0.5
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD_PROVISION,
            iid,
            IMAGE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for iid in ids
    ]
    try:
        outputs = [await asyncio.wait_for(c.communicate(), 120) for c in children]
        for child, (out, err) in zip(children, outputs, strict=True):
            assert child.returncode == 0, err.decode()[-2000:]
            assert out.decode().strip() == "provisioned"
        until = time.time() + 0.5
        subnets = []
        async with aiodocker.Docker() as client:
            for name in sorted(names):
                info = await (await client.networks.get(name)).show()
                assert info["Labels"]["io.ctrlplane.addressing"] == "fixed"
                [pool] = info["IPAM"]["Config"]
                subnets.append(pool["Subnet"])
        assert len(set(subnets)) == 2
        events = _network_events(since, until, names)
        assert sorted(a for a, _ in events if a in {"create", "destroy"}) == ["create"] * 2
    finally:
        for iid in ids:
            await provider.deprovision(iid)


async def _engine_events(since: float, until: float) -> list[dict[str, object]]:
    """What the engine recorded between ``since`` and ``until`` (Unix seconds)."""
    window = ["--since", f"{since:.6f}", "--until", f"{until:.6f}"]
    proc = await asyncio.to_thread(
        subprocess.run,
        ["docker", "events", "--format", "{{json .}}", *window],
        capture_output=True,
        text=True,
        check=True,
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def _container_of(event: dict[str, object]) -> str:
    """The container an engine event is about (network events name it in an attribute)."""
    actor = event["Actor"]
    assert isinstance(actor, dict)
    attrs = actor.get("Attributes") or {}
    return str(attrs.get("container") if event["Type"] == "network" else actor.get("ID"))


async def test_a_running_holder_is_renamed_off_the_network(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """A blue-green deploy renames the unit's running holder ``-retiring``. The engine's
    rename writes back the network's endpoint count as the holder's endpoint saw it when
    it joined: one too high once another endpoint went away since, and the network can
    then never be removed (moby/moby#42119; met three times in one run of the Docker
    tests). So the holder leaves the network for the rename and rejoins right after: in
    the engine's record its disconnect comes before the rename and its connect next."""
    iid = make_id()
    await provider.provision(request(iid, web(env={"V": "1"})))
    try:
        docker = aiodocker.Docker()
        try:
            holder = await (await docker.containers.get(f"cp-{iid}-0.pod")).show()
        finally:
            await docker.close()
        since = time.time()
        change = {"name": "web", "image": IMAGE, "env": {"V": "2"}}
        deploy = DeployRequest(instance_id=iid, strategy="blue-green", services=[change])
        await provider.deploy(deploy)
        events = await _engine_events(since - 1, time.time() + 1)
    finally:
        await provider.deprovision(iid)
    mine = sorted(
        (int(str(ev["timeNano"])), str(ev["Action"]).split(":")[0])
        for ev in events
        if _container_of(ev) == holder["Id"]
    )
    order = [action for _, action in mine]
    assert "rename" in order, order
    at = order.index("rename")
    assert order[at - 1] == "disconnect", order
    assert order[at + 1] == "connect", order
