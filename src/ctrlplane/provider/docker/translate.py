"""Spec -> Docker engine objects, and engine objects -> spec (pure functions, no I/O).

The model: one instance is one user-defined bridge network plus, per replica unit, one
container per service. The services of a unit share one network namespace, owned by the
unit's first long-lived service to start (the main service unless it depends on a
sidecar); the other long-lived services join it (``NetworkMode: container:<owner>``), so
they reach each other on ``localhost`` as in a pod. Inits run before that namespace
exists, so each init runs in its own namespace on the instance network.

The owner publishes every port of the unit on the configured host address and carries
the network aliases of every service of the unit (``<service>`` and
``<service>-<replica>``), plus ``/etc/hosts`` entries mapping each service name to
``127.0.0.1``: inside a unit a service name resolves to its own replica, and from
elsewhere on the instance network to any replica.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.provider.docker.config import DockerConfig, RestartPolicy
from ctrlplane.provider.docker.naming import Labels, Names
from ctrlplane.provider.enums import ServiceRole, VolumeType, WorkloadKind
from ctrlplane.provider.results import Endpoint
from ctrlplane.provider.spec import (
    ConfigFile,
    ProvisionRequest,
    ResourceSpec,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.provider.validation import startup_order

__all__ = [
    "Translator",
    "Workload",
    "docker_problems",
    "long_lived_waves",
    "netns_owner",
    "redacted_spec",
]

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Workload:
    """An instance's desired shape, from a request or read back from container labels.

    ``services`` keeps request order. Config file contents are empty when read back
    (they live only inside the containers). ``replicas`` is the number of replica units.
    """

    instance_id: str
    tenant_id: str
    name: str
    kind: WorkloadKind
    labels: Mapping[str, str]
    services: tuple[ServiceSpec, ...]
    replicas: int
    release_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_request(cls, req: ProvisionRequest, release_id: str) -> Workload:
        """The workload a (valid) provision request describes."""
        replicas = max(req.main.resources.replicas, 1)
        return cls(
            instance_id=req.instance_id,
            tenant_id=req.tenant_id,
            name=req.name,
            kind=req.kind,
            labels=dict(req.labels),
            services=tuple(req.services),
            replicas=replicas,
            release_id=release_id,
        )

    @property
    def main(self) -> ServiceSpec:
        return next(s for s in self.services if s.role is ServiceRole.MAIN)

    def service(self, name: str) -> ServiceSpec:
        """The service called ``name``; ``KeyError`` if there is none."""
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def with_services(self, services: Sequence[ServiceSpec], release_id: str) -> Workload:
        """A copy with ``services`` replaced and a new release."""
        return Workload(
            self.instance_id,
            self.tenant_id,
            self.name,
            self.kind,
            self.labels,
            tuple(services),
            self.replicas,
            release_id,
        )


def docker_problems(services: Sequence[ServiceSpec], replicas: int) -> list[Problem]:
    """What a valid request asks that the Docker backend cannot do (each with its path)."""
    problems: list[Problem] = []
    for i, svc in enumerate(services):
        if svc.resources.disk_mb:
            problems.append(
                Problem(
                    f"services[{i}].resources.disk_mb",
                    "the Docker backend cannot limit container disk size; leave it 0",
                )
            )
        if svc.resources.gpu:
            problems.append(
                Problem(f"services[{i}].resources.gpu", "the Docker backend has no GPU support")
            )
        for j, port in enumerate(svc.ports):
            if port.host and replicas > 1:
                problems.append(
                    Problem(
                        f"services[{i}].ports[{j}].host",
                        f"fixed host port {port.host} cannot serve {replicas} replicas; "
                        "use host 0 (the engine picks a free port per replica)",
                    )
                )
        if svc.role is not ServiceRole.MAIN and svc.resources.replicas not in (0, 1):
            problems.append(
                Problem(
                    f"services[{i}].resources.replicas",
                    "replicas are set on the main service (one unit holds every service)",
                )
            )
    return problems


def check_docker(services: Sequence[ServiceSpec], replicas: int) -> None:
    """Raise :class:`InvalidSpec` for :func:`docker_problems`."""
    problems = docker_problems(services, replicas)
    if problems:
        raise InvalidSpec(problems, subject="provision request for Docker")


def long_lived_waves(services: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Start-up waves of the mains and sidecars (inits excluded), in dependency order."""
    waves = startup_order(services)
    out = [[s for s in wave if s.role is not ServiceRole.INIT] for wave in waves]
    return [w for w in out if w]


def init_waves(services: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Waves of the init services, in dependency order."""
    waves = startup_order(services)
    out = [[s for s in wave if s.role is ServiceRole.INIT] for wave in waves]
    return [w for w in out if w]


def netns_owner(services: Sequence[ServiceSpec]) -> ServiceSpec:
    """The long-lived service whose container owns the unit's network namespace.

    The main service if it is in the first start-up wave, else the first service of
    that wave (a main that depends on a sidecar joins the sidecar's namespace).
    """
    first = long_lived_waves(services)[0]
    for svc in first:
        if svc.role is ServiceRole.MAIN:
            return svc
    return first[0]


def config_digest(files: Sequence[ConfigFile]) -> str:
    """A digest of config file contents (what the spec label keeps instead of them)."""
    h = hashlib.sha256()
    for cf in files:
        h.update(f"{cf.name}\0{cf.path}\0{cf.format}\0".encode())
        h.update(cf.content.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def redacted_spec(svc: ServiceSpec) -> str:
    """The service spec as stored in the spec label: config contents replaced by a digest.

    Secret references (keys and types) are kept; secret values are never part of a spec.
    """
    data = svc.model_dump(mode="json")
    for cf in data.get("config_files", []):
        cf["content"] = ""
    data["config_digest"] = config_digest(svc.config_files) if svc.config_files else ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def spec_from_label(text: str, host_config: Mapping[str, Any] | None = None) -> ServiceSpec:
    """A service spec from its label; CPU and memory limits come from ``host_config``
    (the live values, which ``scale`` changes in place)."""
    data = json.loads(text)
    data.pop("config_digest", None)
    svc = ServiceSpec.model_validate(data)
    if host_config is not None:
        cpu = int(host_config.get("NanoCpus") or 0) // 1_000_000
        mem = int(host_config.get("Memory") or 0) // (1024 * 1024)
        svc = svc.model_copy(
            update={
                "resources": svc.resources.model_copy(update={"cpu_millis": cpu, "memory_mb": mem})
            }
        )
    return svc


def deployed(svc: ServiceSpec, change: ServiceDeploySpec, *, exact: bool = False) -> ServiceSpec:
    """``svc`` with the image, env and health check of a deploy applied.

    A deploy without a health check keeps the service's; ``exact`` (a rollback to a
    snapshot) applies the snapshot's, absent or not.
    """
    update: dict[str, Any] = {"image": change.image, "env": dict(change.env)}
    if change.health_check is not None or exact:
        update["health_check"] = change.health_check
    return svc.model_copy(update=update)


def scaled(svc: ServiceSpec, spec: ResourceSpec) -> ServiceSpec:
    """``svc`` with the non-zero CPU and memory of ``spec`` applied."""
    res = svc.resources
    update: dict[str, Any] = {}
    if spec.cpu_millis:
        update["cpu_millis"] = spec.cpu_millis
    if spec.memory_mb:
        update["memory_mb"] = spec.memory_mb
    return svc.model_copy(update={"resources": res.model_copy(update=update)})


def limits(res: ResourceSpec) -> JSON:
    """HostConfig limits for a resource spec (0 means no limit)."""
    out: JSON = {"NanoCpus": res.cpu_millis * 1_000_000}
    if res.memory_mb:
        out["Memory"] = res.memory_mb * 1024 * 1024
        out["MemorySwap"] = res.memory_mb * 1024 * 1024
    else:
        out["Memory"] = 0
    return out


def _port_key(container: int, protocol: str) -> str:
    return f"{container}/{protocol}"


@dataclass(frozen=True, slots=True)
class Translator:
    """Builds engine object configs from a :class:`Workload` under one configuration."""

    config: DockerConfig

    @property
    def labels(self) -> Labels:
        return Labels(self.config.label_prefix)

    @property
    def names(self) -> Names:
        return Names(self.config.name_prefix)

    # -- labels ---------------------------------------------------------------------

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
        advertise: bool = True,
    ) -> JSON:
        """Create body of the container of ``svc`` in replica unit ``replica``.

        ``secret_env`` (resolved ``env`` secrets) is added to the environment only; it
        never reaches labels. Secret and config files are delivered separately (see
        :mod:`ctrlplane.provider.docker.archive`). ``advertise`` false leaves the network
        aliases off the namespace owner (a blue-green unit before its traffic switch).
        """
        keys = self.labels
        owner = netns_owner(wl.services)
        is_init = svc.role is ServiceRole.INIT
        is_owner = not is_init and svc.name == owner.name
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
                keys.netns: "owner" if is_owner else ("own" if is_init else owner.name),
            }
        )
        env = dict(svc.env)
        env.update(secret_env or {})
        stop = max(int(self.config.stop_timeout / timedelta(seconds=1)), 0)
        host: JSON = {
            "Mounts": self._mounts(wl, svc, replica),
            "Init": False,
            **limits(svc.resources),
        }
        body: JSON = {
            "Image": svc.image,
            "Env": [f"{k}={v}" for k, v in sorted(env.items())],
            "Labels": labels,
            "StopTimeout": stop,
            "HostConfig": host,
        }
        if svc.command:
            body["Entrypoint"] = list(svc.command)
        if svc.args:
            body["Cmd"] = list(svc.args)
        if is_init:
            host["RestartPolicy"] = {"Name": "no"}
        else:
            host["RestartPolicy"] = self._restart_policy()
        network = self.names.network(wl.instance_id)
        if is_owner or is_init:
            host["NetworkMode"] = network
            unit = [s for s in wl.services if s.role is not ServiceRole.INIT]
            aliases = [svc.name, f"{svc.name}-{replica}"] if is_init else []
            if is_owner:
                aliases = self.owner_aliases(wl, replica) if advertise else []
                body["Hostname"] = f"{svc.name}-{replica}"
                host["ExtraHosts"] = [f"{s.name}:127.0.0.1" for s in unit]
                exposed, bindings = self._ports(unit)
                body["ExposedPorts"] = exposed
                host["PortBindings"] = bindings
            body["NetworkingConfig"] = {"EndpointsConfig": {network: {"Aliases": aliases}}}
        else:
            host["NetworkMode"] = f"container:{self.container_name(wl, replica, owner.name)}"
        return body

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

    def _ports(self, unit: Sequence[ServiceSpec]) -> tuple[JSON, JSON]:
        exposed: JSON = {}
        bindings: JSON = {}
        for svc in unit:
            for port in svc.ports:
                key = _port_key(port.container, str(port.protocol))
                exposed[key] = {}
                bindings[key] = [
                    {
                        "HostIp": self.config.publish_host,
                        "HostPort": str(port.host) if port.host else "",
                    }
                ]
        return exposed, bindings

    # -- reading back ---------------------------------------------------------------

    def workload_from_containers(self, inspects: Sequence[Mapping[str, Any]]) -> Workload:
        """The workload described by the labels of an instance's containers (non-empty).

        The lowest replica unit present is the template; the replica count is the number
        of distinct units; the release is the newest release label.
        """
        keys = self.labels
        first = inspects[0]["Config"]["Labels"]
        meta = json.loads(first.get(keys.workload, "{}"))
        replicas = {int(c["Config"]["Labels"].get(keys.replica, "0")) for c in inspects}
        template = min(replicas)
        by_index: dict[int, ServiceSpec] = {}
        for c in inspects:
            labels = c["Config"]["Labels"]
            if int(labels.get(keys.replica, "0")) != template:
                continue
            by_index[int(labels.get(keys.index, "0"))] = spec_from_label(
                labels[keys.spec], c.get("HostConfig")
            )
        services = tuple(by_index[i] for i in sorted(by_index))
        releases = [c["Config"]["Labels"].get(keys.release, "") for c in inspects]
        return Workload(
            instance_id=first[keys.instance],
            tenant_id=first.get(keys.tenant, ""),
            name=str(meta.get("name", "")),
            kind=WorkloadKind(meta.get("kind") or WorkloadKind.DEPLOYMENT),
            labels=dict(meta.get("labels") or {}),
            services=services,
            replicas=len(replicas),
            release_id=max(releases, default=""),
        )

    def unit_address(
        self, wl: Workload, inspects: Sequence[Mapping[str, Any]], replica: int
    ) -> str:
        """The IP of replica unit ``replica`` on the instance network ("" if unknown)."""
        keys = self.labels
        network = self.names.network(wl.instance_id)
        for info in inspects:
            labels = info["Config"]["Labels"]
            if labels.get(keys.netns) != "owner":
                continue
            if int(labels.get(keys.replica, "0")) != replica:
                continue
            nets = (info.get("NetworkSettings") or {}).get("Networks") or {}
            return str((nets.get(network) or {}).get("IPAddress") or "")
        return ""

    def endpoints(self, wl: Workload, inspects: Sequence[Mapping[str, Any]]) -> list[Endpoint]:
        """In-network endpoints (one per service port) and published ones (per replica).

        In-network: ``<protocol>://<service>:<port>`` on the instance network
        (``public`` false). Published: ``<protocol>://<publish_host>:<host port>``
        read from the owners' live port bindings (``public`` true).
        """
        out: list[Endpoint] = []
        owners = sorted(
            (c for c in inspects if c["Config"]["Labels"].get(self.labels.netns) == "owner"),
            key=lambda c: int(c["Config"]["Labels"].get(self.labels.replica, "0")),
        )
        for svc in wl.services:
            for port in svc.ports:
                proto = str(port.protocol)
                out.append(
                    Endpoint(
                        service_name=svc.name,
                        url=f"{proto}://{svc.name}:{port.container}",
                        port=port.container,
                        protocol=proto,
                        public=False,
                    )
                )
                key = _port_key(port.container, proto)
                for owner in owners:
                    bound = ((owner.get("NetworkSettings") or {}).get("Ports") or {}).get(key)
                    for binding in bound or []:
                        host_port = int(binding.get("HostPort") or 0)
                        if not host_port:
                            continue
                        addr = binding.get("HostIp") or self.config.publish_host
                        if addr in ("0.0.0.0", "::"):
                            addr = self.config.publish_host
                        if ":" in addr:
                            addr = f"[{addr}]"
                        out.append(
                            Endpoint(
                                service_name=svc.name,
                                url=f"{proto}://{addr}:{host_port}",
                                port=host_port,
                                protocol=proto,
                                public=True,
                            )
                        )
        return out
