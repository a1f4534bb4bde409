"""The engine bodies of an instance (pure, no I/O): what ``provision`` sends and
``render()`` shows.

Each replica unit's network namespace is held by a small holder container
(``<n>-<instance>-<replica>.pod``) that every long-lived service of the unit joins, so a
service the engine restarts rejoins the same namespace. The holder carries the network
aliases of every service of the unit (``<service>`` and ``<service>-<replica>``), plus
``/etc/hosts`` entries mapping each service name to ``127.0.0.1``: inside a unit a
service name resolves to its own replica, and from elsewhere on the instance network to
any replica. Units publish no port: each published port is held by the instance's front
for it (:mod:`.fronts`), which forwards to the units. Every body carries the labels of
:mod:`.naming`, so the instance can be read back from the engine alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.docker.config import DockerConfig, RestartPolicy
from ctrlplane.provider.docker.render.fronts import FrontPort, forward_args, front_ports
from ctrlplane.provider.docker.render.naming import LEASE_IMAGE, Labels, Names
from ctrlplane.provider.docker.render.workload import Workload, netns_owner, redacted_spec
from ctrlplane.provider.enums import ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.leases import Lease
from ctrlplane.provider.native import JSON
from ctrlplane.provider.releases import Release
from ctrlplane.provider.spec import ResourceSpec, ServiceSpec

__all__ = ["RENDER_CREATED", "RENDER_RELEASE", "Renderer", "port_key", "resource_limits"]

RENDER_RELEASE = "rel_" + "0" * 26
"""The placeholder release ID of rendered bodies (a real one is minted at provision)."""

RENDER_CREATED = "1970-01-01T00:00:00+00:00"
"""The placeholder creation time of a rendered network."""


def resource_limits(res: ResourceSpec) -> JSON:
    """HostConfig limits for a resource spec (0 means no limit)."""
    out: JSON = {"NanoCpus": res.cpu_millis * 1_000_000}
    if res.memory_mb:
        out["Memory"] = res.memory_mb * 1024 * 1024
        out["MemorySwap"] = res.memory_mb * 1024 * 1024
    else:
        out["Memory"] = 0
    return out


def port_key(container: int, protocol: str) -> str:
    """The engine's key of a container port (``8080/tcp``)."""
    return f"{container}/{protocol}"


@dataclass(frozen=True, slots=True)
class Renderer:
    """Builds the engine bodies of a :class:`Workload` under one configuration."""

    config: DockerConfig

    @property
    def labels(self) -> Labels:
        return Labels(self.config.label_prefix)

    @property
    def names(self) -> Names:
        return Names(self.config.name_prefix)

    # -- instance-wide objects ------------------------------------------------------

    def common_labels(self, wl: Workload) -> dict[str, str]:
        """Labels every object of the instance carries (request labels first; ours win)."""
        keys = self.labels
        out = dict(wl.labels)
        out.update(
            {
                keys.managed: "true",
                keys.instance: wl.instance_id,
                keys.tenant: wl.tenant_id,
                keys.workload: json.dumps(
                    {"name": wl.name, "kind": str(wl.kind), "labels": dict(wl.labels)},
                    sort_keys=True,
                ),
            }
        )
        return out

    def network_config(self, wl: Workload, created: str) -> JSON:
        """Create body of the instance network."""
        labels = self.common_labels(wl)
        labels[self.labels.created] = created
        return {
            "Name": self.names.network(wl.instance_id),
            "Driver": "bridge",
            "CheckDuplicate": True,
            "Attachable": False,
            "Labels": labels,
        }

    def pinned_network_config(self, body: JSON, pools: Sequence[JSON]) -> JSON:
        """``body`` (of :meth:`network_config`) with its address pools given explicitly
        and marked so: only then can a container leave and rejoin the network under the
        same address."""
        return {
            **body,
            "IPAM": {"Driver": "default", "Config": list(pools)},
            "Labels": {**body["Labels"], self.labels.addressing: "fixed"},
        }

    def volume_configs(self, wl: Workload, replica: int) -> list[JSON]:
        """Create bodies of the named volumes replica ``replica`` needs (deduplicated)."""
        out: dict[str, JSON] = {}
        for svc in wl.services:
            for vol in svc.volumes:
                if vol.type is not VolumeType.PERSISTENT:
                    continue
                name = self.names.volume(wl.instance_id, vol.name, replica, wl.kind)
                labels = self.common_labels(wl)
                if wl.kind is WorkloadKind.STATEFUL_SET:
                    labels[self.labels.replica] = str(replica)
                out[name] = {"Name": name, "Driver": "local", "Labels": labels}
        return list(out.values())

    def record_body(self, wl: Workload, release: Release) -> JSON:
        """Create body of the (empty) volume that records ``release`` of ``wl``: engine
        labels cannot change, so each release is its own object."""
        labels = self.common_labels(wl)
        labels[self.labels.release] = release.release_id
        labels[self.labels.release_record] = release.model_dump_json()
        return {
            "Name": self.names.release_record(wl.instance_id, release.release_id),
            "Driver": "local",
            "Labels": labels,
        }

    def lease_body(self, instance_id: str, lease: Lease) -> JSON:
        """Create body of the container that holds the instance's operation lease: made
        from the empty :data:`~.naming.LEASE_IMAGE`, never started, no network; the
        lease as created in its label (renewals rewrite a file inside it). It carries
        the instance label (so nothing of an instance is ever left unseen) but no spec
        label: it is not one of the instance's service containers."""
        keys = self.labels
        return {
            "Image": LEASE_IMAGE,
            "Cmd": ["lease"],
            "NetworkDisabled": True,
            "Labels": {
                keys.managed: "true",
                keys.instance: instance_id,
                keys.lease: lease.to_json(),
            },
            "HostConfig": {"NetworkMode": "none"},
        }

    # -- containers -----------------------------------------------------------------

    def container_name(self, wl: Workload, replica: int, service: str) -> str:
        return self.names.container(wl.instance_id, replica, service)

    def container_config(
        self,
        wl: Workload,
        svc: ServiceSpec,
        replica: int,
        *,
        secret_env: Mapping[str, str] | None = None,
    ) -> JSON:
        """Create body of the container of ``svc`` in replica unit ``replica``.

        ``secret_env`` (resolved ``env`` secrets) is added to the environment only; it
        never reaches labels. Secret and config files are delivered separately (see
        :mod:`.materials`). A long-lived service joins its unit's holder
        (:meth:`holder_body`); an init has its own namespace on the instance network.
        """
        keys = self.labels
        is_init = svc.role is ServiceRole.INIT
        labels = dict(svc.annotations)
        labels.update(self.common_labels(wl))
        labels.update(
            {
                keys.service: svc.name,
                keys.role: str(svc.role),
                keys.index: str(wl.services.index(svc)),
                keys.replica: str(replica),
                keys.release: wl.release_id,
                keys.spec: redacted_spec(svc),
                keys.netns: "own" if is_init else "pod",
            }
        )
        env = dict(svc.env)
        env.update(secret_env or {})
        host: JSON = {
            "Mounts": self._mounts(wl, svc, replica),
            "Init": False,
            **resource_limits(svc.resources),
        }
        body: JSON = {
            "Image": svc.image,
            "Env": [f"{k}={v}" for k, v in sorted(env.items())],
            "Labels": labels,
            "StopTimeout": self.stop_seconds,
            "HostConfig": host,
        }
        if svc.command:
            body["Entrypoint"] = list(svc.command)
        if svc.args:
            body["Cmd"] = list(svc.args)
        host["RestartPolicy"] = {"Name": "no"} if is_init else self._restart_policy()
        network = self.names.network(wl.instance_id)
        if is_init:
            host["NetworkMode"] = network
            aliases = [svc.name, f"{svc.name}-{replica}"]
            body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": aliases}}}
        else:
            host["NetworkMode"] = f"container:{self.holder_name(wl, replica)}"
        return body

    def holder_name(self, wl: Workload, replica: int) -> str:
        return self.names.holder(wl.instance_id, replica)

    def holder_body(self, wl: Workload, replica: int, *, advertise: bool = True) -> JSON:
        """Create body of the holder of unit ``replica``'s network namespace: the
        :attr:`~ctrlplane.provider.docker.config.DockerConfig.pod_image` running its own
        command, on the instance network with the unit's service names
        (:meth:`owner_aliases`; none when ``advertise`` is false: a unit's new version
        before its traffic switch), the hostname ``<owner service>-<replica>``, and
        ``/etc/hosts`` entries mapping each service name to ``127.0.0.1``; restarted by
        the engine unless stopped. Every long-lived service of the unit joins it. No
        spec label: it is not one of the instance's service containers."""
        keys = self.labels
        network = self.names.network(wl.instance_id)
        unit = [s for s in wl.services if s.role is not ServiceRole.INIT]
        labels = self.common_labels(wl)
        labels.update(
            {
                keys.pod: "holder",
                keys.replica: str(replica),
                keys.release: wl.release_id,
                keys.netns: "owner",
            }
        )
        aliases = self.owner_aliases(wl, replica) if advertise else []
        return {
            "Image": self.config.pod_image,
            "Labels": labels,
            "Hostname": f"{netns_owner(wl.services).name}-{replica}",
            "ExposedPorts": {
                port_key(p.container, str(p.protocol)): {} for s in unit for p in s.ports
            },
            "StopTimeout": self.stop_seconds,
            "HostConfig": {
                "NetworkMode": network,
                "ExtraHosts": [f"{s.name}:127.0.0.1" for s in unit],
                "RestartPolicy": {"Name": "unless-stopped"},
                "Init": False,
            },
            "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": aliases}}},
        }

    @property
    def stop_seconds(self) -> int:
        """The stop grace period in whole seconds (the engine's unit)."""
        return max(int(seconds(self.config.stop_timeout)), 0)

    def owner_aliases(self, wl: Workload, replica: int) -> list[str]:
        """The network aliases a unit's namespace owner answers to: ``<service>`` and
        ``<service>-<replica>`` of every long-lived service of the unit."""
        aliases: list[str] = []
        for svc in wl.services:
            if svc.role is not ServiceRole.INIT:
                aliases += [svc.name, f"{svc.name}-{replica}"]
        return aliases

    def _restart_policy(self) -> JSON:
        policy = self.config.restart_policy
        out: JSON = {"Name": str(policy)}
        if policy is RestartPolicy.ON_FAILURE:
            out["MaximumRetryCount"] = self.config.restart_max_retries
        return out

    def _mounts(self, wl: Workload, svc: ServiceSpec, replica: int) -> list[JSON]:
        mounts: list[JSON] = []
        for vol in svc.volumes:
            if vol.type is VolumeType.TMPFS:
                tmpfs: JSON = {"Type": "tmpfs", "Target": vol.mount_path}
                if vol.size_mb:
                    tmpfs["TmpfsOptions"] = {"SizeBytes": vol.size_mb * 1024 * 1024}
                mounts.append(tmpfs)
            else:
                mounts.append(
                    {
                        "Type": "volume",
                        "Source": self.names.volume(wl.instance_id, vol.name, replica, wl.kind),
                        "Target": vol.mount_path,
                    }
                )
        return mounts

    # -- fronts ----------------------------------------------------------------------

    def front_name(self, wl: Workload, front: FrontPort) -> str:
        return self.names.front(wl.instance_id, front.service, front.port.container, front.protocol)

    def front_body(self, wl: Workload, front: FrontPort, host_port: int) -> JSON:
        """Create body of the front holding ``front`` on ``publish_host``:``host_port``
        (0: the engine chooses one), on the instance network without aliases, restarted
        by the engine unless stopped (see :mod:`.fronts`). No spec label: it is not one
        of the instance's service containers."""
        key = port_key(front.port.container, front.protocol)
        network = self.names.network(wl.instance_id)
        labels = self.common_labels(wl)
        labels[self.labels.front] = front.key
        return {
            "Image": self.config.front_image,
            "Cmd": forward_args(front),
            "Labels": labels,
            "ExposedPorts": {key: {}},
            "StopTimeout": self.stop_seconds,
            "HostConfig": {
                "NetworkMode": network,
                "PortBindings": {
                    key: [
                        {
                            "HostIp": self.config.publish_host,
                            "HostPort": str(host_port) if host_port else "",
                        }
                    ]
                },
                "RestartPolicy": {"Name": "unless-stopped"},
                "Init": False,
            },
            "NetworkingConfig": {"EndpointsConfig": {network: {"Aliases": []}}},
        }

    # -- the whole instance -----------------------------------------------------------

    def instance_objects(self, wl: Workload) -> list[JSON]:
        """The network, fronts, named volumes and container create bodies of ``wl``, in
        creation order, each as ``{"Kind", ("Name"), "Body"}`` (secrets not resolved: secret
        env variables and files are absent)."""
        out: list[JSON] = [{"Kind": "network", "Body": self.network_config(wl, RENDER_CREATED)}]
        for front in front_ports(wl):
            out.append(
                {
                    "Kind": "front",
                    "Name": self.front_name(wl, front),
                    "Body": self.front_body(wl, front, front.port.host),
                }
            )
        volumes = {v["Name"]: v for r in range(wl.replicas) for v in self.volume_configs(wl, r)}
        out += [{"Kind": "volume", "Body": v} for v in volumes.values()]
        for replica in range(wl.replicas):
            out.append(
                {
                    "Kind": "holder",
                    "Name": self.holder_name(wl, replica),
                    "Body": self.holder_body(wl, replica),
                }
            )
            for svc in wl.services:
                out.append(
                    {
                        "Kind": "container",
                        "Name": self.container_name(wl, replica, svc.name),
                        "Body": self.container_config(wl, svc, replica),
                    }
                )
        return out
