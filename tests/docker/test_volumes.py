"""Volumes: persistence across restart, per-replica for stateful sets, tmpfs size."""

from __future__ import annotations

import re
from collections.abc import Callable

import aiodocker

from ctrlplane.provider.docker import DockerProvider

from .helpers import IMAGE, loop_cmd, request, sh


def app(**extra: object) -> dict[str, object]:
    svc: dict[str, object] = {
        "name": "app",
        "image": IMAGE,
        "command": loop_cmd(),
        "volumes": [{"name": "data", "mount_path": "/data"}],
    }
    svc.update(extra)
    return svc


async def test_volume_survives_restart(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(request(iid, app()))
    try:
        assert (await sh(provider, iid, "echo kept > /data/f"))[0] == 0
        await provider.restart(iid)
        code, out, _ = await sh(provider, iid, "cat /data/f")
        assert (code, out) == (0, "kept\n")
    finally:
        await provider.deprovision(iid)


async def test_stateful_set_has_per_replica_volumes(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(request(iid, app(resources={"replicas": 2}), kind="stateful_set"))
    try:
        await sh(provider, iid, "echo zero > /data/who", replica=0)
        await sh(provider, iid, "echo one > /data/who", replica=1)
        assert (await sh(provider, iid, "cat /data/who", replica=0))[1] == "zero\n"
        assert (await sh(provider, iid, "cat /data/who", replica=1))[1] == "one\n"
        async with aiodocker.Docker() as client:
            # aiodocker's DockerVolumes.list has no annotations.
            vols = await client.volumes.list(filters={"label": [f"io.ctrlplane.instance={iid}"]})  # type: ignore[no-untyped-call]
        names = sorted(
            v["Name"] for v in vols["Volumes"] if "io.ctrlplane.release-record" not in v["Labels"]
        )
        assert names == [f"cp-{iid}-0-data", f"cp-{iid}-1-data"]
    finally:
        await provider.deprovision(iid)


async def test_deployment_replicas_share_volume(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    await provider.provision(request(iid, app(resources={"replicas": 2})))
    try:
        await sh(provider, iid, "echo shared > /data/who", replica=0)
        assert (await sh(provider, iid, "cat /data/who", replica=1))[1] == "shared\n"
    finally:
        await provider.deprovision(iid)


async def test_tmpfs_size_is_enforced(provider: DockerProvider, make_id: Callable[[], str]) -> None:
    iid = make_id()
    await provider.provision(
        request(
            iid,
            app(
                volumes=[
                    {"name": "scratch", "mount_path": "/scratch", "type": "tmpfs", "size_mb": 2}
                ]
            ),
        )
    )
    try:
        code, _, _ = await sh(provider, iid, "dd if=/dev/zero of=/scratch/a bs=1M count=1")
        assert code == 0
        code, _, err = await sh(provider, iid, "dd if=/dev/zero of=/scratch/b bs=1M count=4")
        assert code != 0
        assert "space" in err.lower()
    finally:
        await provider.deprovision(iid)


async def test_anonymous_image_volumes_are_removed(
    provider: DockerProvider, make_id: Callable[[], str]
) -> None:
    """An image's own VOLUME (an anonymous volume) goes away with its container. Other
    workers' tests make volumes meanwhile (their instances' release records): only the
    anonymous ones (a 64-hex name) and this instance's count."""
    image = "ctrlplane-test/with-volume:1"
    async with aiodocker.Docker() as client:
        base = await client.containers.create(
            {"Image": IMAGE, "Cmd": ["true"], "Labels": {"ctrlplane-test": "1"}}
        )
        try:
            await base.commit(
                repository="ctrlplane-test/with-volume", tag="1", changes='VOLUME ["/cache"]'
            )
        finally:
            await base.delete(force=True)
        # aiodocker's DockerVolumes.list has no annotations.
        before = {v["Name"] for v in (await client.volumes.list())["Volumes"] or []}  # type: ignore[no-untyped-call]
        iid = make_id()
        try:
            await provider.provision(request(iid, app(image=image)))
            await provider.deprovision(iid)
            # aiodocker's DockerVolumes.list has no annotations.
            after = {v["Name"] for v in (await client.volumes.list())["Volumes"] or []}  # type: ignore[no-untyped-call]
            new = after - before
            assert {v for v in new if re.fullmatch("[0-9a-f]{64}", v) or iid in v} == set()
        finally:
            await client.images.delete(image, force=True)
