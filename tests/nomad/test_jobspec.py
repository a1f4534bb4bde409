"""The pure translation: spec -> Nomad job JSON, checked against the documented job fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ctrlplane.errors import InvalidSpec, NotSupported
from ctrlplane.provider.enums import SecretType, ServiceRole
from ctrlplane.provider.nomad import NomadProvider
from ctrlplane.provider.nomad.config import NomadConfig
from ctrlplane.provider.nomad.limits import parse_version, preflight, version_refusals
from ctrlplane.provider.nomad.observe.checks import FailureCounter, check_limits
from ctrlplane.provider.nomad.observe.history import (
    created_at,
    release_meta,
    releases_from_versions,
    request_from_job,
)
from ctrlplane.provider.nomad.observe.listing import list_filter
from ctrlplane.provider.nomad.observe.placement import placement_failure, volume_hint
from ctrlplane.provider.nomad.render import (
    ReleaseMeta,
    cpu_mhz,
    port_label,
    translate,
    variable_path,
)
from ctrlplane.provider.nomad.render.hooks import Phase, phases
from ctrlplane.provider.nomad.render.meta import CREATED_AT, RELEASE, RELEASED_AT
from ctrlplane.provider.nomad.render.shape import job_shape
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

from .fake_agent.schema import job_problems


def check_supported(req: ProvisionRequest, cfg: NomadConfig) -> None:
    """The provider's preflight of a provision request: raises what it refuses."""
    preflight(cfg).provision(req)


def check_version(req: ProvisionRequest, cfg: NomadConfig, version: str) -> None:
    """The preflight's refusal of what the agent's ``version`` cannot run: raises it."""
    preflight(cfg).refuse(version_refusals(req, cfg, version))


IID = "inst_01h455vb4pex5vsknk084sn02q"
REL = ReleaseMeta("rel_01h455vb4pex5vsknk084sn02r", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
CFG = NomadConfig(
    namespace="team-a", region="eu", datacenters=["dc1", "dc2"], dependency_health="started"
)
"""``FULL`` depends on health-checked services: these tests accept started-only ordering
(the default; the configured refusal is tested in ``test_checks_and_ordering.py``)."""
NATIVE = CFG.model_copy(update={"service_provider": "nomad"})

JSON = dict[str, Any]


def _svc(name: str, role: ServiceRole = ServiceRole.MAIN, **kw: object) -> ServiceSpec:
    return ServiceSpec.model_validate({"name": name, "image": f"img/{name}:1", "role": role, **kw})


def _req(*services: ServiceSpec, **kw: object) -> ProvisionRequest:
    return ProvisionRequest.model_validate(
        {"instance_id": IID, "tenant_id": "t1", "name": "shop", "services": services, **kw}
    )


def _job(req: ProvisionRequest, cfg: NomadConfig = CFG) -> JSON:
    check_supported(req, cfg)
    job = translate(req, REL, cfg)
    assert job_problems(job, namespace=cfg.namespace) == []
    json.dumps(job)  # plain JSON
    return job


def _group(job: JSON) -> JSON:
    groups = job["TaskGroups"]
    assert isinstance(groups, list)
    assert len(groups) == 1
    group: JSON = groups[0]
    return group


def _tasks(job: JSON) -> dict[str, JSON]:
    return {t["Name"]: t for t in _group(job)["Tasks"]}


FULL = _req(
    _svc(
        "web",
        ports=[{"container": 8080}, {"container": 9090}],
        health_check={"path": "/healthz", "port": 8080, "interval": "5s", "timeout": "1s"},
        resources={"cpu_millis": 500, "memory_mb": 256, "replicas": 3, "disk_mb": 500},
        command=["/bin/server"],
        args=["--port", "8080"],
        env={"MODE": "prod"},
        depends_on=["db", "migrate"],
        config_files=[{"name": "app", "path": "/etc/app.json", "format": "json", "content": "{}"}],
        secrets=[{"key": "api-token"}, {"key": "db/password", "type": "file"}],
        annotations={"team": "payments"},
    ),
    _svc("db", ServiceRole.SIDECAR, ports=[{"container": 5432}], health_check={"port": 5432}),
    _svc("migrate", ServiceRole.INIT),
    _svc("shipper", ServiceRole.SIDECAR, depends_on=["web"]),
    labels={"team": "payments"},
)


def test_full_job_matches_the_documented_fields() -> None:
    job = _job(FULL)
    assert job["ID"] == IID
    assert job["Type"] == "service"
    assert job["Namespace"] == "team-a"
    assert job["Region"] == "eu"
    assert job["Datacenters"] == ["dc1", "dc2"]
    group = _group(job)
    assert group["Count"] == 3
    assert set(_tasks(job)) == {"web", "db", "migrate", "shipper"}


def test_render_shows_the_job_released_and_created_now() -> None:
    """``ctrlplane render --provider nomad``: the rendered job's times are when it was
    rendered, not 1970; its release ID is a placeholder (provision mints one)."""
    before = datetime.now(UTC)
    (body,) = NomadProvider(CFG).render(FULL)
    job = body["Job"]
    assert job_problems(job, namespace=CFG.namespace) == []
    meta = job["Meta"]
    for key in (CREATED_AT, RELEASED_AT):
        assert before <= datetime.fromisoformat(meta[key]) <= datetime.now(UTC)
    assert meta[RELEASE] == "rel_" + "0" * 26
    assert created_at(job) == datetime.fromisoformat(meta[CREATED_AT])


def test_one_group_with_replicas_and_bridge_network() -> None:
    group = _group(_job(FULL))
    net = group["Networks"][0]
    assert net["Mode"] == "bridge"
    assert {"Label": "web_8080", "To": 8080} in net["DynamicPorts"]
    assert {"Label": "db_5432", "To": 5432} in net["DynamicPorts"]
    assert "ReservedPorts" not in net
    assert group["ReschedulePolicy"] == {"Attempts": 0, "Unlimited": False}
    assert group["EphemeralDisk"] == {"SizeMB": 500}


def test_fixed_host_ports_are_reserved() -> None:
    job = _job(_req(_svc("web", ports=[PortSpec(container=8080, host=18080)])))
    net = _group(job)["Networks"][0]
    assert net["ReservedPorts"] == [{"Label": "web_8080", "Value": 18080, "To": 8080}]


def test_lifecycle_hooks() -> None:
    tasks = _tasks(_job(FULL))
    assert tasks["migrate"]["Lifecycle"] == {"Hook": "prestart", "Sidecar": False}
    assert tasks["db"]["Lifecycle"] == {"Hook": "prestart", "Sidecar": True}
    assert "Lifecycle" not in tasks["web"]
    assert tasks["shipper"]["Lifecycle"] == {"Hook": "poststart", "Sidecar": True}
    assert tasks["migrate"]["RestartPolicy"]["Attempts"] == 0


def test_phases_of_sidecars_that_depend_on_inits_are_poststart() -> None:
    req = _req(
        _svc("app"),
        _svc("init", ServiceRole.INIT),
        _svc("side", ServiceRole.SIDECAR, depends_on=["init"]),
    )
    assert phases(req.services) == {
        "app": Phase.MAIN,
        "init": Phase.PRESTART,
        "side": Phase.POSTSTART_SIDECAR,
    }


@pytest.mark.parametrize(
    "services",
    [
        pytest.param(
            [
                _svc("app"),
                _svc("a", ServiceRole.INIT),
                _svc("b", ServiceRole.INIT, depends_on=["a"]),
            ],
            id="chained-inits",
        ),
        pytest.param(
            [
                _svc("app", depends_on=["late"]),
                _svc("late", ServiceRole.SIDECAR, depends_on=["early"]),
                _svc("early", ServiceRole.SIDECAR),
            ],
            id="main-after-poststart-sidecar",
        ),
        pytest.param(
            [
                _svc("app"),
                _svc("a", ServiceRole.SIDECAR, depends_on=["app"]),
                _svc("b", ServiceRole.SIDECAR, depends_on=["a"]),
            ],
            id="sidecar-after-poststart-sidecar",
        ),
    ],
)
def test_unorderable_depends_on_is_not_supported(services: list[ServiceSpec]) -> None:
    with pytest.raises(NotSupported) as caught:
        check_supported(_req(*services), CFG)
    assert "depends_on" in str(caught.value)


def test_docker_config_and_extra_hosts() -> None:
    web = _tasks(_job(FULL))["web"]
    cfg = web["Config"]
    assert cfg["image"] == "img/web:1"
    assert cfg["entrypoint"] == ["/bin/server"]
    assert cfg["command"] == "--port"
    assert cfg["args"] == ["8080"]
    assert cfg["extra_hosts"] == [
        "web:127.0.0.1",
        "db:127.0.0.1",
        "migrate:127.0.0.1",
        "shipper:127.0.0.1",
    ]
    assert web["Env"] == {"MODE": "prod"}
    assert web["Meta"] == {"team": "payments"}
    assert web["Driver"] == "docker"


@pytest.mark.parametrize(
    ("millis", "per_core", "mhz"),
    [(1000, 1000, 1000), (250, 2400, 600), (1, 2400, 3), (333, 1000, 333), (0, 1000, 100)],
)
def test_cpu_millicores_become_mhz(millis: int, per_core: int, mhz: int) -> None:
    assert cpu_mhz(NomadConfig(mhz_per_core=per_core), millis) == mhz


def test_resources() -> None:
    cfg = NomadConfig(mhz_per_core=2000, default_memory_mb=64, dependency_health="started")
    tasks = _tasks(_job(FULL, cfg))
    assert tasks["web"]["Resources"] == {"CPU": 1000, "MemoryMB": 256}
    assert tasks["db"]["Resources"] == {"CPU": 100, "MemoryMB": 64}


def test_services_and_checks() -> None:
    services = _group(_job(FULL))["Services"]
    by_label = {s["PortLabel"]: s for s in services}
    web = by_label["web_8080"]
    assert web["Provider"] == "nomad"
    assert web["TaskName"] == "web"
    assert web["Name"] == "web-01h455vb4pex5vsknk084sn02q"
    assert web["Checks"] == [
        {
            "Name": "web-health",
            "Interval": 5_000_000_000,
            "Timeout": 1_000_000_000,
            "Type": "http",
            "Path": "/healthz",
            "PortLabel": "web_8080",
        }
    ]
    db = by_label["db_5432"]["Checks"][0]
    assert (db["Type"], db["Interval"], db["Timeout"]) == ("tcp", 10_000_000_000, 2_000_000_000)
    assert "Checks" not in by_label["web_9090"]


def test_short_check_intervals_are_raised_to_nomads_minimum() -> None:
    hc = HealthCheckSpec(path="/", port=80, interval=timedelta(milliseconds=200))
    job = _job(_req(_svc("web", ports=[{"container": 80}], health_check=hc)))
    check = _group(job)["Services"][0]["Checks"][0]
    assert check["Interval"] == check["Timeout"] == 1_000_000_000


def test_health_check_port_without_a_declared_port_gets_one() -> None:
    job = _job(_req(_svc("web", health_check={"port": 7000})))
    net = _group(job)["Networks"][0]
    assert net["DynamicPorts"] == [{"Label": "web_7000", "To": 7000}]


def test_exec_checks_are_consul_script_checks_or_the_providers_own_probes() -> None:
    req = _req(_svc("web", health_check={"command": ["pg_isready"]}))
    native = _job(req)  # no Consul: Nomad's native checks have no script checks
    assert native["Update"]["HealthCheck"] == "manual"
    assert _group(native)["Services"] == []  # no port to register, the check is ours
    job = _job(req, CFG.model_copy(update={"service_provider": "consul"}))
    assert job["Update"]["HealthCheck"] == "checks"
    service = _group(job)["Services"][0]
    assert service["Provider"] == "consul"
    assert service["Checks"][0]["Type"] == "script"
    assert service["Checks"][0]["Command"] == "pg_isready"
    assert service["Checks"][0]["TaskName"] == "web"


@pytest.mark.parametrize(
    ("version", "consul", "registration", "health"),
    [
        ("1.7.7", False, "nomad", "checks"),
        ("1.7.7", True, "consul", "checks"),
        ("1.3.5", False, "nomad", "manual"),
        ("1.1.2", False, "none", "manual"),
        ("1.1.2", True, "consul", "checks"),
        ("", None, "nomad", "checks"),
    ],
)
def test_job_shape_follows_the_agent(
    version: str, consul: bool | None, registration: str, health: str
) -> None:
    web = _svc("web", ports=[{"container": 80}], health_check={"path": "/", "port": 80})
    req = _req(web)
    shape = job_shape(req, CFG, version=version, consul=consul, datacenters=("dc9",))
    assert (shape.registration, shape.health) == (registration, health)
    job = translate(req, REL, CFG, shape=shape)
    assert job["Update"]["HealthCheck"] == health
    services: Any = _group(job).get("Services")
    if registration == "none":
        assert services == []
        assert _group(job)["Networks"][0]["DynamicPorts"] == [{"Label": "web_80", "To": 80}]
    else:
        assert services[0]["Provider"] == registration
        assert ("Checks" in services[0]) == (health == "checks")
    idle = _req(_svc("app"))
    assert job_shape(idle, CFG, version=version).health == "task_states"


def test_the_star_datacenter_becomes_the_nodes_datacenters_before_1_5() -> None:
    req = _req(_svc("app"))
    cfg = NomadConfig()
    assert job_shape(req, cfg, version="1.4.2", datacenters=("dc1", "dc2")).datacenters == (
        "dc1",
        "dc2",
    )
    assert job_shape(req, cfg, version="1.5.0", datacenters=("dc1",)).datacenters == ("*",)
    assert job_shape(req, CFG, version="1.1.2", datacenters=("x",)).datacenters == ("dc1", "dc2")


def test_config_files_are_literal_templates_mounted_at_their_path() -> None:
    tricky = "{{ not a template }} [[ctrlplane-0< also not"
    req = _req(
        _svc("app", config_files=[ConfigFile(name="cfg", path="/etc/x.conf", content=tricky)])
    )
    task = _tasks(_job(req))["app"]
    (tmpl,) = task["Templates"]
    assert tmpl["EmbeddedTmpl"] == tricky
    assert tmpl["LeftDelim"] not in tricky
    assert tmpl["RightDelim"] not in tricky
    assert tmpl["DestPath"] == "local/ctrlplane/config/cfg"
    assert task["Config"]["volumes"] == ["local/ctrlplane/config/cfg:/etc/x.conf:ro"]


def test_secrets_are_variable_lookups_never_values() -> None:
    task = _tasks(_job(FULL))["web"]
    templates = task["Templates"]
    path = variable_path(CFG, IID, "web")
    assert path == f"nomad/jobs/{IID}/unit/web"
    env = next(t for t in templates if t.get("Envvars"))
    assert env["EmbeddedTmpl"] == (
        f'API_TOKEN={{{{ with nomadVar "{path}" }}}}{{{{ .secret_0 }}}}{{{{ end }}}}\n'
    )
    file = next(t for t in templates if t["DestPath"] == "secrets/ctrlplane/file_1")
    assert ".secret_1" in file["EmbeddedTmpl"]
    assert "secrets/ctrlplane/file_1:/run/secrets/db/password:ro" in task["Config"]["volumes"]


def test_meta_records_the_request_and_release() -> None:
    job = _job(FULL)
    meta = job["Meta"]
    assert meta["ctrlplane_instance_id"] == IID
    assert meta["ctrlplane_tenant_id"] == "t1"
    assert meta["ctrlplane_release_id"] == REL.release_id
    assert meta["team"] == "payments"
    assert request_from_job(job) == FULL
    assert release_meta(job) == REL


def test_translation_is_deterministic() -> None:
    assert translate(FULL, REL, CFG) == translate(FULL, REL, CFG)


def test_host_network_mode() -> None:
    cfg = CFG.model_copy(update={"network_mode": "host"})
    req = _req(_svc("web", ports=[{"container": 8080}]))
    job = _job(req, cfg)
    net = _group(job)["Networks"][0]
    assert net == {"Mode": "host", "ReservedPorts": [{"Label": "web_8080", "Value": 8080}]}
    assert _tasks(job)["web"]["Config"]["network_mode"] == "host"
    moved = _req(_svc("web", ports=[PortSpec(container=8080, host=80)]))
    with pytest.raises(NotSupported, match="host network mode"):
        check_supported(moved, cfg)


@pytest.mark.parametrize(
    "service",
    [
        _svc("app", resources=ResourceSpec(gpu="nvidia")),
        _svc(
            "app",
            secrets=[
                SecretRef(key="pull", type=SecretType.REGISTRY),
                SecretRef(key="other", type=SecretType.REGISTRY),
            ],
        ),
        _svc("app", ports=[PortSpec(container=80, host=80)], resources=ResourceSpec(replicas=2)),
    ],
    ids=["gpu", "two-registry-secrets", "host-port-with-replicas"],
)
def test_unsupported_specs_are_refused(service: ServiceSpec) -> None:
    with pytest.raises(NotSupported):
        check_supported(_req(service), CFG)


def test_port_labels() -> None:
    assert port_label("my-web", 8080) == "my_web_8080"


def test_schema_rejects_unknown_and_invalid_fields() -> None:
    job = _job(FULL)
    bad = json.loads(json.dumps(job))
    bad["TaskGroups"][0]["Tasks"][0]["Resourcez"] = {}
    bad["TaskGroups"][0]["Services"][0]["Checks"][0]["Interval"] = 10
    bad["Update"]["Bogus"] = 1
    problems = job_problems(bad, namespace="team-a")
    assert any('unknown field "Resourcez"' in p for p in problems)
    assert any('unknown field "Bogus"' in p for p in problems)
    assert any("Interval" in p for p in problems)
    assert job_problems(job, namespace="default")  # namespace mismatch


def _version(n: int, release: str, *, stable: bool, at: int) -> dict[str, object]:
    rel = ReleaseMeta(release, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=at))
    job = translate(FULL, rel, CFG)
    job.update({"Version": n, "Stable": stable})
    return job


def test_release_history_from_versions() -> None:
    a, b, c = (f"rel_01h455vb4pex5vsknk084sn0{x}" for x in ("2a", "2b", "2c"))
    versions = [
        _version(0, a, stable=True, at=0),
        _version(1, b, stable=True, at=1),
        _version(2, b, stable=False, at=1),  # a stop of b
        _version(3, c, stable=False, at=2),  # a failed deploy, reverted
        _version(4, b, stable=True, at=1),  # the revert
    ]
    history = releases_from_versions(versions, b, 10)
    assert [(r.release_id, v, r.live) for r, v in history] == [(b, 4, True), (a, 0, False)]
    assert [r.release_id for r, _ in releases_from_versions(versions, b, 1)] == [b]


def test_config_from_env() -> None:
    env = {
        "NOMAD_ADDR": "http://127.0.0.1:1",
        "NOMAD_TOKEN": "secret-token",
        "NOMAD_NAMESPACE": "ns1",
        "CTRLPLANE_NOMAD_NAMESPACE": "ns2",
        "CTRLPLANE_NOMAD_DATACENTERS": "dc1, dc2",
        "CTRLPLANE_NOMAD_MHZ_PER_CORE": "2400",
        "CTRLPLANE_NOMAD_NETWORK_MODE": "host",
    }
    cfg = NomadConfig.from_env(env, region="r1")
    assert cfg.address == "http://127.0.0.1:1"
    assert cfg.token_value() == "secret-token"
    assert cfg.namespace == "ns2"
    assert cfg.region == "r1"
    assert cfg.datacenters == ["dc1", "dc2"]
    assert cfg.mhz_per_core == 2400
    assert cfg.network_mode == "host"
    assert "secret-token" not in repr(cfg)
    with pytest.raises(InvalidSpec, match="mhz_per_core"):
        NomadConfig.from_env({"CTRLPLANE_NOMAD_MHZ_PER_CORE": "0"})


@pytest.mark.parametrize(
    ("version", "service", "cfg", "refused"),
    [
        ("1.3.9", _svc("app", secrets=[{"key": "k"}]), CFG, "Variables"),
        ("1.2.0", _svc("app", ports=[{"container": 80}]), NATIVE, "service discovery"),
        ("1.2.0", _svc("app", ports=[{"container": 80}]), CFG, ""),
        ("1.3.0", _svc("app", health_check={"port": 80}), CFG, ""),
        ("1.1.2", _svc("app", health_check={"command": ["true"]}), NATIVE, "service discovery"),
        ("1.1.2", _svc("app", health_check={"command": ["true"]}), CFG, ""),
        ("1.4.2", _svc("app"), NomadConfig(), "datacenter"),
        ("1.4.2", _svc("app", secrets=[{"key": "k"}]), CFG, ""),
        ("1.7.7+ent", _svc("app", health_check={"port": 80}), NomadConfig(), ""),
        ("", _svc("app", secrets=[{"key": "k"}]), NomadConfig(), ""),
    ],
)
def test_agent_version_gates_features(
    version: str, service: ServiceSpec, cfg: NomadConfig, refused: str
) -> None:
    if refused:
        with pytest.raises(NotSupported, match=refused):
            check_version(_req(service), cfg, version)
    else:
        check_version(_req(service), cfg, version)
    assert parse_version("v1.4.0-beta.1") == (1, 4, 0)


def test_registry_secret_becomes_auth_by_env_names_only() -> None:
    req = _req(
        _svc("app", image="registry.example:5000/team/app:1").model_copy(
            update={"secrets": [SecretRef(key="pull", type=SecretType.REGISTRY)]}
        )
    )
    job = _job(req)
    task = _tasks(job)["app"]
    assert task["Config"]["auth"] == {
        "username": "${CTRLPLANE_REGISTRY_USERNAME}",
        "password": "${CTRLPLANE_REGISTRY_PASSWORD}",
        "server_address": "registry.example:5000",
    }
    (env,) = [t for t in task["Templates"] if t.get("Envvars")]
    path = variable_path(CFG, IID, "app")
    assert f'CTRLPLANE_REGISTRY_PASSWORD={{{{ with nomadVar "{path}" }}}}' in env["EmbeddedTmpl"]
    with pytest.raises(NotSupported, match="driver 'exec'"):
        check_supported(req, CFG.model_copy(update={"driver": "exec"}))


def test_retries_reach_consul_checks_only() -> None:
    hc = {"path": "/healthz", "port": 8080, "retries": 5}
    req = _req(_svc("web", ports=[{"container": 8080}], health_check=hc))
    native = _group(_job(req))["Services"][0]["Checks"][0]
    assert "FailuresBeforeCritical" not in native
    consul = CFG.model_copy(update={"service_provider": "consul"})
    check = _group(_job(req, consul))["Services"][0]["Checks"][0]
    assert check["FailuresBeforeCritical"] == 5
    assert check_limits(req) == {"web-health": 5}


def test_failure_counter_counts_consecutive_distinct_results() -> None:
    counter = FailureCounter({"web-health": 3})

    def result(status: str, at: int) -> dict[str, dict[str, object]]:
        return {"c": {"Check": "web-health", "Status": status, "Timestamp": at, "Task": "web"}}

    assert counter.feed("a1", result("failure", 1)) is None
    assert counter.feed("a1", result("failure", 1)) is None  # the same result, seen again
    assert counter.feed("a1", result("failure", 2)) is None
    assert counter.feed("a1", result("success", 3)) is None  # resets
    assert counter.feed("a1", result("failure", 4)) is None
    assert counter.feed("a1", result("failure", 5)) is None
    assert counter.feed("a2", result("failure", 5)) is None  # per allocation
    tripped = counter.feed("a1", result("failure", 6))
    assert tripped is not None
    assert (tripped.alloc_id, tripped.task, tripped.failures) == ("a1", "web", 3)
    assert "failed 3 consecutive times" in str(tripped)


def test_meta_keeps_the_creation_time_across_releases() -> None:
    first = translate(FULL, REL, CFG)
    assert created_at(first) == REL.released_at
    later = ReleaseMeta("rel_01h455vb4pex5vsknk084sn02s", REL.released_at + timedelta(days=1))
    again = translate(FULL, later, CFG, created=created_at(first))
    assert created_at(again) == REL.released_at


def test_list_filter_quotes_the_tenant() -> None:
    assert list_filter(None) == '"ctrlplane_instance_id" in Meta'
    assert list_filter('a"b\\c') == (
        '"ctrlplane_instance_id" in Meta and Meta.ctrlplane_tenant_id == "a\\"b\\\\c"'
    )


# -- volumes -------------------------------------------------------------------------------


def _data(path: str = "/data", **kw: object) -> VolumeSpec:
    return VolumeSpec.model_validate({"name": "data", "mount_path": path, **kw})


def _csi(access_mode: str = "single-node-writer") -> NomadConfig:
    source = {"type": "csi", "source": "pg", "access_mode": access_mode}
    return NomadConfig(
        namespace="team-a", region="eu", datacenters=["dc1", "dc2"], volume_sources={"data": source}
    )


CSI = _csi()


def test_persistent_volume_is_the_host_volume_of_its_name_by_default() -> None:
    req = _req(
        _svc("app", volumes=[_data()]),
        _svc("side", ServiceRole.SIDECAR, volumes=[_data("/var/lib/side")]),
        _svc("other", ServiceRole.SIDECAR),
    )
    job = _job(req)
    assert _group(job)["Volumes"] == {
        "data": {
            "Name": "data",
            "Type": "host",
            "Source": "data",
            "ReadOnly": False,
            "PerAlloc": False,
        }
    }
    tasks = _tasks(job)
    assert tasks["app"]["VolumeMounts"] == [
        {"Volume": "data", "Destination": "/data", "ReadOnly": False}
    ]
    assert tasks["side"]["VolumeMounts"] == [
        {"Volume": "data", "Destination": "/var/lib/side", "ReadOnly": False}
    ]
    assert "VolumeMounts" not in tasks["other"]
    assert "Volumes" not in _group(_job(_req(_svc("app"))))


def test_stateful_set_volumes_are_per_allocation_csi_volumes_when_mapped() -> None:
    req = _req(_svc("db", volumes=[_data()], resources={"replicas": 3}), kind="stateful_set")
    job = _job(req, CSI)
    assert _group(job)["Volumes"] == {
        "data": {
            "Name": "data",
            "Type": "csi",
            "Source": "pg",
            "ReadOnly": False,
            "PerAlloc": True,
            "AccessMode": "single-node-writer",
            "AttachmentMode": "file-system",
        }
    }
    # the same volume on a deployment of one replica is claimed whole
    single = _req(_svc("db", volumes=[_data()]))
    assert _group(_job(single, CSI))["Volumes"]["data"]["PerAlloc"] is False


def test_tmpfs_is_a_docker_mount_of_the_task_with_its_size_in_bytes() -> None:
    req = _req(
        _svc(
            "app",
            volumes=[
                _data("/scratch", type="tmpfs", size_mb=64),
                VolumeSpec(name="cache", mount_path="/cache", type="tmpfs"),
            ],
        )
    )
    job = _job(req)
    assert "Volumes" not in _group(job)
    app = _tasks(job)["app"]
    assert "VolumeMounts" not in app
    assert app["Config"]["mount"] == [
        {
            "type": "tmpfs",
            "target": "/scratch",
            "readonly": False,
            "tmpfs_options": [{"size": 64 * 1024 * 1024}],
        },
        {"type": "tmpfs", "target": "/cache", "readonly": False},
    ]


def test_volumes_nomad_cannot_mount_are_refused_with_what_to_do() -> None:
    exec_driver = CFG.model_copy(update={"driver": "exec"})
    with pytest.raises(NotSupported, match="docker driver mount"):
        check_supported(_req(_svc("app", volumes=[_data(type="tmpfs")])), exec_driver)
    shared = _req(_svc("db", volumes=[_data()], resources={"replicas": 2}))
    with pytest.raises(NotSupported, match=r"single-node-writer.*stateful_set"):
        check_supported(shared, CSI)
    check_supported(shared, _csi("multi-node-multi-writer"))  # a multi-writer volume may be shared
    check_supported(shared, CFG)  # host volumes: every allocation on a node shares it
    stateful = _req(_svc("db", volumes=[_data()], resources={"replicas": 2}), kind="stateful_set")
    with pytest.raises(NotSupported, match="rolling strategy"):
        translate(stateful, REL, CFG, canary=1)
    assert translate(stateful, REL, CFG, canary=0)
    assert translate(_req(_svc("db", volumes=[_data()])), REL, CFG, canary=1)


def test_schema_checks_volumes_like_nomad() -> None:
    req = _req(
        _svc("db", volumes=[_data(), _data("/t", name="t", type="tmpfs", size_mb=1)]),
        kind="stateful_set",
    )
    job = json.loads(json.dumps(_job(req, CSI)))
    group = job["TaskGroups"][0]
    group["Volumes"]["data"]["Sizes"] = 1
    group["Tasks"][0]["VolumeMounts"].append({"Volume": "nope", "Destination": "/x"})
    group["Tasks"][0]["Config"]["mount"][0]["tmpfs_options"][0]["uid"] = 1000
    group["Tasks"][0]["Config"]["mount"].append(
        {"type": "bind", "target": "/b", "tmpfs_options": {}}
    )
    job["Update"]["Canary"] = 1
    problems = "\n".join(job_problems(job, namespace="team-a"))
    assert 'unknown field "Sizes"' in problems
    assert "undefined volume 'nope'" in problems
    assert 'unknown field "uid"' in problems
    assert "only for mounts of type tmpfs" in problems
    assert "per_alloc when canaries are in use" in problems
    shared = json.loads(json.dumps(_job(req, CSI)))
    shared["TaskGroups"][0]["Volumes"]["data"]["PerAlloc"] = False
    shared["TaskGroups"][0]["Count"] = 2
    assert any("only one writer" in p for p in job_problems(shared, namespace="team-a"))


def test_volume_sources_from_the_environment() -> None:
    env = {"CTRLPLANE_NOMAD_VOLUME_SOURCES": '{"data": {"type": "csi", "source": "pg"}}'}
    cfg = NomadConfig.from_env(env)
    assert cfg.volume_sources["data"].type == "csi"
    assert cfg.volume_sources["data"].source == "pg"
    with pytest.raises(InvalidSpec, match="VOLUME_SOURCES"):
        NomadConfig.from_env({"CTRLPLANE_NOMAD_VOLUME_SOURCES": '{"data": {"type": "nfs"}}'})


def test_placement_failures_for_volumes_say_what_to_create() -> None:
    job = {"JobModifyIndex": 7}
    failed = {
        "JobModifyIndex": 7,
        "FailedTGAllocs": {
            "unit": {
                "ConstraintFiltered": {"missing compatible host volumes": 1},
                "CoalescedFailures": 1,
            }
        },
    }
    why = placement_failure([failed], job)
    assert why == (
        "Nomad could not place 2 allocations of group 'unit': "
        "constraint 'missing compatible host volumes' filtered 1 node"
    )
    assert placement_failure([{**failed, "JobModifyIndex": 6}], job) == ""
    exhausted = {"JobModifyIndex": 7, "FailedTGAllocs": {"unit": {"NodesExhausted": 1}}}
    assert placement_failure([exhausted], job) == ""  # may clear: left to the deadline
    stateful = _req(_svc("db", volumes=[_data()], resources={"replicas": 2}), kind="stateful_set")
    hint = volume_hint(stateful, CFG)
    assert "host volume 'data[0]', 'data[1]'" in hint
    assert "host_volume 'data[0]'" in hint
    assert "volume_sources" in hint
    assert "CSI volume 'pg'" in volume_hint(_req(_svc("db", volumes=[_data()])), CSI)
    assert volume_hint(_req(_svc("db")), CFG) == ""


def test_per_allocation_host_volumes_need_nomad_1_5() -> None:
    stateful = _req(_svc("db", volumes=[_data()]), kind="stateful_set")
    with pytest.raises(NotSupported, match=r"1\.5"):
        check_version(stateful, CFG, "1.4.9")
    check_version(stateful, CSI, "1.4.9")
    check_version(_req(_svc("db", volumes=[_data()])), CFG, "1.4.9")
