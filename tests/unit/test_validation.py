"""Semantic validation: one test per rule, each checking the exact field path of the problem."""

from __future__ import annotations

from typing import Any

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider import (
    DeployRequest,
    ProvisionRequest,
    ResourceSpec,
    ServiceRole,
    startup_order,
    validate_deploy,
    validate_request,
    validate_scale,
)
from ctrlplane.provider.validation import (
    deploy_problems,
    find_cycle,
    request_problems,
    scale_problems,
    secret_target,
)

IID = "inst_01h455vb4pex5vsknk084sn02q"
RID = "rel_01h455vb4pex5vsknk084sn02r"


def svc(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox:1.36", **fields}


def request(*services: dict[str, Any], **fields: Any) -> ProvisionRequest:
    body: dict[str, Any] = {"instance_id": IID, "services": list(services), **fields}
    return ProvisionRequest.model_validate(body)


def paths(req: ProvisionRequest) -> list[str]:
    return [p.path for p in request_problems(req)]


def messages(req: ProvisionRequest) -> dict[str, str]:
    return {p.path: p.message for p in request_problems(req)}


def test_a_valid_request_has_no_problems() -> None:
    req = request(
        svc("seed", role="init"),
        svc("web", depends_on=["seed"], ports=[{"container": 8080, "host": 18080}]),
        svc("proxy", role="sidecar", depends_on=["web"], ports=[{"container": 8443}]),
    )
    assert request_problems(req) == []
    validate_request(req)


def test_at_least_one_service() -> None:
    req = request()
    assert messages(req) == {"services": "at least one service is required"}
    with pytest.raises(InvalidSpec) as info:
        validate_request(req)
    assert info.value.subject == "provision request"


@pytest.mark.parametrize(
    "name", ["Web", "web_1", "-web", "web-", "", "a" * 64, "wéb", "web.1", "web 1"]
)
def test_service_names_must_be_dns_labels(name: str) -> None:
    assert paths(request(svc(name))) == ["services[0].name"]


@pytest.mark.parametrize("name", ["a", "1web", "web-1", "a" * 63, "x-9-y"])
def test_dns_safe_names_pass(name: str) -> None:
    assert paths(request(svc(name))) == []


def test_service_names_are_unique() -> None:
    req = request(svc("web"), svc("web", role="sidecar"))
    assert paths(req) == ["services[1].name"]
    assert "services[0].name" in messages(req)["services[1].name"]


def test_no_main_service() -> None:
    req = request(svc("a", role="sidecar"), svc("b", role="init"))
    assert paths(req) == ["services"]
    assert "main" in messages(req)["services"]


def test_a_second_and_third_main_are_each_reported() -> None:
    req = request(svc("a"), svc("b", role="main"), svc("c", role=""))
    assert paths(req) == ["services[1].role", "services[2].role"]


def test_depends_on_must_name_a_sibling() -> None:
    req = request(svc("web", depends_on=["db"]))
    assert messages(req) == {"services[0].depends_on[0]": "no service named 'db' in this workload"}


def test_no_self_dependency() -> None:
    req = request(svc("web"), svc("side", role="sidecar", depends_on=["web", "side"]))
    assert paths(req) == ["services[1].depends_on[1]"]


def test_no_duplicate_dependency() -> None:
    req = request(svc("web"), svc("side", role="sidecar", depends_on=["web", "web"]))
    assert paths(req) == ["services[1].depends_on[1]"]


def test_cycle_is_reported_with_its_path() -> None:
    req = request(
        svc("lone", role="sidecar"),
        svc("a", depends_on=["b"]),
        svc("b", role="sidecar", depends_on=["c"]),
        svc("c", role="sidecar", depends_on=["a"]),
    )
    assert messages(req) == {"services[1].depends_on": "dependency cycle: a -> b -> c -> a"}


def test_two_service_cycle() -> None:
    req = request(svc("a", depends_on=["b"]), svc("b", role="sidecar", depends_on=["a"]))
    assert messages(req) == {"services[0].depends_on": "dependency cycle: a -> b -> a"}


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"a": ["x"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]


def test_init_cannot_depend_on_a_main_or_sidecar() -> None:
    req = request(
        svc("web"),
        svc("side", role="sidecar"),
        svc("seed", role="init", depends_on=["web", "side"]),
    )
    assert paths(req) == ["services[2].depends_on[0]", "services[2].depends_on[1]"]
    assert (
        "init service cannot depend on main service 'web'"
        in messages(req)["services[2].depends_on[0]"]
    )


def test_init_may_depend_on_init_and_main_on_init() -> None:
    req = request(
        svc("one", role="init"),
        svc("two", role="init", depends_on=["one"]),
        svc("web", depends_on=["two"]),
    )
    assert paths(req) == []


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_container_port_range(port: int) -> None:
    assert paths(request(svc("web", ports=[{"container": 80}, {"container": port}]))) == [
        "services[0].ports[1].container"
    ]


@pytest.mark.parametrize(("port", "ok"), [(0, True), (1, True), (65535, True), (65536, False)])
def test_host_port_range(port: int, ok: bool) -> None:
    req = request(svc("web", ports=[{"container": 80, "host": port}]))
    assert paths(req) == ([] if ok else ["services[0].ports[0].host"])


def test_unknown_protocol_is_a_structural_error() -> None:
    with pytest.raises(InvalidSpec) as info:
        request(svc("web", ports=[{"container": 80, "protocol": "http"}]))
    assert [p.path for p in info.value.problems] == ["services[0].ports[0].protocol"]
    ok = request(svc("web", ports=[{"container": 80, "protocol": p} for p in ("tcp",)]))
    assert paths(ok) == []


def test_container_port_used_twice_across_the_workload() -> None:
    req = request(
        svc("web", ports=[{"container": 8080}]),
        svc("side", role="sidecar", ports=[{"container": 8080}]),
    )
    assert paths(req) == ["services[1].ports[0].container"]
    assert messages(req)["services[1].ports[0].container"] == (
        "container port '8080/tcp' already used at services[0].ports[0].container"
    )


def test_same_container_port_on_other_protocols_is_fine() -> None:
    req = request(
        svc("web", ports=[{"container": 53, "protocol": "tcp"}]),
        svc("dns", role="sidecar", ports=[{"container": 53, "protocol": "udp"}]),
    )
    assert paths(req) == []


def test_host_port_used_twice() -> None:
    req = request(
        svc("web", ports=[{"container": 80, "host": 8080}, {"container": 81}]),
        svc("side", role="sidecar", ports=[{"container": 82, "host": 8080}]),
    )
    assert paths(req) == ["services[1].ports[0].host"]


def test_init_services_have_no_ports() -> None:
    req = request(svc("web"), svc("seed", role="init", ports=[{"container": 80}]))
    assert paths(req) == ["services[1].ports"]


@pytest.mark.parametrize("name", ["Data", "data_1", "", "-data"])
def test_volume_names_are_dns_safe(name: str) -> None:
    req = request(svc("web", volumes=[{"name": name, "mount_path": "/data"}]))
    assert paths(req) == ["services[0].volumes[0].name"]


@pytest.mark.parametrize("mount", ["data", "./data", "/", "/data/", "/data/../etc", ""])
def test_mount_paths_are_absolute_and_clean(mount: str) -> None:
    req = request(svc("web", volumes=[{"name": "data", "mount_path": mount}]))
    assert paths(req) == ["services[0].volumes[0].mount_path"]


def test_mount_paths_unique_per_service() -> None:
    req = request(
        svc(
            "web",
            volumes=[{"name": "a", "mount_path": "/data"}, {"name": "b", "mount_path": "/data"}],
        ),
        svc("side", role="sidecar", volumes=[{"name": "a", "mount_path": "/data"}]),
    )
    assert paths(req) == ["services[0].volumes[1].mount_path"]


def test_volume_names_unique_per_service_and_size_non_negative() -> None:
    req = request(
        svc(
            "web",
            volumes=[
                {"name": "a", "mount_path": "/a"},
                {"name": "a", "mount_path": "/b", "size_mb": -1},
            ],
        )
    )
    assert paths(req) == ["services[0].volumes[1].size_mb", "services[0].volumes[1].name"]


@pytest.mark.parametrize("field", ["cpu_millis", "memory_mb", "disk_mb", "replicas"])
def test_resources_are_non_negative(field: str) -> None:
    req = request(svc("web", resources={field: -1}))
    assert messages(req) == {f"services[0].resources.{field}": "must be >= 0, got -1"}


@pytest.mark.parametrize(
    ("check", "path"),
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": -5}, "port"),
        ({"port": 80, "interval": "1s", "timeout": "2s"}, "timeout"),
        ({"port": 80, "retries": -1}, "retries"),
        ({"port": 80, "interval": "500us"}, "interval"),
        ({"port": 80, "timeout": 500_000}, "timeout"),  # 500_000 ns on the wire
        ({"port": 80, "interval": "-1s"}, "interval"),
        ({"port": 80, "path": "healthz"}, "path"),
    ],
)
def test_health_check_rules(check: dict[str, Any], path: str) -> None:
    req = request(svc("web", health_check=check))
    assert paths(req) == [f"services[0].health_check.{path}"]


def test_health_check_http_and_exec_are_exclusive() -> None:
    req = request(svc("web", health_check={"path": "/", "port": 80, "command": ["true"]}))
    assert paths(req) == ["services[0].health_check"]


def test_valid_health_checks() -> None:
    for check in (
        {"path": "/healthz", "port": 8080, "interval": "5s", "timeout": "5s", "retries": 0},
        {"port": 5432, "interval": "1ms", "timeout": "1ms"},
        {"command": ["pg_isready"], "interval": "10s"},
        {"port": 80, "timeout": "30s"},  # interval 0 = provider default
    ):
        assert paths(request(svc("web", health_check=check))) == [], check


@pytest.mark.parametrize("key", ["bad key", "../escape", "/abs", "a//b", "a/../b", "", "-x"])
def test_secret_keys_are_well_formed(key: str) -> None:
    req = request(svc("web", secrets=[{"key": key, "type": "file", "target": "/run/s/x"}]))
    assert paths(req) == ["services[0].secrets[0].key"]


@pytest.mark.parametrize(
    ("secret", "ok"),
    [
        ({"key": "db/password", "type": "env", "target": "DB_PASS"}, True),
        ({"key": "db/password", "type": "env", "target": "1DB"}, False),
        ({"key": "db/password", "type": "env", "target": "DB-PASS"}, False),
        ({"key": "cert", "type": "tls", "target": "/etc/tls/cert.pem"}, True),
        ({"key": "cert", "type": "tls", "target": "etc/tls"}, False),
        ({"key": "token", "type": "file", "target": "/run/../etc/passwd"}, False),
        ({"key": "pull", "type": "registry"}, True),
        ({"key": "pull", "type": "registry", "target": "/x"}, False),
    ],
)
def test_secret_targets(secret: dict[str, Any], ok: bool) -> None:
    req = request(svc("web", secrets=[secret]))
    assert paths(req) == ([] if ok else ["services[0].secrets[0].target"])


def test_secret_default_targets() -> None:
    req = request(
        svc(
            "web",
            secrets=[
                {"key": "db/password"},
                {"key": "9lives", "type": "env"},
                {"key": "api/token", "type": "file"},
                {"key": "pull", "type": "registry"},
            ],
        )
    )
    targets = [secret_target(s) for s in req.services[0].secrets]
    assert targets == ["DB_PASSWORD", "_9LIVES", "/run/secrets/api/token", ""]


def test_secret_collisions() -> None:
    req = request(
        svc(
            "web",
            env={"DB_PASSWORD": "literal"},
            volumes=[{"name": "certs", "mount_path": "/certs"}],
            secrets=[
                {"key": "db/password"},  # env DB_PASSWORD clashes with env
                {"key": "db/password"},  # same key and type twice
                {"key": "tls", "type": "tls", "target": "/certs"},  # clashes with the volume
            ],
        )
    )
    assert paths(req) == [
        "services[0].secrets[1].key",
        "services[0].secrets[2].target",
        "services[0].secrets[1].target",
        "services[0].secrets[0].target",
        "services[0].secrets[1].target",
    ]


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({"name": "cfg", "path": "etc/app.json", "format": "text"}, "path"),
        ({"name": "Cfg", "path": "/etc/app.json", "format": "text"}, "name"),
        ({"name": "cfg", "path": "/etc/app.json", "format": "json", "content": "{bad"}, "content"),
        ({"name": "cfg", "path": "/etc/app.json", "format": "json", "content": ""}, "content"),
        ({"name": "cfg", "path": "/etc/app.yaml", "format": "yaml", "content": "a: [1"}, "content"),
    ],
)
def test_config_file_rules(config: dict[str, Any], path: str) -> None:
    req = request(svc("web", config_files=[config]))
    assert paths(req) == [f"services[0].config_files[0].{path}"]


def test_config_file_formats_and_valid_content() -> None:
    req = request(
        svc(
            "web",
            config_files=[
                {"name": "a", "path": "/etc/a.json", "format": "json", "content": '{"x": [1]}'},
                {"name": "b", "path": "/etc/b.yaml", "format": "yaml", "content": "x:\n  - 1\n"},
                {"name": "c", "path": "/etc/c.env", "format": "env", "content": "{not json"},
                {"name": "d", "path": "/etc/d.txt", "format": "text", "content": "a: [1"},
            ],
        )
    )
    assert paths(req) == []
    with pytest.raises(InvalidSpec) as info:
        request(svc("web", config_files=[{"name": "x", "path": "/x", "format": "toml"}]))
    assert [p.path for p in info.value.problems] == ["services[0].config_files[0].format"]


def test_config_file_path_clashing_with_a_volume() -> None:
    req = request(
        svc(
            "web",
            volumes=[{"name": "etc", "mount_path": "/etc/app"}],
            config_files=[{"name": "cfg", "path": "/etc/app", "format": "text"}],
        )
    )
    assert paths(req) == ["services[0].config_files[0].path"]


@pytest.mark.parametrize(
    "iid", ["", "not-an-id", "inst_123", "INST_01h455vb4pex5vsknk084sn02q", "inst-01h455vb4pe"]
)
def test_instance_id_is_a_typeid(iid: str) -> None:
    assert paths(request(svc("web"), instance_id=iid)) == ["instance_id"]


def test_other_prefixes_are_accepted_as_instance_ids() -> None:
    assert paths(request(svc("web"), instance_id="app_01h455vb4pex5vsknk084sn02q")) == []


def test_image_env_and_labels() -> None:
    req = request(
        svc("web", image="nginx latest", env={"A=B": "x"}),
        labels={"": "x"},
    )
    assert paths(req) == ["services[0].image", "services[0].env", "labels"]


def test_all_problems_are_reported_at_once() -> None:
    req = request(
        svc("Web", resources={"replicas": -2}),
        svc("side", role="sidecar", depends_on=["ghost", "side"], ports=[{"container": 0}]),
        svc("seed", role="init", depends_on=["side"]),
        svc("db", role="main", health_check={"port": 70000, "retries": -1}),
        instance_id="nope",
    )
    assert sorted(paths(req)) == sorted(
        [
            "instance_id",
            "services[0].name",
            "services[0].resources.replicas",
            "services[1].ports[0].container",
            "services[1].depends_on[0]",
            "services[1].depends_on[1]",
            "services[2].depends_on[0]",
            "services[3].role",
            "services[3].health_check.port",
            "services[3].health_check.retries",
        ]
    )
    with pytest.raises(InvalidSpec) as info:
        validate_request(req)
    assert len(info.value.problems) == 10
    assert "10 problems" in str(info.value)


# --- startup order --------------------------------------------------------------------------


def names(waves: list[list[Any]]) -> list[list[str]]:
    return [[s.name for s in wave] for wave in waves]


def test_startup_order_inits_first_then_dependency_waves() -> None:
    req = request(
        svc("proxy", role="sidecar", depends_on=["web"]),
        svc("web", depends_on=["seed-2"]),
        svc("seed-2", role="init", depends_on=["seed-1"]),
        svc("logs", role="sidecar"),
        svc("seed-1", role="init"),
        svc("metrics", role="sidecar", depends_on=["proxy", "logs"]),
    )
    validate_request(req)
    assert names(startup_order(req.services)) == [
        ["seed-1"],
        ["seed-2"],
        ["web", "logs"],
        ["proxy"],
        ["metrics"],
    ]


def test_startup_order_mains_wait_for_inits_without_depending_on_them() -> None:
    req = request(svc("web"), svc("a", role="init"), svc("b", role="init"))
    assert names(startup_order(req.services)) == [["a", "b"], ["web"]]
    roles = [s.role for s in startup_order(req.services)[0]]
    assert roles == [ServiceRole.INIT, ServiceRole.INIT]


def test_startup_order_refuses_a_cycle() -> None:
    req = request(svc("a", depends_on=["b"]), svc("b", role="sidecar", depends_on=["a"]))
    with pytest.raises(InvalidSpec):
        startup_order(req.services)


# --- deploy and scale ---------------------------------------------------------------------------


def deploy(**fields: Any) -> DeployRequest:
    body: dict[str, Any] = {
        "instance_id": IID,
        "release_id": RID,
        "services": [{"name": "web", "image": "nginx:1.27"}],
        **fields,
    }
    return DeployRequest.model_validate(body)


def test_valid_deploy() -> None:
    validate_deploy(deploy(), current=["web", "side"])
    validate_deploy(deploy(release_id=""))  # the provider mints one


def test_deploy_problems() -> None:
    req = deploy(
        instance_id="bad",
        release_id=IID,  # an inst_ ID is not a release ID
        services=[
            {"name": "web", "image": "nginx:1.27", "health_check": {"port": 0}},
            {"name": "Bad_Name", "image": ""},
            {"name": "web", "image": "nginx:1.27"},
        ],
    )
    assert [p.path for p in deploy_problems(req)] == [
        "instance_id",
        "release_id",
        "services[0].health_check.port",
        "services[1].name",
        "services[1].image",
        "services[2].name",
    ]
    with pytest.raises(InvalidSpec) as info:
        validate_deploy(req)
    assert info.value.subject == "deploy request"


def test_deploy_of_an_unknown_service_names_the_known_ones() -> None:
    problems = deploy_problems(deploy(), current=["api", "worker"])
    assert [(p.path, p.message) for p in problems] == [
        ("services[0].name", "no service 'web' (services: api, worker)")
    ]


def test_deploy_needs_a_service() -> None:
    assert [p.path for p in deploy_problems(deploy(services=[]))] == ["services"]


def test_scale() -> None:
    validate_scale(ResourceSpec(replicas=3))
    validate_scale(ResourceSpec(gpu="t4"))
    assert [p.path for p in scale_problems(ResourceSpec())] == [""]
    problems = scale_problems(ResourceSpec(replicas=-1, memory_mb=-5))
    assert [p.path for p in problems] == ["memory_mb", "replicas"]
    with pytest.raises(InvalidSpec) as info:
        validate_scale(ResourceSpec(cpu_millis=-1))
    assert info.value.subject == "scale request"
    assert [p.path for p in info.value.problems] == ["cpu_millis"]
