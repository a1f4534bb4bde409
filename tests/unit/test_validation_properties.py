"""Property-based validation: generated valid specs pass and round-trip; breaking one rule is
reported at exactly that rule's field path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrlplane.ids import new_id
from ctrlplane.provider import (
    ConfigFormat,
    ProvisionRequest,
    ServiceRole,
    startup_order,
)
from ctrlplane.provider.validation import request_problems

# Generated names never contain a hyphenated part longer than 4 characters, so the names
# the mutations add ("x-fresh1", ...) never collide with them.
LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
NAMES = st.builds(
    lambda head, body, tail: head + body + (f"-{tail}" if tail else ""),
    st.sampled_from(LOWER),
    st.text(LOWER + DIGITS, max_size=6),
    st.text(LOWER + DIGITS, max_size=4),
)
SECRET_KEYS = st.builds(  # "s..." so that env targets start with S
    lambda body, sub: "s" + body + (f"/{sub}" if sub else ""),
    st.text(LOWER + DIGITS, max_size=5),
    st.text(LOWER + DIGITS, max_size=4),
)
ENV_KEYS = st.text(LOWER.upper() + DIGITS, min_size=1, max_size=5).map("APP_".__add__)
IMAGES = st.sampled_from(["busybox", "busybox:1.36", "nginx:1.27", "ghcr.io/acme/app:v2"])
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
MS = 1_000_000  # nanoseconds


@st.composite
def health_checks(draw: st.DrawFn) -> dict[str, Any]:
    interval = draw(st.sampled_from([0, 1, 5, 1000, 30_000])) * MS
    timeout = (
        draw(st.integers(0, interval // MS)) * MS if interval else draw(st.integers(0, 9)) * MS
    )
    if timeout and timeout < MS:
        timeout = MS
    check: dict[str, Any] = {
        "interval": interval,
        "timeout": timeout,
        "retries": draw(st.integers(0, 5)),
    }
    kind = draw(st.sampled_from(["http", "tcp", "exec"]))
    if kind == "exec":
        check["command"] = draw(st.lists(st.sampled_from(["true", "pg_isready", "-q"]), min_size=1))
        check["port"] = 0
    else:
        check["port"] = draw(st.integers(1, 65535))
        if kind == "http":
            check["path"] = "/" + draw(st.text(LOWER + DIGITS + "/", max_size=8))
    return check


def config_content(fmt: ConfigFormat) -> st.SearchStrategy[str]:
    values = st.dictionaries(st.text(LOWER, min_size=1, max_size=5), st.integers() | st.booleans())
    if fmt is ConfigFormat.JSON:
        return values.map(json.dumps)
    if fmt is ConfigFormat.YAML:
        return values.map(yaml.safe_dump)
    if fmt is ConfigFormat.ENV:
        return st.lists(ENV_KEYS, max_size=3).map(lambda ks: "".join(f"{k}=1\n" for k in ks))
    return TEXT


@st.composite
def valid_requests(draw: st.DrawFn) -> ProvisionRequest:
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    main = draw(st.integers(0, len(names) - 1))
    roles = [
        ServiceRole.MAIN
        if i == main
        else draw(st.sampled_from([ServiceRole.SIDECAR, ServiceRole.INIT]))
        for i in range(len(names))
    ]
    container_ports = iter(
        draw(st.lists(st.integers(1, 60000), min_size=10, max_size=10, unique=True))
    )
    host_ports = iter(draw(st.lists(st.integers(1, 60000), min_size=10, max_size=10, unique=True)))
    services: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        role = roles[i]
        # Depending only on earlier services keeps the graph acyclic; inits only on inits.
        allowed = [
            n
            for j, n in enumerate(names[:i])
            if role is not ServiceRole.INIT or roles[j] is ServiceRole.INIT
        ]
        svc: dict[str, Any] = {
            "name": name,
            "image": draw(IMAGES),
            "role": role.value if draw(st.booleans()) or role is not ServiceRole.MAIN else "",
            "depends_on": draw(st.lists(st.sampled_from(allowed), unique=True, max_size=3))
            if allowed
            else [],
            "resources": {
                "cpu_millis": draw(st.integers(0, 4000)),
                "memory_mb": draw(st.integers(0, 4096)),
                "disk_mb": draw(st.integers(0, 10_000)),
                "replicas": draw(st.integers(0, 5)),
                "gpu": draw(st.sampled_from(["", "nvidia-t4"])),
            },
            "env": draw(st.dictionaries(ENV_KEYS, TEXT, max_size=3)),
            "annotations": draw(
                st.dictionaries(st.text(LOWER + "./", min_size=1, max_size=10), TEXT, max_size=2)
            ),
            "command": draw(st.lists(TEXT, max_size=2)),
            "args": draw(st.lists(TEXT, max_size=2)),
        }
        if role is not ServiceRole.INIT:
            svc["ports"] = [
                {
                    "container": next(container_ports),
                    "host": next(host_ports) if draw(st.booleans()) else 0,
                    "protocol": draw(st.sampled_from(["tcp", "udp", "sctp", ""])),
                }
                for _ in range(draw(st.integers(0, 2)))
            ]
            if draw(st.booleans()):
                svc["health_check"] = draw(health_checks())
        svc["volumes"] = [
            {
                "name": f"v{k}",
                "mount_path": f"/data/v{k}",
                "size_mb": draw(st.integers(0, 1024)),
                "type": draw(st.sampled_from(["persistent", "tmpfs", ""])),
            }
            for k in range(draw(st.integers(0, 2)))
        ]
        svc["secrets"] = [
            {"key": key, "type": draw(st.sampled_from(["env", "file", "tls", "registry"]))}
            for key in draw(st.lists(SECRET_KEYS, unique=True, max_size=3))
        ]
        formats = draw(st.lists(st.sampled_from(list(ConfigFormat)), max_size=2))
        svc["config_files"] = [
            {
                "name": f"cfg{k}",
                "path": f"/etc/app/cfg{k}",
                "format": fmt.value,
                "content": draw(config_content(fmt)),
            }
            for k, fmt in enumerate(formats)
        ]
        services.append(svc)
    return ProvisionRequest.model_validate(
        {
            "instance_id": new_id("inst"),
            "tenant_id": draw(st.sampled_from(["", "ten_acme"])),
            "name": draw(NAMES),
            "kind": draw(st.sampled_from(["deployment", "stateful_set", ""])),
            "services": services,
            "labels": draw(
                st.dictionaries(st.text(LOWER, min_size=1, max_size=8), TEXT, max_size=3)
            ),
        }
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_requests())
def test_generated_valid_requests_validate_round_trip_and_order(req: ProvisionRequest) -> None:
    assert request_problems(req) == []
    assert ProvisionRequest.model_validate_json(req.to_json()) == req
    assert ProvisionRequest.model_validate(json.loads(req.to_json())) == req
    # startup_order: every service once, after its dependencies, inits before the rest.
    waves = startup_order(req.services)
    order = [s.name for wave in waves for s in wave]
    assert sorted(order) == sorted(s.name for s in req.services)
    position = {name: k for k, wave in enumerate(waves) for name in (s.name for s in wave)}
    for svc in req.services:
        for dep in svc.depends_on:
            assert position[dep] < position[svc.name]
    last_init = max(
        (position[s.name] for s in req.services if s.role is ServiceRole.INIT), default=-1
    )
    first_other = min(position[s.name] for s in req.services if s.role is not ServiceRole.INIT)
    assert last_init < first_other


# --- mutations: each breaks exactly one rule -----------------------------------------------

Data = dict[str, Any]
Mutation = Callable[[st.DataObject, Data], str]


def _services(d: Data) -> list[Data]:
    services: list[Data] = d["services"]
    return services


def _main_index(d: Data) -> int:
    return next(i for i, s in enumerate(_services(d)) if s.get("role", "main") in ("main", ""))


def _pick(data: st.DataObject, d: Data) -> int:
    return data.draw(st.integers(0, len(_services(d)) - 1))


def _append(d: Data, **svc: Any) -> int:
    _services(d).append({"image": "busybox", **svc})
    return len(_services(d)) - 1


def bad_instance_id(data: st.DataObject, d: Data) -> str:
    d["instance_id"] = data.draw(st.sampled_from(["", "not-an-id", "inst_short"]))
    return "instance_id"


def no_services(data: st.DataObject, d: Data) -> str:
    d["services"] = []
    return "services"


def bad_service_name(data: st.DataObject, d: Data) -> str:
    i = _pick(data, d)
    old = _services(d)[i]["name"]
    new = data.draw(st.sampled_from(["Bad_" + old, old + "-", "-" + old, old + "." + old]))
    for svc in _services(d):
        svc["depends_on"] = [new if dep == old else dep for dep in svc.get("depends_on", [])]
    _services(d)[i]["name"] = new
    return f"services[{i}].name"


def duplicate_service_name(data: st.DataObject, d: Data) -> str:
    j = _pick(data, d)
    original = _services(d)[j]
    role = original.get("role", "main") or "main"
    i = _append(d, name=original["name"], role="sidecar" if role == "main" else role)
    return f"services[{i}].name"


def second_main(data: st.DataObject, d: Data) -> str:
    i = _append(d, name="x-fresh1", role=data.draw(st.sampled_from(["main", ""])))
    return f"services[{i}].role"


def no_main(data: st.DataObject, d: Data) -> str:
    _services(d)[_main_index(d)]["role"] = "sidecar"
    return "services"


def unknown_dependency(data: st.DataObject, d: Data) -> str:
    i = _pick(data, d)
    deps = _services(d)[i].setdefault("depends_on", [])
    deps.append("ghost-absent")
    return f"services[{i}].depends_on[{len(deps) - 1}]"


def self_dependency(data: st.DataObject, d: Data) -> str:
    i = _pick(data, d)
    deps = _services(d)[i].setdefault("depends_on", [])
    deps.append(_services(d)[i]["name"])
    return f"services[{i}].depends_on[{len(deps) - 1}]"


def dependency_cycle(data: st.DataObject, d: Data) -> str:
    first = _append(d, name="x-fresh1", role="sidecar", depends_on=["y-fresh2"])
    _append(d, name="y-fresh2", role="sidecar", depends_on=["x-fresh1"])
    return f"services[{first}].depends_on"


def init_depends_on_main(data: st.DataObject, d: Data) -> str:
    main = _services(d)[_main_index(d)]["name"]
    return f"services[{_append(d, name='x-fresh1', role='init', depends_on=[main])}].depends_on[0]"


def _add_port(d: Data, i: int, port: Data) -> str:
    ports = _services(d)[i].setdefault("ports", [])
    ports.append(port)
    return f"services[{i}].ports[{len(ports) - 1}]"


def container_port_out_of_range(data: st.DataObject, d: Data) -> str:
    port = data.draw(st.sampled_from([0, -1, 65536, 100_000]))
    return _add_port(d, _main_index(d), {"container": port}) + ".container"


def host_port_out_of_range(data: st.DataObject, d: Data) -> str:
    port = data.draw(st.sampled_from([-1, 65536]))
    return _add_port(d, _main_index(d), {"container": 65000, "host": port}) + ".host"


def container_port_twice(data: st.DataObject, d: Data) -> str:
    protocol = data.draw(st.sampled_from(["tcp", "udp", "sctp"]))
    _add_port(d, _main_index(d), {"container": 65001, "protocol": protocol})
    i = _append(d, name="x-fresh1", role="sidecar")
    return _add_port(d, i, {"container": 65001, "protocol": protocol}) + ".container"


def host_port_twice(data: st.DataObject, d: Data) -> str:
    _add_port(d, _main_index(d), {"container": 65002, "host": 65002})
    i = _append(d, name="x-fresh1", role="sidecar")
    return _add_port(d, i, {"container": 65003, "host": 65002}) + ".host"


def _add_volume(d: Data, i: int, volume: Data) -> str:
    volumes = _services(d)[i].setdefault("volumes", [])
    volumes.append({"size_mb": 0, **volume})
    return f"services[{i}].volumes[{len(volumes) - 1}]"


def bad_volume_name(data: st.DataObject, d: Data) -> str:
    name = data.draw(st.sampled_from(["Bad_Vol", "", "vol-"]))
    return _add_volume(d, _pick(data, d), {"name": name, "mount_path": "/mnt/fresh"}) + ".name"


def bad_mount_path(data: st.DataObject, d: Data) -> str:
    mount = data.draw(st.sampled_from(["relative/x", "/", "/mnt/", "/a/../b"]))
    return _add_volume(d, _pick(data, d), {"name": "x-fresh1", "mount_path": mount}) + ".mount_path"


def mount_path_twice(data: st.DataObject, d: Data) -> str:
    i = _pick(data, d)
    _add_volume(d, i, {"name": "x-fresh1", "mount_path": "/mnt/dup"})
    return _add_volume(d, i, {"name": "x-fresh2", "mount_path": "/mnt/dup"}) + ".mount_path"


def negative_resource(data: st.DataObject, d: Data) -> str:
    i = _pick(data, d)
    field = data.draw(st.sampled_from(["cpu_millis", "memory_mb", "disk_mb", "replicas"]))
    _services(d)[i]["resources"][field] = -data.draw(st.integers(1, 10**6))
    return f"services[{i}].resources.{field}"


BROKEN_CHECKS: list[tuple[Data, str]] = [
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"port": 80, "interval": 1000 * MS, "timeout": 2000 * MS}, "timeout"),
    ({"port": 80, "retries": -1}, "retries"),
    ({"port": 80, "interval": MS // 2}, "interval"),
    ({"port": 80, "timeout": MS // 4}, "timeout"),
]


def broken_health_check(data: st.DataObject, d: Data) -> str:
    i = _main_index(d)
    check, field = data.draw(st.sampled_from(BROKEN_CHECKS))
    _services(d)[i]["health_check"] = check
    return f"services[{i}].health_check.{field}"


def _add_secret(d: Data, i: int, secret: Data) -> str:
    secrets = _services(d)[i].setdefault("secrets", [])
    secrets.append(secret)
    return f"services[{i}].secrets[{len(secrets) - 1}]"


def bad_secret_key(data: st.DataObject, d: Data) -> str:
    key = data.draw(st.sampled_from(["bad key", "../up", "/abs", "a//b", ""]))
    return _add_secret(d, _pick(data, d), {"key": key, "type": "registry"}) + ".key"


def bad_secret_target(data: st.DataObject, d: Data) -> str:
    secret = data.draw(
        st.sampled_from(
            [
                {"key": "x-fresh", "type": "env", "target": "1BAD"},
                {"key": "x-fresh", "type": "file", "target": "relative"},
                {"key": "x-fresh", "type": "registry", "target": "/x"},
            ]
        )
    )
    return _add_secret(d, _pick(data, d), secret) + ".target"


def _add_config(d: Data, i: int, config: Data) -> str:
    configs = _services(d)[i].setdefault("config_files", [])
    configs.append(config)
    return f"services[{i}].config_files[{len(configs) - 1}]"


def bad_config_path(data: st.DataObject, d: Data) -> str:
    config = {"name": "x-fresh1", "path": "etc/x", "format": "text", "content": ""}
    return _add_config(d, _pick(data, d), config) + ".path"


def bad_config_content(data: st.DataObject, d: Data) -> str:
    fmt, content = data.draw(st.sampled_from([("json", "{oops"), ("json", ""), ("yaml", "a: [1")]))
    config = {"name": "x-fresh1", "path": "/opt/fresh", "format": fmt, "content": content}
    return _add_config(d, _pick(data, d), config) + ".content"


def empty_label_key(data: st.DataObject, d: Data) -> str:
    d.setdefault("labels", {})[""] = "x"
    return "labels"


MUTATIONS: list[Mutation] = [
    bad_instance_id,
    no_services,
    bad_service_name,
    duplicate_service_name,
    second_main,
    no_main,
    unknown_dependency,
    self_dependency,
    dependency_cycle,
    init_depends_on_main,
    container_port_out_of_range,
    host_port_out_of_range,
    container_port_twice,
    host_port_twice,
    bad_volume_name,
    bad_mount_path,
    mount_path_twice,
    negative_resource,
    broken_health_check,
    bad_secret_key,
    bad_secret_target,
    bad_config_path,
    bad_config_content,
    empty_label_key,
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_requests(), st.sampled_from(MUTATIONS), st.data())
def test_breaking_one_rule_reports_exactly_its_path(
    req: ProvisionRequest, mutate: Mutation, data: st.DataObject
) -> None:
    body = req.to_wire()
    expected = mutate(data, body)
    broken = ProvisionRequest.model_validate(body)
    assert [p.path for p in request_problems(broken)] == [expected]
