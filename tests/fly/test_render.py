"""The pure translation: specs -> Machines API bodies (no I/O), checked against the
Swagger file and for what they must never hold (secret values)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from ctrlplane.errors import InvalidSpec, NotSupported
from ctrlplane.provider.fly import FlyConfig, FlyProvider
from ctrlplane.provider.fly.render import machine_config, secret_name
from ctrlplane.provider.fly.render.checks import go_duration, machine_checks
from ctrlplane.provider.fly.render.guest import guest
from ctrlplane.provider.fly.render.machine import Placement
from ctrlplane.provider.fly.render.names import app_name, volume_name
from ctrlplane.provider.redaction import MASK
from ctrlplane.provider.spec import (
    ConfigFile,
    HealthCheckSpec,
    PortSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceSpec,
    VolumeSpec,
)

from .fake_machines.schema import api

IID = "inst_01h455vb4pex5vsknk084sn02q"
CONFIG = FlyConfig(token="fly-secret-token-value", regions=["ams", "fra"])


def _place(replica: int = 0) -> Placement:
    return Placement(IID, "acme", "ctrlplane-01h455vb4pex5vsknk084sn02q", replica, "ams", "rel_1")


def _request(
    *services: ServiceSpec, replicas: int = 0, kind: str = "deployment"
) -> ProvisionRequest:
    resources = services[0].resources.model_copy(update={"replicas": replicas})
    first = services[0].model_copy(update={"resources": resources})
    return ProvisionRequest(
        instance_id=IID, tenant_id="acme", name="shop", kind=kind, services=[first, *services[1:]]
    )


WEB = ServiceSpec(
    name="web",
    image="registry.example/web:1",
    command=["/bin/web"],
    args=["--port", "8080"],
    env={"MODE": "prod"},
    ports=[PortSpec(container=8080, host=80)],
    health_check=HealthCheckSpec(path="/healthz", port=8080, interval=timedelta(seconds=5)),
    secrets=[SecretRef(key="api-token"), SecretRef(key="db/password", type="file")],
    config_files=[ConfigFile(name="conf", path="/etc/web.json", format="json", content="{}")],
)


def test_app_names_follow_the_instance_and_the_config() -> None:
    assert app_name(CONFIG, IID) == "ctrlplane-01h455vb4pex5vsknk084sn02q"
    assert app_name(CONFIG.model_copy(update={"app": "mine"}), IID) == "mine"
    long = app_name(CONFIG.model_copy(update={"app_prefix": "x" * 30}), IID)
    assert len(long) <= 63


def test_a_service_machine_names_secrets_and_never_holds_their_values() -> None:
    config = machine_config(WEB, _place(), CONFIG)
    text = json.dumps(config)
    assert config["image"] == "registry.example/web:1"
    assert config["init"] == {"entrypoint": ["/bin/web"], "cmd": ["--port", "8080"]}
    assert config["env"] == {"MODE": "prod"}
    assert config["processes"] == [
        {
            "ignore_app_secrets": True,
            "secrets": [{"env_var": "API_TOKEN", "name": secret_name(IID, "api-token")}],
        }
    ]
    files = {f["guest_path"]: f for f in config["files"]}
    assert files["/run/secrets/db/password"] == {
        "guest_path": "/run/secrets/db/password",
        "secret_name": secret_name(IID, "db/password", file=True),
    }
    assert base64.b64decode(files["/etc/web.json"]["raw_value"]) == b"{}"
    assert config["services"] == [
        {
            "protocol": "tcp",
            "internal_port": 8080,
            "ports": [{"port": 80}],
            "autostart": False,
            "autostop": False,
        }
    ]
    assert config["checks"]["health"]["type"] == "http"
    assert config["checks"]["health"]["interval"] == "5s"
    assert config["restart"] == {"policy": "on-failure", "max_retries": 3}
    assert config["metadata"]["fly_process_group"] == "web"
    assert config["dns"] == {"searches": ["process.ctrlplane-01h455vb4pex5vsknk084sn02q.internal"]}
    assert "raw_value" not in json.dumps([f for f in config["files"] if "secret_name" in f])
    assert "fly-secret-token-value" not in text


def test_an_init_runs_once_and_destroys_itself() -> None:
    init = ServiceSpec(name="migrate", image="web:1", role="init", command=["migrate"])
    config = machine_config(init, _place(), CONFIG)
    assert config["auto_destroy"] is True
    assert config["restart"] == {"policy": "no"}
    assert "services" not in config
    assert "checks" not in config


def test_secret_names_are_env_names_and_do_not_collide() -> None:
    a, b = secret_name(IID, "db/password"), secret_name(IID, "db_password")
    assert a != b
    assert a.startswith("CP_DB_PASSWORD_")
    assert secret_name(IID, "k", file=True).endswith("_FILE")
    assert secret_name("inst_other", "k") != secret_name(IID, "k")


@pytest.mark.parametrize(
    ("resources", "cpus", "memory"),
    [
        (ResourceSpec(), 1, 256),
        (ResourceSpec(memory_mb=64), 1, 256),
        (ResourceSpec(memory_mb=300), 1, 512),
        (ResourceSpec(cpu_millis=1500), 2, 256),
        (ResourceSpec(memory_mb=3000), 2, 3072),
        (ResourceSpec(cpu_millis=250, memory_mb=512), 1, 512),
    ],
)
def test_guest_sizes_round_up_to_flys(resources: ResourceSpec, cpus: int, memory: int) -> None:
    assert guest(resources, CONFIG) == {"cpu_kind": "shared", "cpus": cpus, "memory_mb": memory}


def test_checks() -> None:
    tcp = machine_checks(HealthCheckSpec(port=5432), CONFIG)
    assert tcp == {
        "health": {
            "type": "tcp",
            "port": 5432,
            "interval": "10s",
            "timeout": "2s",
            "grace_period": "0s",
        }
    }
    assert machine_checks(HealthCheckSpec(command=["true"]), CONFIG) == {}
    assert go_duration(timedelta(milliseconds=250)) == "250ms"
    assert go_duration(timedelta(minutes=2)) == "120s"


def test_volume_names_fit_fly() -> None:
    assert volume_name("pg-data", 3) == "pg_data_3"
    assert len(volume_name("a" * 63, 12)) <= 30


def test_render_lists_every_request_valid_per_the_swagger_file_with_secrets_redacted() -> None:
    db = ServiceSpec(
        name="db",
        image="postgres:16",
        role="sidecar",
        volumes=[VolumeSpec(name="pg-data", mount_path="/var/lib/postgresql", size_mb=3000)],
    )
    init = ServiceSpec(name="migrate", image="web:1", role="init", depends_on=[])
    req = _request(
        WEB.model_copy(update={"depends_on": ["db"]}), db, init, replicas=2, kind="stateful_set"
    )
    rendered = FlyProvider(CONFIG).render(req)
    urls = [(r["method"], r["url"].split("/v1")[-1]) for r in rendered]
    app = "ctrlplane-01h455vb4pex5vsknk084sn02q"
    assert urls[:2] == [("POST", "/apps"), ("POST", f"/apps/{app}/machines")]
    assert rendered[1]["body"]["skip_launch"] is True
    secrets = rendered[2]
    assert secrets["url"] == CONFIG.graphql_url
    values = secrets["body"]["variables"]["input"]["secrets"]
    assert {v["value"] for v in values} == {MASK}
    names = [r["body"].get("name") for r in rendered[3:]]
    assert names == [
        "pg_data_0",
        "migrate-0-init",
        "db-0",
        "web-0",
        "pg_data_1",
        "migrate-1-init",
        "db-1",
        "web-1",
    ]
    assert rendered[3]["body"]["size_gb"] == 3
    assert rendered[5]["body"]["config"]["mounts"] == [
        {"volume": "<volume pg_data_0>", "path": "/var/lib/postgresql"}
    ]
    assert rendered[8]["body"]["region"] == "fra"
    ops = api().operations
    for item in rendered:
        if item["url"].endswith("/apps"):
            validator = ops["Apps_create"].body
        elif item["url"].endswith("/machines"):
            validator = ops["Machines_create"].body
        elif item["url"].endswith("/volumes"):
            validator = ops["Volumes_create"].body
        else:
            continue
        assert validator is not None
        assert list(validator.iter_errors(item["body"])) == [], item
    assert "fly-secret-token-value" not in json.dumps(rendered)


@pytest.mark.parametrize(
    ("service", "wanted"),
    [
        (
            WEB.model_copy(update={"secrets": [SecretRef(key="pull", type="registry")]}),
            "registry secret",
        ),
        (
            WEB.model_copy(
                update={"volumes": [VolumeSpec(name="scratch", mount_path="/s", type="tmpfs")]}
            ),
            "tmpfs",
        ),
        (
            WEB.model_copy(
                update={
                    "volumes": [
                        VolumeSpec(name="a", mount_path="/a"),
                        VolumeSpec(name="b", mount_path="/b"),
                    ]
                }
            ),
            "at most one",
        ),
        (WEB.model_copy(update={"ports": [PortSpec(container=9000, protocol="sctp")]}), "sctp"),
    ],
)
def test_what_fly_cannot_run_is_refused_before_any_call(service: ServiceSpec, wanted: str) -> None:
    with pytest.raises(NotSupported) as caught:
        FlyProvider(CONFIG).render(_request(service))
    assert wanted in str(caught.value)


def test_a_shared_deployment_volume_needs_a_stateful_set() -> None:
    vol = WEB.model_copy(update={"volumes": [VolumeSpec(name="data", mount_path="/data")]})
    with pytest.raises(NotSupported, match="use kind stateful_set"):
        FlyProvider(CONFIG).render(_request(vol, replicas=2))
    FlyProvider(CONFIG).render(_request(vol, replicas=2, kind="stateful_set"))


def test_more_than_a_machine_holds_is_invalid() -> None:
    big = WEB.model_copy(update={"resources": ResourceSpec(cpu_millis=32000)})
    with pytest.raises(InvalidSpec) as caught:
        FlyProvider(CONFIG).render(_request(big))
    assert caught.value.problems[0].path == "services[0].resources.cpu_millis"
