"""Pure translation of the Docker backend: no engine needed."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import InstanceState, ProvisionRequest, ResourceSpec, ServiceSpec
from ctrlplane.provider.docker import DockerConfig
from ctrlplane.provider.docker.limits import check_docker
from ctrlplane.provider.docker.observe.logframes import FrameDecoder, LineSplitter, split_timestamp
from ctrlplane.provider.docker.observe.state import aggregate_service, container_state, parse_time
from ctrlplane.provider.docker.observe.usage import cpu_percent, memory_used, sum_usage
from ctrlplane.provider.docker.observe.workload import (
    endpoints,
    spec_from_label,
    workload_from_containers,
)
from ctrlplane.provider.docker.render.bodies import Renderer
from ctrlplane.provider.docker.render.fronts import front_ports
from ctrlplane.provider.docker.render.materials import FileEntry, build_tar, read_tar_file
from ctrlplane.provider.docker.render.workload import (
    Workload,
    netns_owner,
    redacted_spec,
    scaled,
)
from ctrlplane.registry_logins import registry_host

IID = "inst_01h455vb4pex5vsknk084sn02q"
REL = "rel_01h455vb4pex5vsknk084sn02q"


def req(**extra: object) -> ProvisionRequest:
    data: dict[str, object] = {
        "instance_id": IID,
        "tenant_id": "acme",
        "name": "shop",
        "labels": {"team": "web", "io.ctrlplane.instance": "spoof"},
        "services": [
            {"name": "migrate", "image": "busybox", "role": "init", "command": ["true"]},
            {
                "name": "web",
                "image": "busybox",
                "ports": [{"container": 8080}, {"container": 53, "protocol": "udp", "host": 5353}],
                "resources": {"cpu_millis": 250, "memory_mb": 64, "replicas": 1},
                "volumes": [
                    {"name": "data", "mount_path": "/data"},
                    {"name": "tmp", "mount_path": "/scratch", "type": "tmpfs", "size_mb": 8},
                ],
                "env": {"A": "1"},
                "secrets": [{"key": "db", "type": "env"}, {"key": "cert", "type": "file"}],
                "config_files": [{"name": "c", "path": "/etc/c.txt", "content": "SECRETISH"}],
                "annotations": {"note": "x"},
                "command": ["httpd"],
                "args": ["-f"],
            },
            {"name": "agent", "image": "busybox", "role": "sidecar", "depends_on": ["web"]},
        ],
    }
    data.update(extra)
    return ProvisionRequest.model_validate(data)


def tr(**cfg: object) -> Renderer:
    return Renderer(DockerConfig.model_validate(cfg))


def test_holder_owns_the_units_namespace_and_carries_aliases() -> None:
    wl = Workload.from_request(req(), REL)
    t = tr(pod_image="registry.example.com/pause:3")
    assert t.holder_name(wl, 0) == f"cp-{IID}-0.pod"
    holder = t.holder_body(wl, 0)
    host = holder["HostConfig"]
    assert holder["Image"] == "registry.example.com/pause:3"
    assert host["NetworkMode"] == f"cp-{IID}"
    aliases = holder["NetworkingConfig"]["EndpointsConfig"][f"cp-{IID}"]["Aliases"]
    assert {"web", "web-0", "agent", "agent-0"} <= set(aliases)
    assert "migrate" not in aliases
    assert host["ExtraHosts"] == ["web:127.0.0.1", "agent:127.0.0.1"]
    assert holder["Hostname"] == "web-0"
    assert host["RestartPolicy"] == {"Name": "unless-stopped"}
    # units publish nothing: the instance's fronts hold the published ports
    assert "PortBindings" not in host
    assert set(holder["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    labels = holder["Labels"]
    assert labels["io.ctrlplane.pod"] == "holder"
    assert labels["io.ctrlplane.replica"] == "0"
    assert labels["io.ctrlplane.netns"] == "owner"
    assert "io.ctrlplane.spec" not in labels  # not a service container
    quiet = t.holder_body(wl, 1, advertise=False)
    assert quiet["NetworkingConfig"]["EndpointsConfig"][f"cp-{IID}"]["Aliases"] == []
    assert DockerConfig().pod_image == "ctrlplane-pod:1"  # built by scripts/build-images.sh


def test_main_config_joins_the_holder() -> None:
    wl = Workload.from_request(req(), REL)
    body = tr().container_config(wl, wl.service("web"), 0, secret_env={"DB": "pw"})
    host = body["HostConfig"]
    assert host["NetworkMode"] == f"container:cp-{IID}-0.pod"
    assert "NetworkingConfig" not in body
    assert "Hostname" not in body
    assert "PortBindings" not in host
    assert host["NanoCpus"] == 250_000_000
    assert host["Memory"] == 64 * 1024 * 1024
    assert body["Entrypoint"] == ["httpd"]
    assert body["Cmd"] == ["-f"]
    assert "DB=pw" in body["Env"]
    assert "A=1" in body["Env"]
    mounts = host["Mounts"]
    assert {"Type": "volume", "Source": f"cp-{IID}-data", "Target": "/data"} in mounts
    assert {"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 8 << 20}} in mounts
    labels = body["Labels"]
    assert labels["io.ctrlplane.instance"] == IID  # ours win over request labels
    assert labels["team"] == "web"
    assert labels["note"] == "x"
    assert labels["io.ctrlplane.netns"] == "pod"
    assert labels["io.ctrlplane.release"] == REL
    # no secret value and no config content in any label
    assert "pw" not in json.dumps(labels).replace('"pw"', "")
    assert "SECRETISH" not in json.dumps(labels)
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}


def test_front_bodies_hold_each_published_port() -> None:
    wl = Workload.from_request(req(), REL)
    t = tr(front_image="registry.example.com/front:7", publish_host="127.0.0.2")
    fronts = front_ports(wl)
    assert [f.key for f in fronts] == ["web:8080/tcp", "web:53/udp"]  # not the init's
    tcp = t.front_body(wl, fronts[0], 0)
    assert t.front_name(wl, fronts[0]) == f"cp-{IID}-front-web-8080"
    assert t.front_name(wl, fronts[1]) == f"cp-{IID}-front-web-53-udp"
    assert tcp["Image"] == "registry.example.com/front:7"
    assert tcp["Cmd"] == ["TCP-LISTEN:8080,fork,reuseaddr", "TCP:web:8080,connect-timeout=5"]
    host = tcp["HostConfig"]
    assert host["NetworkMode"] == f"cp-{IID}"
    assert host["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.2", "HostPort": ""}]}
    assert host["RestartPolicy"] == {"Name": "unless-stopped"}
    assert tcp["NetworkingConfig"]["EndpointsConfig"][f"cp-{IID}"]["Aliases"] == []
    assert tcp["Labels"]["io.ctrlplane.front"] == "web:8080/tcp"
    assert tcp["Labels"]["io.ctrlplane.instance"] == IID
    assert "io.ctrlplane.spec" not in tcp["Labels"]  # not a service container
    pinned = t.front_body(wl, fronts[0], 33055)
    assert pinned["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] == "33055"
    udp = t.front_body(wl, fronts[1], 5353)
    assert udp["Cmd"] == ["UDP-RECVFROM:53,fork,reuseaddr", "UDP-SENDTO:web:53"]
    assert udp["HostConfig"]["PortBindings"] == {
        "53/udp": [{"HostIp": "127.0.0.2", "HostPort": "5353"}]
    }
    kinds = [(o["Kind"], o.get("Name")) for o in t.instance_objects(wl)]
    assert kinds[:3] == [
        ("network", None),
        ("front", f"cp-{IID}-front-web-8080"),
        ("front", f"cp-{IID}-front-web-53-udp"),
    ]
    # each unit's holder comes before the containers that join it
    names = [name for _, name in kinds]
    assert names.index(f"cp-{IID}-0.pod") < names.index(f"cp-{IID}-0-web")


def test_joiner_and_init_configs() -> None:
    wl = Workload.from_request(req(), REL)
    agent = tr().container_config(wl, wl.service("agent"), 1)
    assert agent["HostConfig"]["NetworkMode"] == f"container:cp-{IID}-1.pod"
    assert "NetworkingConfig" not in agent
    assert "Hostname" not in agent
    assert agent["Labels"]["io.ctrlplane.netns"] == "pod"
    init = tr().container_config(wl, wl.service("migrate"), 0)
    assert init["HostConfig"]["NetworkMode"] == f"cp-{IID}"
    assert init["HostConfig"]["RestartPolicy"] == {"Name": "no"}
    assert "PortBindings" not in init["HostConfig"]


def test_netns_owner_is_first_started_service() -> None:
    r = req()
    assert netns_owner(r.services).name == "web"
    swapped = req(
        services=[
            {"name": "web", "image": "busybox", "depends_on": ["db"]},
            {"name": "db", "image": "busybox", "role": "sidecar"},
        ]
    )
    assert netns_owner(swapped.services).name == "db"


def test_stateful_volumes_are_per_replica() -> None:
    wl = Workload.from_request(req(kind="stateful_set"), REL)
    names = [v["Name"] for v in tr().volume_configs(wl, 2)]
    assert names == [f"cp-{IID}-2-data"]
    body = tr().container_config(wl, wl.service("web"), 2)
    assert body["HostConfig"]["Mounts"][0]["Source"] == f"cp-{IID}-2-data"


def test_spec_label_round_trip_reads_live_limits() -> None:
    svc = req().service("web")
    text = redacted_spec(svc)
    assert "SECRETISH" not in text
    back = spec_from_label(text, {"NanoCpus": 500_000_000, "Memory": 128 << 20})
    assert back.resources.cpu_millis == 500
    assert back.resources.memory_mb == 128
    assert back.config_files[0].content == ""
    assert back.secrets == svc.secrets
    assert scaled(svc, ResourceSpec(memory_mb=32)).resources.cpu_millis == 250


def test_workload_read_back_from_labels() -> None:
    t = tr()
    wl = Workload.from_request(req(), REL)
    inspects = []
    for r in (0, 1):
        for svc in wl.services:
            body = t.container_config(wl, svc, r)
            inspects.append(
                {
                    "Id": f"id-{r}-{svc.name}",
                    "Config": {"Labels": body["Labels"]},
                    "HostConfig": body["HostConfig"],
                    "NetworkSettings": {
                        "Ports": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(40000 + r)}]}
                    },
                }
            )
    fronts = []
    for front in front_ports(wl):  # 8080: engine-chosen, then pinned; 53/udp: 5353 asked
        body = t.front_body(wl, front, front.port.host or 33055)
        fronts.append(
            {
                "Config": {"Labels": body["Labels"]},
                "HostConfig": body["HostConfig"],
                "NetworkSettings": {"Ports": {}},
            }
        )
    back = workload_from_containers(t.labels, inspects)
    assert back.replicas == 2
    assert back.release_id == REL
    assert [s.name for s in back.services] == ["migrate", "web", "agent"]
    assert back.name == "shop"
    assert back.tenant_id == "acme"
    assert dict(back.labels)["team"] == "web"
    eps = endpoints(t.config, back, fronts)
    urls = [(e.url, e.public) for e in eps]
    # one published endpoint per port, the front's, whatever the units bound
    assert urls == [
        ("tcp://web:8080", False),
        ("tcp://127.0.0.1:33055", True),
        ("udp://web:53", False),
        ("udp://127.0.0.1:5353", True),
    ]
    assert endpoints(t.config, back, []) == [e for e in eps if not e.public]


def test_docker_specific_refusals() -> None:
    r = req()
    check_docker(r.services, 2)  # host port 5353 with 2 replicas: the front serves both
    disk = req(services=[{"name": "a", "image": "x", "resources": {"disk_mb": 5}}])
    with pytest.raises(InvalidSpec):
        check_docker(disk.services, 1)


def _inspect(status: str, code: int = 0, role: str = "main", **state: object) -> dict[str, object]:
    return {
        "Id": "abc",
        "RestartCount": 1,
        "Config": {
            "Labels": {
                "io.ctrlplane.role": role,
                "io.ctrlplane.service": "s",
                "io.ctrlplane.replica": "0",
            }
        },
        "State": {
            "Status": status,
            "ExitCode": code,
            "StartedAt": "2024-05-01T10:00:00.123456789Z",
            **state,
        },
    }


@pytest.mark.parametrize(
    ("status", "code", "role", "expected", "message"),
    [
        ("running", 0, "main", InstanceState.RUNNING, ""),
        ("exited", 0, "init", InstanceState.STOPPED, "completed"),
        ("exited", 3, "main", InstanceState.FAILED, "exited with code 3"),
        ("exited", 143, "main", InstanceState.STOPPED, "stopped (exit code 143)"),
        ("exited", 137, "init", InstanceState.FAILED, "exited with code 137"),
        ("restarting", 1, "main", InstanceState.STARTING, "restarting after exit code 1"),
        ("created", 0, "main", InstanceState.PROVISIONING, "created, not started"),
        ("dead", 0, "main", InstanceState.FAILED, "container is dead"),
    ],
)
def test_container_state_mapping(
    status: str, code: int, role: str, expected: InstanceState, message: str
) -> None:
    cs = container_state(_inspect(status, code, role), "io.ctrlplane")
    assert cs.state is expected
    assert cs.message == message
    assert cs.restarts == 1


def test_oom_and_aggregation() -> None:
    oom = container_state(_inspect("exited", 137, OOMKilled=True), "io.ctrlplane")
    assert oom.state is InstanceState.FAILED
    assert "OOM" in oom.message
    ok = container_state(_inspect("running"), "io.ctrlplane")
    assert ok.started_at == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    agg = aggregate_service([ok, oom])
    assert agg.state is InstanceState.FAILED
    assert agg.restarts == 2
    assert not agg.ready


def test_frames_lines_and_timestamps() -> None:
    def frame(kind: int, data: bytes) -> bytes:
        return struct.pack(">BxxxL", kind, len(data)) + data

    dec = FrameDecoder()
    raw = frame(1, b"2024-05-01T10:00:00.5Z hello\n") + frame(2, b"2024-05-01T10:00:01Z oops\n")
    chunks = dec.feed(raw[:5]) + dec.feed(raw[5:])
    assert [c[0] for c in chunks] == ["stdout", "stderr"]
    split = LineSplitter()
    lines = split.feed("stdout", b"a\nb") + split.feed("stdout", b"c\n")
    assert lines == ["a", "bc"]
    when, text = split_timestamp("2024-05-01T10:00:00.123456789Z hi there")
    assert text == "hi there"
    assert when.microsecond == 123456
    assert FrameDecoder(tty=True).feed(b"raw") == [("stdout", b"raw")]
    assert parse_time("0001-01-01T00:00:00Z") is None


def test_tar_entries_and_modes() -> None:
    entry = FileEntry("/run/secrets/db", b"pw", 0o400)
    assert "pw" not in repr(entry)
    data = build_tar([entry, FileEntry("/etc/app/c.json", b"{}", 0o444)])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["run/secrets/db"].mode == 0o400
        assert names["run"].isdir()
        assert names["etc/app"].isdir()
        assert read_tar_file(tar) == (b"pw", 0o400)


def test_usage_math() -> None:
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 300},
            "system_cpu_usage": 2000,
            "online_cpus": 2,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 10 << 20, "limit": 1 << 30, "stats": {"cache": 2 << 20}},
        "networks": {"eth0": {"rx_bytes": 1 << 20, "tx_bytes": 2 << 20}},
    }
    assert cpu_percent(stats) == pytest.approx(40.0)
    assert memory_used(stats) == 8 << 20
    total = sum_usage([(stats, 64 << 20, True), (stats, 0, False)])
    assert total.cpu_percent == pytest.approx(80.0)
    assert total.memory_used_mb == 16
    assert total.memory_limit_mb == 64 + 1024
    assert total.network_in_mb == 1.0
    assert total.network_out_mb == 2.0


def test_config_from_env() -> None:
    cfg = DockerConfig.from_env(
        {
            "CTRLPLANE_DOCKER_STOP_TIMEOUT": "1m30s",
            "CTRLPLANE_DOCKER_PULL_POLICY": "never",
            "CTRLPLANE_DOCKER_PUBLISH_HOST": "::1",
            "CTRLPLANE_DOCKER_FRONT_IMAGE": "registry.example.com/ops/socat:1.8",
            "CTRLPLANE_DOCKER_REGISTRY_AUTH": json.dumps(
                {"r.example:5000": {"username": "u", "password": "p"}}
            ),
        },
        init_timeout=3,
    )
    assert cfg.stop_timeout == timedelta(seconds=90)
    assert cfg.init_timeout == timedelta(seconds=3)
    assert cfg.pull_policy == "never"
    assert cfg.publish_host == "::1"
    assert cfg.front_image == "registry.example.com/ops/socat:1.8"
    assert DockerConfig().front_image == "ctrlplane-front:1"  # built by scripts/build-images.sh
    assert "p" not in repr(cfg.registry_auth["r.example:5000"].password)
    with pytest.raises(InvalidSpec) as exc:
        DockerConfig.from_env({"CTRLPLANE_DOCKER_PULL_POLICY": "sometimes"})
    assert "pull_policy" in str(exc.value)
    assert registry_host("r.example:5000/a/b:1") == "r.example:5000"
    assert registry_host("library/busybox") == "docker.io"


def test_missing_extra_names_pip_command() -> None:
    code = (
        "import sys; sys.modules['aiodocker'] = None\n"
        "try:\n    import ctrlplane.provider.docker\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.startswith("MissingExtra")
    assert "pip install 'ctrlplane[docker]'" in out


def test_core_import_does_not_import_aiodocker() -> None:
    code = "import sys, ctrlplane.provider; print('aiodocker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "False"


async def test_engine_down_is_backend_unavailable(tmp_path: Path) -> None:
    from ctrlplane.errors import BackendUnavailable
    from ctrlplane.provider.docker import DockerProvider

    provider = DockerProvider(DockerConfig(docker_host=f"unix://{tmp_path}/no-engine.sock"))
    with pytest.raises(BackendUnavailable) as exc:
        await provider.status(IID)
    assert "unreachable" in str(exc.value)
    with pytest.raises(BackendUnavailable):
        await provider.deprovision(IID)
    health = await provider.health_check()
    assert not health.healthy
    assert "unreachable" in health.message


async def test_materials_resolve_secrets_and_registry_auth() -> None:
    from ctrlplane.provider.docker.materials import resolve_materials
    from ctrlplane.provider.docker.render.materials import redact
    from ctrlplane.secrets import MappingResolver

    data = req().service("web").model_dump(mode="json")
    data["image"] = "r.example:5000/app:1"
    data["secrets"].append({"key": "pull", "type": "registry"})
    svc = ServiceSpec.model_validate(data)
    resolver = MappingResolver(
        {"db": "pw-1", "cert": "CERT", "pull": '{"username": "u", "password": "p"}'}
    )
    mats = await resolve_materials(
        svc, resolver, tenant_id="acme", instance_id=IID, config=DockerConfig()
    )
    assert mats.env == {"DB": "pw-1"}
    assert [(f.path, f.mode) for f in mats.files] == [
        ("/run/secrets/cert", 0o400),
        ("/etc/c.txt", 0o444),
    ]
    assert mats.pull_auth == {"username": "u", "password": "p", "serveraddress": "r.example:5000"}
    assert "pw-1" not in repr(mats)
    assert "CERT" not in repr(mats)
    assert redact("token pw-1 and CERT", {"web": mats}) == "token <redacted> and <redacted>"
    configured = DockerConfig.model_validate(
        {"registry_auth": {"r.example:5000": {"username": "cu", "password": "cp"}}}
    )
    plain = svc.model_copy(update={"secrets": []})
    mats = await resolve_materials(
        plain, None, tenant_id="acme", instance_id=IID, config=configured
    )
    assert mats.pull_auth == {"username": "cu", "password": "cp", "serveraddress": "r.example:5000"}


def test_registry_discovers_the_docker_provider() -> None:
    from ctrlplane.provider import Capability, Registry, has_capability
    from ctrlplane.provider.docker import DockerProvider

    registry = Registry(discover=True)
    assert "docker" in registry.list()
    provider = registry.get("docker")
    assert isinstance(provider, DockerProvider)
    assert provider.info().name == "docker"
    declared = ("provision", "deploy", "strategy:rolling", "strategy:canary", "scale", "logs")
    for cap in (*declared, "strategy:blue-green", "exec", "volumes"):
        assert has_capability(provider, cap)
    for cap in (Capability.GPU, Capability.TLS, Capability.AUTOSCALE, Capability.CUSTOM_DOMAINS):
        assert not has_capability(provider, cap)
