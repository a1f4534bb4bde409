"""One operation's view of the engine: reading instances back, preparing and cleaning up.

A :class:`Session` pairs an open :class:`~ctrlplane.provider.docker.engine.Engine` with
the provider's configuration and secret resolver. The provider opens one per public
call; nothing outlives the call, so provider objects stay stateless.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ctrlplane.errors import BackendError, BackendUnavailable, CtrlplaneError, InstanceNotFound
from ctrlplane.provider.docker.archive import read_tar_file
from ctrlplane.provider.docker.config import DockerConfig, PullPolicy
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.engine import Engine
from ctrlplane.provider.docker.history import (
    parse_records,
    record_body,
    record_filter,
    record_names,
)
from ctrlplane.provider.docker.materials import ServiceMaterials, resolve_materials
from ctrlplane.provider.docker.translate import Translator, Workload
from ctrlplane.provider.docker.units import StepFailed, UnitRunner
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.results import ProvisionResult
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.secrets import SecretResolver

__all__ = ["Session"]

JSON = dict[str, Any]


def _seconds(value: timedelta) -> float:
    return value / timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class Session:
    """An engine plus the configuration every instance operation needs."""

    engine: Engine
    tr: Translator
    secrets: SecretResolver | None

    @property
    def config(self) -> DockerConfig:
        """The provider configuration."""
        return self.tr.config

    async def inspect_all(self, instance_id: str) -> list[JSON]:
        """``docker inspect`` of every container of the instance (one filtered list)."""
        found = await self.engine.list_containers(self.tr.labels.service_filter(instance_id))
        inspects = await asyncio.gather(*(self.engine.inspect_container(c["Id"]) for c in found))
        return [i for i in inspects if i is not None]

    async def load(self, instance_id: str) -> tuple[Workload, list[JSON]]:
        """The workload read back from the labels and its containers' inspects;
        :class:`InstanceNotFound` when the instance has no container."""
        inspects = await self.inspect_all(instance_id)
        if not inspects:
            raise InstanceNotFound(instance_id, provider=NAME)
        return self.tr.workload_from_containers(inspects), inspects

    def units(self, inspects: Sequence[JSON]) -> list[int]:
        """The replica unit numbers present among ``inspects``, ascending."""
        key = self.tr.labels.replica
        return sorted({int(i["Config"]["Labels"].get(key, "0")) for i in inspects})

    async def materials(
        self,
        wl: Workload,
        contents: Mapping[str, Mapping[str, bytes]] | None = None,
    ) -> dict[str, ServiceMaterials]:
        """Resolved secrets and files of every service (see :mod:`.materials`)."""
        out: dict[str, ServiceMaterials] = {}
        for svc in wl.services:
            out[svc.name] = await resolve_materials(
                svc,
                self.secrets,
                tenant_id=wl.tenant_id,
                instance_id=wl.instance_id,
                config=self.config,
                config_contents=(contents or {}).get(svc.name),
            )
        return out

    async def config_contents(
        self, wl: Workload, inspects: Sequence[JSON]
    ) -> dict[str, dict[str, bytes]]:
        """Config file contents copied out of the existing containers (labels keep none)."""
        out: dict[str, dict[str, bytes]] = {}
        template = min(self.units(inspects))
        for svc in wl.services:
            if not svc.config_files:
                continue
            ref = self.tr.container_name(wl, template, svc.name)
            files: dict[str, bytes] = {}
            for cf in svc.config_files:
                data = await self.engine.get_archive(ref, cf.path)
                if data is None:
                    raise BackendError(
                        f"config file {cf.path} of service {svc.name!r} is missing from "
                        f"container {ref}",
                        backend=NAME,
                    )
                with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                    found = read_tar_file(tar)
                files[cf.path] = found[0] if found else b""
            out[svc.name] = files
        return out

    def result(self, wl: Workload, inspects: Sequence[JSON]) -> ProvisionResult:
        """The :class:`ProvisionResult` of an instance from its containers."""
        refs: dict[str, str] = {}
        template = min(self.units(inspects)) if inspects else 0
        for i in inspects:
            labels = i["Config"]["Labels"]
            if int(labels.get(self.tr.labels.replica, "0")) == template:
                refs[labels[self.tr.labels.service]] = str(i["Id"])
        return ProvisionResult(
            provider_ref=self.tr.names.network(wl.instance_id),
            service_refs=refs,
            endpoints=self.tr.endpoints(wl, inspects),
            metadata={
                "network": self.tr.names.network(wl.instance_id),
                "release_id": wl.release_id,
                "replicas": str(len(self.units(inspects)) if inspects else wl.replicas),
                "kind": str(wl.kind),
            },
        )

    async def purge(self, instance_id: str, keep_volumes: set[str], *, linger: float = 0.0) -> None:
        """Remove every container, network and (not kept) volume of the instance.

        Sweeps until a sweep finds nothing, and (failure cleanup) for at least ``linger``
        seconds: a create request the engine was still processing when the operation was
        cancelled can land after the first sweep.
        """
        filters = self.tr.labels.instance_filter(instance_id)
        deadline = time.monotonic() + linger
        for _ in range(100):
            busy = await self._sweep(filters, keep_volumes)
            if not busy and time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.1 if busy else 0.25)
        raise BackendError(
            f"objects of instance {instance_id!r} keep appearing; cleanup gave up", backend=NAME
        )

    async def _sweep(self, filters: dict[str, list[str]], keep_volumes: set[str]) -> bool:
        """One removal pass; true if it found something to remove (or could not yet)."""
        found = await self.engine.list_containers(filters)
        joiners = [c for c in found if c["Labels"].get(self.tr.labels.netns) != "owner"]
        owners = [c for c in found if c not in joiners]
        for group in (joiners, owners):
            await asyncio.gather(*(self.engine.remove_container(c["Id"]) for c in group))
        busy = bool(found)
        for vol in await self.engine.list_volumes(filters):
            if vol["Name"] in keep_volumes:
                continue
            try:
                await self.engine.remove_volume(vol["Name"])
            except BackendError as exc:
                if exc.status != 409:  # 409: still in use by a just-created container
                    raise
                busy = True
        for net in await self.engine.list_networks(filters):
            try:
                await self.engine.remove_network(net["Id"])
            except BackendError as exc:
                if exc.status != 409:  # 409: a container (just created) is still attached
                    raise
                busy = True
        return busy

    async def settle(self, runner: UnitRunner, wl: Workload, replicas: Sequence[int]) -> None:
        """Wait ``settle_time``, then fail (:class:`StepFailed`) if a long-lived service
        of ``replicas`` is no longer running (with its last log lines)."""
        await asyncio.sleep(_seconds(self.config.settle_time))
        checks = []
        for r in replicas:
            for svc in wl.services:
                if svc.role is not ServiceRole.INIT:
                    ref = self.tr.container_name(wl, r, svc.name)
                    checks.append(
                        runner.check_running(ref, f"start service {svc.name} (replica {r})")
                    )
        await asyncio.gather(*checks)

    async def create_network(self, wl: Workload, created: str) -> None:
        """Create the instance network with a subnet of its own, pinned at creation.

        The engine picks a free subnet for a first, throwaway network; the real one is
        created with that subnet given explicitly, because only then can a container
        leave and rejoin the network under the same address (how a unit withdraws its
        service names without dropping requests, see ``Rollout.withdraw``). If another
        network takes the subnet in between, this tries again.
        """
        body = self.tr.network_config(wl, created)
        for attempt in range(3):
            ref = await self.engine.create_network(body)
            info = await self.engine.inspect_network(ref) or {}
            configs = (info.get("IPAM") or {}).get("Config") or []
            pools = [
                {k: c[k] for k in ("Subnet", "Gateway") if c.get(k)}
                for c in configs
                if c.get("Subnet")
            ]
            if not pools:  # a driver that assigns no subnet: keep it, addresses float
                return
            await self.engine.remove_network(ref)
            pinned = {
                **body,
                "IPAM": {"Driver": "default", "Config": pools},
                "Labels": {**body["Labels"], self.tr.labels.addressing: "fixed"},
            }
            try:
                await self.engine.create_network(pinned)
                return
            except BackendError as exc:
                if attempt == 2 or "overlap" not in str(exc).lower():
                    raise

    async def ensure_volumes(self, wl: Workload, replicas: Sequence[int]) -> None:
        """Create the named volumes ``replicas`` need that do not exist yet."""
        have = {
            v["Name"]
            for v in await self.engine.list_volumes(self.tr.labels.instance_filter(wl.instance_id))
        }
        for r in replicas:
            for body in self.tr.volume_configs(wl, r):
                if body["Name"] not in have:
                    await self.engine.create_volume(body)
                    have.add(body["Name"])

    async def pull_images(
        self,
        services: Sequence[ServiceSpec],
        materials: Mapping[str, ServiceMaterials],
    ) -> None:
        """Make the images of ``services`` available per the pull policy; a missing or
        unpullable image fails the step naming it (:class:`StepFailed`)."""
        policy = self.config.pull_policy
        seen: set[str] = set()
        for svc in services:
            if svc.image in seen:
                continue
            seen.add(svc.image)
            step = f"pull image {svc.image}"
            try:
                present = await self.engine.image_exists(svc.image)
                if policy is PullPolicy.NEVER and not present:
                    raise StepFailed(
                        step, f"image {svc.image!r} is not on the engine and pull policy is never"
                    )
                if policy is PullPolicy.ALWAYS or not present:
                    mats = materials.get(svc.name)
                    await self.engine.pull(svc.image, mats.pull_auth if mats else None)
            except StepFailed:
                raise
            except BackendUnavailable:
                raise
            except CtrlplaneError as exc:
                reason = str(exc)
                if svc.image not in reason:
                    reason = f"image {svc.image!r} could not be pulled: {reason}"
                raise StepFailed(step, reason) from exc

    async def record(
        self, wl: Workload, release: str, strategy: str, rollback_of: str = ""
    ) -> None:
        """Record ``release`` and prune the history to the configured depth."""
        await self.engine.create_volume(
            record_body(self.tr, wl, release_id=release, strategy=strategy, rollback_of=rollback_of)
        )
        volumes = await self.engine.list_volumes(record_filter(self.tr, wl.instance_id))
        names = record_names(self.tr, volumes)
        for old in parse_records(self.tr, volumes)[self.config.release_history :]:
            if old.release_id in names:
                await self.engine.remove_volume(names[old.release_id])
