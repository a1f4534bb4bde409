"""Pod-like networking: shared localhost, service-name aliases, ports on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable

import aiodocker

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
