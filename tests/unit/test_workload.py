"""Workload files: YAML/JSON written by people, with human durations and every problem at once."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.ids import parse_id
from ctrlplane.provider import ServiceRole, WorkloadKind
from ctrlplane.workload import load_workload, parse_workload, read_workload_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IID = "inst_01h455vb4pex5vsknk084sn02q"

WEB_YAML = """\
name: shop
kind: stateful_set
labels: {team: web, tier: 1}
services:
  - name: web
    image: nginx:1.27
    env: {PORT: 8080, DEBUG: false}
    ports: [{container: 8080}]
    health_check:
      path: /healthz
      port: 8080
      interval: 10      # seconds in a workload file
      timeout: 1.5
      retries: 3
  - name: seed
    role: init
    image: busybox
    command: [sh, -c, "echo ok"]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_yaml_with_human_durations(tmp_path: Path) -> None:
    req = load_workload(write(tmp_path, "app.yaml", WEB_YAML))
    assert req.name == "shop"
    assert req.kind is WorkloadKind.STATEFUL_SET
    assert req.labels == {"team": "web", "tier": "1"}
    web = req.service("web")
    assert web.env == {"PORT": "8080", "DEBUG": "false"}
    assert web.health_check is not None
    assert web.health_check.interval == timedelta(seconds=10)
    assert web.health_check.timeout == timedelta(seconds=1.5)
    assert req.service("seed").role is ServiceRole.INIT
    assert req.service("seed").command == ["sh", "-c", "echo ok"]
    parse_id(req.instance_id, "inst")  # a fresh instance ID was minted


def test_go_duration_strings_in_files(tmp_path: Path) -> None:
    text = WEB_YAML.replace("interval: 10 ", "interval: 1m30s").replace("1.5", "250ms")
    hc = load_workload(write(tmp_path, "app.yml", text)).service("web").health_check
    assert hc is not None
    assert (hc.interval, hc.timeout) == (timedelta(seconds=90), timedelta(milliseconds=250))


def test_load_json(tmp_path: Path) -> None:
    data = {
        "name": "api",
        "services": [
            {"name": "api", "image": "api:1", "health_check": {"port": 80, "interval": 5}}
        ],
    }
    req = load_workload(write(tmp_path, "app.json", json.dumps(data)))
    assert req.services[0].health_check is not None
    assert req.services[0].health_check.interval == timedelta(seconds=5)


def test_instance_id_from_argument_or_file(tmp_path: Path) -> None:
    path = write(tmp_path, "app.yaml", WEB_YAML)
    assert load_workload(path, instance_id=IID).instance_id == IID
    with_id = write(tmp_path, "with-id.yaml", f"instance_id: {IID}\n{WEB_YAML}")
    assert load_workload(with_id).instance_id == IID
    other = "inst_01h455vb4pex5vsknk084sn02r"
    assert load_workload(with_id, instance_id=other).instance_id == other
    first, second = load_workload(path), load_workload(path)
    assert first.instance_id != second.instance_id


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: x\nservices:\n  - name: web\n    image: [oops\n")
    with pytest.raises(InvalidSpec) as info:
        load_workload(path)
    text = str(info.value)
    assert "not valid YAML/JSON at line" in text
    assert str(path) in text
    assert info.value.subject == "workload file"


def test_json_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="line 1"):
        load_workload(write(tmp_path, "bad.json", '{"name": "x",}'))


@pytest.mark.parametrize("text", ["- just\n- a list\n", "", "42\n", "just a string\n"])
def test_non_mapping_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidSpec, match="must hold a mapping"):
        read_workload_data(write(tmp_path, "w.yaml", text))


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="cannot read"):
        load_workload(tmp_path / "absent.yaml")


def test_every_problem_is_reported_with_its_path(tmp_path: Path) -> None:
    text = """\
name: broken
services:
  - name: Web
    image: nginx
    depends_on: [db]
    ports: [{container: 70000}]
  - name: side
    role: sidecar
    image: busybox
    resources: {replicas: -1}
    health_check: {port: 80, interval: 1, timeout: 5}
"""
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(InvalidSpec) as info:
        load_workload(path)
    assert sorted(p.path for p in info.value.problems) == [
        "services[0].depends_on[0]",
        "services[0].name",
        "services[0].ports[0].container",
        "services[1].health_check.timeout",
        "services[1].resources.replicas",
    ]
    assert str(path) in info.value.subject


def test_structural_problems_are_all_reported_with_paths(tmp_path: Path) -> None:
    text = """\
name: typo
servises: []
services:
  - name: web
    image: nginx
    command: nginx -g 'daemon off;'
    ports: [{container: http}]
    health_check: {port: 80, interval: soon}
"""
    with pytest.raises(InvalidSpec) as info:
        load_workload(write(tmp_path, "typo.yaml", text))
    assert sorted(p.path for p in info.value.problems) == [
        "services[0].command",
        "services[0].health_check.interval",
        "services[0].ports[0].container",
        "servises",
    ]


def test_parse_workload_from_data() -> None:
    req = parse_workload({"services": [{"name": "web", "image": "nginx"}]}, instance_id=IID)
    assert req.instance_id == IID
    assert req.main.name == "web"
    with pytest.raises(InvalidSpec) as info:
        parse_workload({"services": []}, source="inline")
    assert info.value.subject == "inline"
    assert [p.path for p in info.value.problems] == ["services"]


@pytest.mark.parametrize("name", ["hello-web.yaml", "web-with-init.yaml"])
def test_examples_load_cleanly(name: str) -> None:
    req = load_workload(EXAMPLES / name)
    assert req.services
    assert req.main.health_check is not None
    assert req.main.health_check.interval == timedelta(seconds=5)


def test_example_with_init_has_init_sidecar_and_volume() -> None:
    req = load_workload(EXAMPLES / "web-with-init.yaml")
    roles = {s.name: s.role for s in req.services}
    assert sorted(roles.values()) == sorted(
        [ServiceRole.INIT, ServiceRole.MAIN, ServiceRole.SIDECAR]
    )
    assert any(s.volumes for s in req.services)
