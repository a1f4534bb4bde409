"""The JSON wire format against the Go package, with fixtures as Go's encoding/json emits them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import (
    Capability,
    ConfigFile,
    ConfigFormat,
    DeployRequest,
    DeployResult,
    DeployStrategy,
    Endpoint,
    ExecRequest,
    ExecResult,
    HealthCheckSpec,
    HealthStatus,
    InstanceState,
    InstanceStatus,
    Location,
    LogOptions,
    PortProtocol,
    PortSpec,
    ProviderInfo,
    ProvisionRequest,
    ProvisionResult,
    ResourceSpec,
    ResourceUsage,
    SecretRef,
    SecretType,
    ServiceDeploySpec,
    ServiceRole,
    ServiceSnapshot,
    ServiceSpec,
    ServiceStatus,
    VolumeSpec,
    VolumeType,
    WorkloadKind,
    validate_deploy,
    validate_request,
)
from ctrlplane.provider._wire import HUMAN_CONTEXT, WireModel

GoJson = Callable[[str], str]

FIXTURES: dict[str, type[WireModel]] = {
    "provision_request.json": ProvisionRequest,
    "deploy_request.json": DeployRequest,
    "provision_result.json": ProvisionResult,
    "deploy_result.json": DeployResult,
    "instance_status.json": InstanceStatus,
    "service_status.json": ServiceStatus,
    "endpoint.json": Endpoint,
    "resource_usage.json": ResourceUsage,
    "exec_result.json": ExecResult,
    "exec_request.json": ExecRequest,
    "health_status.json": HealthStatus,
    "log_options.json": LogOptions,
    "provider_info.json": ProviderInfo,
    "location.json": Location,
    "service_snapshot.json": ServiceSnapshot,
    "service_deploy_spec.json": ServiceDeploySpec,
    "health_check_spec.json": HealthCheckSpec,
    "secret_ref.json": SecretRef,
    "config_file.json": ConfigFile,
    "volume_spec.json": VolumeSpec,
    "port_spec.json": PortSpec,
    "resource_spec.json": ResourceSpec,
    "zero_provision_request.json": ProvisionRequest,
    "zero_deploy_request.json": DeployRequest,
    "zero_instance_status.json": InstanceStatus,
    "zero_provision_result.json": ProvisionResult,
    "zero_exec_result.json": ExecResult,
    "zero_log_options.json": LogOptions,
    "zero_provider_info.json": ProviderInfo,
}


def _same(go: dict[str, Any]) -> dict[str, Any]:
    return go


def _drop_main_role(go: dict[str, Any]) -> dict[str, Any]:
    # Go writes an explicit "main"; we omit the default role, which Go reads as "" = main.
    del go["services"][1]["role"]
    return go


def _since_six_digits(go: dict[str, Any]) -> dict[str, Any]:
    # Go trims trailing zeros of the fraction; we always write microseconds. Same instant.
    go["since"] = "2026-05-31T23:59:59.250000-07:00"
    return go


def _zero_request(go: dict[str, Any]) -> dict[str, Any]:
    # Empty enum strings are written back as the value they mean.
    go["kind"] = "deployment"
    svc = go["services"][0]
    svc["ports"][0]["protocol"] = "tcp"
    svc["volumes"][0]["type"] = "persistent"
    svc["secrets"][0]["type"] = "env"
    svc["config_files"][0]["format"] = "text"
    return go


def _zero_deploy(go: dict[str, Any]) -> dict[str, Any]:
    go["services"] = []
    go["strategy"] = "rolling"
    return go


def _null_endpoints(go: dict[str, Any]) -> dict[str, Any]:
    go["endpoints"] = []
    return go


def _null_output(go: dict[str, Any]) -> dict[str, Any]:
    go["stdout"] = go["stderr"] = ""
    return go


# How our dump of each fixture differs from Go's bytes (everything else is identical).
DUMP_DIFFERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "provision_request.json": _drop_main_role,
    "log_options.json": _since_six_digits,
    "zero_provision_request.json": _zero_request,
    "zero_deploy_request.json": _zero_deploy,
    "zero_instance_status.json": _null_endpoints,
    "zero_provision_result.json": _null_endpoints,
    "zero_exec_result.json": _null_output,
}

fixture_names = pytest.mark.parametrize("name", sorted(FIXTURES))


@fixture_names
def test_fixture_parses_from_text_and_from_python_data(name: str, go_json: GoJson) -> None:
    model = FIXTURES[name]
    text = go_json(name)
    from_text = model.model_validate_json(text)
    from_data = model.model_validate(json.loads(text))
    assert from_text == from_data


@fixture_names
def test_fixture_round_trips_through_our_json(name: str, go_json: GoJson) -> None:
    model = FIXTURES[name]
    parsed = model.model_validate_json(go_json(name))
    assert model.model_validate_json(parsed.to_json()) == parsed
    assert model.model_validate(parsed.model_dump(mode="json")) == parsed
    assert model.model_validate(json.loads(parsed.to_json())) == parsed
    assert parsed.to_wire() == parsed.model_dump(mode="json") == json.loads(parsed.to_json())


@fixture_names
def test_our_dump_is_what_go_wrote(name: str, go_json: GoJson) -> None:
    model = FIXTURES[name]
    go = json.loads(go_json(name))
    ours = json.loads(model.model_validate_json(go_json(name)).to_json())
    expected = DUMP_DIFFERS.get(name, _same)(json.loads(go_json(name)))
    assert ours == expected
    # Same keys in the same (Go struct) order at the top level.
    if name not in DUMP_DIFFERS:
        assert list(ours) == list(go)


def test_every_fixture_file_is_tested() -> None:
    folder = Path(__file__).resolve().parent.parent / "fixtures" / "go"
    assert sorted(p.name for p in folder.glob("*.json")) == sorted(FIXTURES)


# --- values read from the fixtures -------------------------------------------------------


def test_provision_request_fixture_values(go_json: GoJson) -> None:
    req = ProvisionRequest.model_validate_json(go_json("provision_request.json"))
    assert req.kind is WorkloadKind.STATEFUL_SET
    assert [s.role for s in req.services] == [
        ServiceRole.INIT,
        ServiceRole.MAIN,
        ServiceRole.SIDECAR,
    ]
    web = req.service("web")
    assert req.main is web
    assert web.health_check is not None
    assert web.health_check.interval == timedelta(seconds=10)
    assert web.health_check.timeout == timedelta(seconds=2.5)
    assert [p.protocol for p in web.ports] == [PortProtocol.TCP, PortProtocol.UDP]
    assert web.ports[1].host == 0
    assert [v.type for v in web.volumes] == [VolumeType.PERSISTENT, VolumeType.TMPFS]
    assert [s.type for s in web.secrets] == [
        SecretType.ENV,
        SecretType.TLS,
        SecretType.REGISTRY,
        SecretType.FILE,
    ]
    # Go escapes <, > and & in strings; they arrive as the characters.
    assert web.config_files[0].content == '{"debug":false,"motd":"a < b & c"}'
    assert [c.format for c in web.config_files] == list(ConfigFormat)
    assert web.annotations == {"prometheus.io/port": "9090", "prometheus.io/scrape": "true"}
    assert web.resources == ResourceSpec(
        cpu_millis=500, memory_mb=256, disk_mb=1024, replicas=3, gpu="nvidia-t4"
    )
    assert req.service("metrics").ports[0].protocol is PortProtocol.SCTP
    assert req.labels == {"app": "shop", "team": "payments"}
    validate_request(req)  # the fixture is also semantically valid


def test_deploy_request_fixture_values(go_json: GoJson) -> None:
    req = DeployRequest.model_validate_json(go_json("deploy_request.json"))
    assert req.strategy is DeployStrategy.BLUE_GREEN
    assert req.services[1].env == {}
    assert req.services[1].health_check is None
    assert req.services[0].health_check == HealthCheckSpec(
        path="/ready", port=8080, interval="3s", timeout="500ms", retries=5
    )
    validate_deploy(req, current=["migrate", "web", "metrics"])


def test_exec_result_bytes_are_standard_base64(go_json: GoJson) -> None:
    res = ExecResult.model_validate_json(go_json("exec_result.json"))
    assert res.exit_code == 3
    assert res.stdout == b"hello, world\n"
    assert res.stderr == b"warning: \xfb\xff\n"
    # Go's encoding/json uses the standard alphabet (+ and /), never the URL-safe one.
    wire = ExecResult(exit_code=0, stdout=bytes([0xFB, 0xEF, 0xFF, 0x3E])).to_wire()
    assert wire["stdout"] == "++//Pg=="
    assert wire["stderr"] == ""


def test_health_status_latency_and_time(go_json: GoJson) -> None:
    hs = HealthStatus.model_validate_json(go_json("health_status.json"))
    assert hs.latency == timedelta(milliseconds=12, microseconds=345)
    assert hs.checked_at == datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)
    assert hs.to_wire()["latency"] == 12_345_000
    assert hs.to_wire()["checked_at"] == "2026-06-01T09:30:15.123456Z"


def test_instance_status_with_services(go_json: GoJson) -> None:
    st = InstanceStatus.model_validate_json(go_json("instance_status.json"))
    assert st.state is InstanceState.STARTING
    assert st.started_at == datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    assert st.started_at is not None
    assert st.started_at.utcoffset() == timedelta(hours=2)
    assert set(st.services) == {"metrics", "migrate", "web"}
    assert st.services["web"] == ServiceStatus(
        state=InstanceState.RUNNING, ready=True, restarts=4, provider_ref="9a8b7c6d5e4f"
    )
    assert st.endpoints[0].public is True


def test_log_options_since_with_offset_and_fraction(go_json: GoJson) -> None:
    opts = LogOptions.model_validate_json(go_json("log_options.json"))
    assert opts.since == datetime(2026, 6, 1, 6, 59, 59, 250000, tzinfo=UTC)
    assert opts.follow is True
    assert opts.tail == 200


def test_provider_info_location(go_json: GoJson) -> None:
    info = ProviderInfo.model_validate_json(go_json("provider_info.json"))
    assert info.location == Location(
        latitude=53.3498, longitude=-6.2603, country="IE", city="Dublin"
    )
    assert "location" not in ProviderInfo(name="x").to_wire()
    # A pointer field is omitted only when nil: an all-zero Location is written as {}.
    assert ProviderInfo(name="x", location=Location()).to_wire()["location"] == {}


# --- Go zero values -------------------------------------------------------------------------


def test_go_nulls_read_as_empty(go_json: GoJson) -> None:
    st = InstanceStatus.model_validate_json(go_json("zero_instance_status.json"))
    assert st.endpoints == []
    assert st.services == {}
    res = ProvisionResult.model_validate_json(go_json("zero_provision_result.json"))
    assert res.endpoints == []
    assert res.service_refs == {}
    out = ExecResult.model_validate_json(go_json("zero_exec_result.json"))
    assert (out.stdout, out.stderr) == (b"", b"")
    dep = DeployRequest.model_validate_json(go_json("zero_deploy_request.json"))
    assert dep.services == []


def test_empty_enum_strings_mean_the_go_defaults(go_json: GoJson) -> None:
    req = ProvisionRequest.model_validate_json(go_json("zero_provision_request.json"))
    svc = req.services[0]
    assert req.kind is WorkloadKind.DEPLOYMENT
    assert svc.role is ServiceRole.MAIN
    assert svc.ports[0].protocol is PortProtocol.TCP
    assert svc.volumes[0].type is VolumeType.PERSISTENT
    assert svc.secrets[0].type is SecretType.ENV
    assert svc.config_files[0].format is ConfigFormat.TEXT
    validate_request(req)
    dep = DeployRequest.model_validate_json(go_json("zero_deploy_request.json"))
    assert dep.strategy is DeployStrategy.ROLLING
    assert (
        ServiceSpec.model_validate({"name": "a", "image": "b", "role": ""}).role is ServiceRole.MAIN
    )


# --- keys, omitempty ------------------------------------------------------------------------

GO_TAGS: dict[type[WireModel], set[str]] = {
    ProvisionRequest: {"instance_id", "tenant_id", "name", "kind", "services", "labels"},
    ServiceSpec: {
        "name",
        "image",
        "role",
        "depends_on",
        "resources",
        "env",
        "ports",
        "volumes",
        "health_check",
        "secrets",
        "config_files",
        "annotations",
        "command",
        "args",
    },
    ResourceSpec: {"cpu_millis", "memory_mb", "disk_mb", "replicas", "gpu"},
    PortSpec: {"container", "host", "protocol"},
    VolumeSpec: {"name", "mount_path", "size_mb", "type"},
    HealthCheckSpec: {"path", "port", "interval", "timeout", "retries"},
    SecretRef: {"key", "type"},
    ConfigFile: {"name", "path", "format", "content"},
    DeployRequest: {"instance_id", "release_id", "services", "strategy"},
    ServiceDeploySpec: {"name", "image", "env", "health_check"},
    ServiceSnapshot: {"name", "image", "env"},
    LogOptions: {"service_name", "follow", "since", "tail"},
    ExecRequest: {"command", "tty"},
    ProvisionResult: {"provider_ref", "service_refs", "endpoints", "metadata"},
    DeployResult: {"provider_ref", "status"},
    Endpoint: {"service_name", "url", "port", "protocol", "public"},
    InstanceStatus: {
        "state",
        "ready",
        "restarts",
        "started_at",
        "message",
        "endpoints",
        "services",
        "metadata",
    },
    ServiceStatus: {"state", "ready", "restarts", "provider_ref", "message"},
    ResourceUsage: {
        "cpu_percent",
        "memory_used_mb",
        "memory_limit_mb",
        "disk_used_mb",
        "network_in_mb",
        "network_out_mb",
    },
    ExecResult: {"exit_code", "stdout", "stderr"},
    HealthStatus: {"healthy", "message", "latency", "checked_at"},
    ProviderInfo: {"name", "version", "region", "location"},
    Location: {"latitude", "longitude", "country", "city"},
}

# Fields that exist only in Python (optional, omitted from JSON when unset).
BEYOND_GO: dict[type[WireModel], set[str]] = {
    HealthCheckSpec: {"command"},
    SecretRef: {"target"},
    LogOptions: {"replica"},
    ExecRequest: {"stdin", "service", "replica"},
    DeployResult: {"release_id"},
}

# Go fields tagged omitempty (or omitzero).
GO_OMITEMPTY: dict[type[WireModel], set[str]] = {
    ProvisionRequest: {"labels"},
    ServiceSpec: {
        "role",
        "depends_on",
        "env",
        "ports",
        "volumes",
        "health_check",
        "secrets",
        "config_files",
        "annotations",
        "command",
        "args",
    },
    ResourceSpec: {"disk_mb", "gpu"},
    PortSpec: {"host"},
    HealthCheckSpec: {"path"},
    ServiceDeploySpec: {"env", "health_check"},
    ServiceSnapshot: {"env"},
    LogOptions: {"service_name", "since", "tail"},
    ProvisionResult: {"service_refs", "metadata"},
    Endpoint: {"service_name"},
    InstanceStatus: {"started_at", "message", "services", "metadata"},
    ServiceStatus: {"provider_ref", "message"},
    ResourceUsage: {"disk_used_mb"},
    ProviderInfo: {"location"},
    Location: {"latitude", "longitude", "country", "city"},
}

# The fewest arguments that build each type; everything else is left at its empty value.
MINIMAL: dict[type[WireModel], dict[str, Any]] = {
    ProvisionRequest: {"instance_id": "inst_01h455vb4pex5vsknk084sn02q"},
    ServiceSpec: {"name": "web", "image": "nginx"},
    ResourceSpec: {},
    PortSpec: {"container": 80},
    VolumeSpec: {"name": "data", "mount_path": "/data"},
    HealthCheckSpec: {},
    SecretRef: {"key": "k"},
    ConfigFile: {"name": "c", "path": "/c"},
    DeployRequest: {"instance_id": "inst_01h455vb4pex5vsknk084sn02q"},
    ServiceDeploySpec: {"name": "web", "image": "nginx"},
    ServiceSnapshot: {"name": "web", "image": "nginx"},
    LogOptions: {},
    ExecRequest: {"command": ["true"]},
    ProvisionResult: {"provider_ref": "p"},
    DeployResult: {"provider_ref": "p", "status": "ok"},
    Endpoint: {"url": "http://x", "port": 1},
    InstanceStatus: {"state": "running"},
    ServiceStatus: {"state": "running"},
    ResourceUsage: {},
    ExecResult: {"exit_code": 0},
    HealthStatus: {"healthy": True, "checked_at": datetime(2026, 1, 1, tzinfo=UTC)},
    ProviderInfo: {"name": "p"},
    Location: {},
}

every_type = pytest.mark.parametrize("model", list(GO_TAGS), ids=lambda m: m.__name__)


@every_type
def test_field_names_are_the_go_tags(model: type[WireModel]) -> None:
    assert set(model.model_fields) == GO_TAGS[model] | BEYOND_GO.get(model, set())


@every_type
def test_empty_dump_omits_exactly_the_omitempty_fields(model: type[WireModel]) -> None:
    wire = model(**MINIMAL[model]).to_wire()
    assert set(wire) == GO_TAGS[model] - GO_OMITEMPTY.get(model, set())


def test_omitempty_fields_are_written_when_set() -> None:
    svc = ServiceSpec(
        name="web",
        image="nginx",
        role="sidecar",
        depends_on=["db"],
        env={"A": "1"},
        ports=[{"container": 80}],
        volumes=[{"name": "v", "mount_path": "/v"}],
        health_check={"port": 80},
        secrets=[{"key": "k"}],
        config_files=[{"name": "c", "path": "/c"}],
        annotations={"a": "b"},
        command=["run"],
        args=["x"],
    )
    assert set(svc.to_wire()) == GO_TAGS[ServiceSpec]
    assert set(ResourceSpec(disk_mb=1, gpu="t4").to_wire()) == GO_TAGS[ResourceSpec]
    assert PortSpec(container=80, host=8080).to_wire() == {
        "container": 80,
        "host": 8080,
        "protocol": "tcp",
    }


def test_beyond_go_fields_appear_only_when_set() -> None:
    assert SecretRef(key="k", target="TOKEN").to_wire() == {
        "key": "k",
        "type": "env",
        "target": "TOKEN",
    }
    assert HealthCheckSpec(command=["true"]).to_wire()["command"] == ["true"]
    assert LogOptions(replica=0).to_wire() == {"follow": False, "replica": 0}
    assert LogOptions.model_validate_json(LogOptions(replica=0).to_json()).replica == 0
    assert LogOptions.model_validate_json(LogOptions().to_json()).replica is None
    assert DeployResult(provider_ref="p", status="ok", release_id="rel_x").to_wire()[
        "release_id"
    ] == ("rel_x")
    assert ExecRequest(command=["ls"], service="web", replica=1).to_wire() == {
        "command": ["ls"],
        "tty": False,
        "service": "web",
        "replica": 1,
    }


def test_exec_request_stdin_never_in_json() -> None:
    req = ExecRequest(command=["cat"], stdin=b"top secret input")
    assert req.stdin == b"top secret input"
    assert "stdin" not in req.to_json()
    assert "stdin" not in req.model_dump(mode="json")
    assert "stdin" not in req.model_dump()
    assert "top secret" not in repr(req)
    assert json.loads(req.to_json()) == {"command": ["cat"], "tty": False}


def test_results_ignore_unknown_fields_from_newer_services() -> None:
    st = InstanceStatus.model_validate_json('{"state":"running","endpoints":[],"future":1}')
    assert st.state is InstanceState.RUNNING
    assert "future" not in st.to_wire()


# --- enums ----------------------------------------------------------------------------------


def test_capability_values_are_the_go_strings() -> None:
    assert sorted(c.value for c in Capability) == sorted(
        [
            "provision",
            "deploy",
            "scale",
            "logs",
            "exec",
            "volumes",
            "gpu",
            "strategy:blue-green",
            "strategy:canary",
            "strategy:rolling",
            "autoscale",
            "custom-domains",
            "tls",
        ]
    )


def test_instance_state_values_are_the_go_strings() -> None:
    assert [s.value for s in InstanceState] == [
        "provisioning",
        "starting",
        "running",
        "stopping",
        "stopped",
        "failed",
        "destroying",
        "destroyed",
    ]


def test_role_kind_secret_and_strategy_values() -> None:
    assert {r.value for r in ServiceRole} == {"main", "sidecar", "init"}
    assert {k.value for k in WorkloadKind} == {"deployment", "stateful_set"}
    assert {t.value for t in SecretType} == {"env", "file", "registry", "tls"}
    assert {p.value for p in PortProtocol} == {"tcp", "udp", "sctp"}
    assert {s.value for s in DeployStrategy} == {"rolling", "blue-green", "canary"}


def test_enums_are_written_as_plain_strings() -> None:
    req = DeployRequest(instance_id="inst_x", strategy="canary")
    assert json.loads(req.to_json())["strategy"] == "canary"
    assert ServiceStatus(state="destroying").to_wire()["state"] == "destroying"


def test_unknown_enum_value_is_refused_with_its_path() -> None:
    with pytest.raises(InvalidSpec) as info:
        DeployRequest.model_validate_json('{"instance_id":"inst_x","strategy":"big-bang"}')
    assert [p.path for p in info.value.problems] == ["strategy"]
    with pytest.raises(InvalidSpec) as info:
        InstanceStatus.model_validate({"state": "exploded"})
    assert [p.path for p in info.value.problems] == ["state"]


# --- times and durations on the wire -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T09:30:15Z", datetime(2026, 6, 1, 9, 30, 15, tzinfo=UTC)),
        (
            "2026-06-01T15:00:15+05:30",
            datetime(2026, 6, 1, 15, 0, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        ("2026-06-01T02:30:15.5-07:00", datetime(2026, 6, 1, 9, 30, 15, 500000, tzinfo=UTC)),
        # Go writes nanoseconds; Python keeps microseconds.
        ("2026-06-01T09:30:15.123456789Z", datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_parse(text: str, expected: datetime) -> None:
    hs = HealthStatus.model_validate_json(
        json.dumps({"healthy": True, "message": "", "latency": 0, "checked_at": text})
    )
    assert hs.checked_at == expected
    assert hs.checked_at.tzinfo is not None


def test_times_are_written_rfc3339_keeping_the_offset() -> None:
    utc = HealthStatus(healthy=True, checked_at=datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    assert utc.to_wire()["checked_at"] == "2026-06-01T09:30:00Z"
    plus = datetime(2026, 6, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    assert HealthStatus(healthy=True, checked_at=plus).to_wire()["checked_at"] == (
        "2026-06-01T11:30:00+02:00"
    )
    naive = HealthStatus(healthy=True, checked_at=datetime(2026, 6, 1, 9, 30))
    assert naive.checked_at.tzinfo is not None
    assert naive.to_wire()["checked_at"] == "2026-06-01T09:30:00Z"


def test_durations_are_integer_nanoseconds_on_the_wire() -> None:
    hc = HealthCheckSpec(port=80, interval=timedelta(seconds=90), timeout="250ms")
    wire = hc.to_wire()
    assert wire["interval"] == 90_000_000_000
    assert wire["timeout"] == 250_000_000
    assert isinstance(wire["interval"], int)
    assert HealthCheckSpec.model_validate_json('{"interval":1500000000}').interval == timedelta(
        seconds=1.5
    )
    assert HealthCheckSpec.model_validate_json('{"interval":"1m30s"}').interval == timedelta(
        seconds=90
    )


def test_durations_numbers_are_seconds_only_in_human_context() -> None:
    wire = HealthCheckSpec.model_validate({"interval": 10})
    human = HealthCheckSpec.model_validate({"interval": 10}, context=HUMAN_CONTEXT)
    assert wire.interval == timedelta(microseconds=0)  # 10 ns rounds to zero microseconds
    assert human.interval == timedelta(seconds=10)
    nested = ProvisionRequest.model_validate(
        {
            "instance_id": "inst_x",
            "services": [{"name": "a", "image": "b", "health_check": {"port": 1, "timeout": 2}}],
        },
        context=HUMAN_CONTEXT,
    )
    assert nested.services[0].health_check is not None
    assert nested.services[0].health_check.timeout == timedelta(seconds=2)


@pytest.mark.parametrize("bad", [True, [1], "soon", "99999999999999h", 10**30])
def test_bad_durations_are_invalid_spec(bad: object) -> None:
    with pytest.raises(InvalidSpec) as info:
        HealthCheckSpec(port=80, interval=bad)
    assert [p.path for p in info.value.problems] == ["interval"]


# --- structural errors ----------------------------------------------------------------------


def test_structural_errors_from_the_constructor_carry_paths() -> None:
    with pytest.raises(InvalidSpec) as info:
        ProvisionRequest(
            instance_id="inst_x",
            services=[
                {"name": "a", "image": "i", "ports": [{"container": "eighty"}]},
                {"name": "b", "image": "i", "role": "boss", "colour": "red"},
                {"name": "c", "image": "i", "command": "sh -c 'echo hi'"},
            ],
        )
    problems = {p.path: p.message for p in info.value.problems}
    assert set(problems) == {
        "services[0].ports[0].container",
        "services[1].role",
        "services[1].colour",
        "services[2].command",
    }
    assert "unknown field" in problems["services[1].colour"]
    assert "shell string" in problems["services[2].command"]
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("how", ["json", "python"])
def test_structural_errors_from_model_validate_carry_paths(how: str) -> None:
    data = {
        "instance_id": "inst_x",
        "services": [
            {"name": "a", "image": "i"},
            {"name": "b", "image": "i", "ports": [{"container": 1}, {"container": [2]}]},
        ],
        "labels": {"team": {"nested": "map"}},
    }
    parse: Callable[[], ProvisionRequest] = (
        (lambda: ProvisionRequest.model_validate_json(json.dumps(data)))
        if how == "json"
        else (lambda: ProvisionRequest.model_validate(data))
    )
    with pytest.raises(InvalidSpec) as info:
        parse()
    assert {p.path for p in info.value.problems} == {
        "services[1].ports[1].container",
        "labels.team",
    }


def test_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidSpec) as info:
        ServiceSpec.model_validate({"name": "web"})
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("image", "required field is missing")
    ]


def test_exec_request_needs_an_argv_list() -> None:
    with pytest.raises(InvalidSpec) as info:
        ExecRequest(command="ls -l")
    assert [p.path for p in info.value.problems] == ["command"]
    with pytest.raises(InvalidSpec):
        ExecRequest(command=[])


def test_numbers_and_booleans_in_string_maps_become_text() -> None:
    svc = ServiceSpec.model_validate({"name": "a", "image": "b", "env": {"PORT": 8080, "X": True}})
    assert svc.env == {"PORT": "8080", "X": "true"}
