"""``down`` and ``down --keep-volumes`` end to end: the real ``ctrlplane`` command against
the fake Kubernetes API server (whose config has a ``keep_volumes`` setting), configured
by a ``ctrlplane.toml``. Volumes go with the instance by default; ``--keep-volumes`` keeps
its claims. (A provider without the setting refuses before removing anything:
tests/cli/test_cli_hands.py.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio
from cli_process import Target, base_env
from tests.kubernetes.fake_apiserver import FakeCluster, running_fake

from ctrlplane.provider.kubernetes.render.naming import LABEL_INSTANCE
from ctrlplane.testing import FakeImage
from ctrlplane.testing.conformance.fake_harness import conformance_http

IMAGE = "conformance/app:1"

WORKLOAD = f"""\
name: keeper
services:
  - name: web
    image: {IMAGE}
    ports: [{{container: 8080}}]
    volumes: [{{name: data, mount_path: /data}}]
"""

TOML = """\
default = "staging"

[providers.staging]
type = "kubernetes"
kubeconfig = "{kubeconfig}"
namespace = "default"
poll_interval = 0.02
provision_timeout = "15s"
deprovision_timeout = "15s"
request_timeout = 10
"""


@dataclass
class Project:
    target: Target
    fake: FakeCluster

    def kinds(self, iid: str) -> list[str]:
        """The kinds of the objects of ``iid`` left in the cluster."""
        return sorted(
            k
            for (k, _, _), o in self.fake.cluster.store.objects.items()
            if (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
        )


@pytest_asyncio.fixture
async def project(tmp_path: Path) -> AsyncIterator[Project]:
    images = [FakeImage(name=IMAGE, http=conformance_http)]
    async with running_fake(tmp_path, images, version=(1, 33)) as fake:
        folder = tmp_path / "project"
        (folder / ".git").mkdir(parents=True)
        (folder / "ctrlplane.toml").write_text(TOML.format(kubeconfig=fake.kubeconfig))
        (folder / "app.yaml").write_text(WORKLOAD)
        yield Project(Target(folder, base_env(tmp_path), "staging"), fake)
        assert not fake.cluster.errors, fake.cluster.errors


async def _up(target: Target) -> str:
    doc = json.loads(await target.ok("-o", "json", "up", "-f", "app.yaml"))
    iid = doc["instance_id"]
    assert isinstance(iid, str)
    return iid


async def test_down_removes_the_volumes_and_keep_volumes_keeps_them(project: Project) -> None:
    target = project.target
    iid = await _up(target)
    assert "PersistentVolumeClaim" in project.kinds(iid)
    assert await target.ok("down", "keeper") == f"removed {iid}\n"
    assert project.kinds(iid) == []

    iid = await _up(target)
    assert await target.ok("down", "keeper", "--keep-volumes") == f"removed {iid} (volumes kept)\n"
    assert project.kinds(iid) == ["PersistentVolumeClaim"]
    assert json.loads(await target.ok("-o", "json", "ls")) == []
    (claim,) = _claims(project, iid)

    # The next up of the same file provisions that instance again, on the kept claim.
    doc = json.loads(await target.ok("-o", "json", "up", "-f", "app.yaml"))
    assert doc["instance_id"] == iid
    assert doc["kept_volumes"] is True
    assert _claims(project, iid) == [claim]
    assert await target.ok("down", "keeper") == f"removed {iid}\n"
    assert project.kinds(iid) == []
    # Nothing is kept any more: the next up is a new instance.
    again = json.loads(await target.ok("-o", "json", "up", "-f", "app.yaml"))
    assert again["instance_id"] != iid
    assert again["kept_volumes"] is False
    await target.ok("down", "keeper")


def _claims(project: Project, iid: str) -> list[str]:
    """The uids of the instance's claims (a claim made anew has another)."""
    return [
        o["metadata"]["uid"]
        for (k, _, _), o in project.fake.cluster.store.objects.items()
        if k == "PersistentVolumeClaim"
        and (o["metadata"].get("labels") or {}).get(LABEL_INSTANCE) == iid
    ]
