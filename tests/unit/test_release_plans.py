"""The release plan every backend shares: snapshots, the partial-deploy merge, rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ctrlplane.errors import InvalidSpec, ReleaseNotFound
from ctrlplane.ids import INSTANCE_PREFIX, RELEASE_PREFIX, new_id
from ctrlplane.provider import (
    ConfigFile,
    DeployStrategy,
    HealthCheckSpec,
    ServiceDeploySpec,
    ServiceSpec,
)
from ctrlplane.provider.releases import (
    DEPLOYED,
    Release,
    apply_deploy,
    apply_snapshot,
    config_digest,
    new_release,
    plan_deploy,
    plan_rollback,
    snapshot,
)
from ctrlplane.provider.spec import DeployRequest

IID = new_id(INSTANCE_PREFIX)
OLD = new_id(RELEASE_PREFIX)

CHECK = HealthCheckSpec(path="/healthz", port=8080)


def _services() -> list[ServiceSpec]:
    return [
        ServiceSpec(name="web", image="web:1", env={"A": "1"}, health_check=CHECK),
        ServiceSpec(name="log", image="log:1", role="sidecar"),
    ]


def test_snapshot_keeps_the_deployable_fields_of_every_service() -> None:
    snap = snapshot(_services())
    assert [(s.name, s.image, s.env, s.health_check) for s in snap] == [
        ("web", "web:1", {"A": "1"}, CHECK),
        ("log", "log:1", {}, None),
    ]


def test_a_deploy_replaces_image_and_env_and_keeps_an_unlisted_service() -> None:
    after = apply_deploy(
        _services(), [ServiceDeploySpec(name="web", image="web:2", env={"B": "2"})]
    )
    assert after[0].image == "web:2"
    assert after[0].env == {"B": "2"}  # replaced, not merged
    assert after[0].health_check == CHECK  # a change without a check keeps the service's
    assert after[1] == _services()[1]


def test_a_deploy_with_a_health_check_takes_it() -> None:
    other = HealthCheckSpec(port=9090)
    after = apply_deploy(
        _services(), [ServiceDeploySpec(name="log", image="log:2", health_check=other)]
    )
    assert after[1].health_check == other


def test_a_rollback_restores_exactly_the_snapshot_even_an_absent_check() -> None:
    release = Release(
        release_id="rel_1",
        created_at=datetime.now(UTC),
        services=[ServiceDeploySpec(name="web", image="web:0")],
    )
    after = apply_snapshot(_services(), release)
    assert (after[0].image, after[0].env, after[0].health_check) == ("web:0", {}, None)
    assert after[1] == _services()[1]  # not in the release: unchanged


def test_plan_deploy_mints_an_id_and_lists_every_named_service_as_changed() -> None:
    req = DeployRequest(
        instance_id=IID,
        services=[ServiceDeploySpec(name="web", image="web:1", env={"A": "1"})],
        strategy="canary",
    )
    plan = plan_deploy(req, _services(), known_releases=[OLD])
    assert plan.release_id.startswith("rel_")
    assert plan.changed == {"web"}  # a redeploy of the same version still replaces it
    assert plan.strategy is DeployStrategy.CANARY
    record = plan.release()
    assert record.live
    assert record.strategy == "canary"
    assert [s.image for s in record.services] == ["web:1", "log:1"]
    assert DEPLOYED == "deployed"


def test_plan_deploy_refuses_a_reused_release_id_and_unknown_services() -> None:
    reused = DeployRequest(
        instance_id=IID,
        release_id=OLD,
        services=[ServiceDeploySpec(name="web", image="web:2")],
    )
    with pytest.raises(InvalidSpec, match="already exists"):
        plan_deploy(reused, _services(), known_releases=[OLD])
    unknown = DeployRequest(instance_id=IID, services=[ServiceDeploySpec(name="db", image="db:1")])
    with pytest.raises(InvalidSpec, match="db"):
        plan_deploy(unknown, _services(), known_releases=[])


def test_plan_rollback_changes_only_what_differs_and_names_its_source() -> None:
    old = Release(
        release_id="rel_old",
        created_at=datetime.now(UTC) - timedelta(hours=1),
        services=snapshot([_services()[0].model_copy(update={"image": "web:0"}), _services()[1]]),
    )
    plan = plan_rollback(IID, "rel_old", _services(), [old])
    assert plan.changed == {"web"}
    assert plan.rollback_of == "rel_old"
    assert plan.strategy is DeployStrategy.ROLLING
    assert plan.service_after("web").image == "web:0"
    with pytest.raises(ReleaseNotFound, match="rel_old"):
        plan_rollback(IID, "rel_gone", _services(), [old])


def test_a_release_records_every_spec_with_config_contents_as_digests() -> None:
    cfg = {"name": "app-config", "path": "/etc/app.json", "format": "json", "content": '{"a":1}'}
    web = _services()[0].model_copy(
        update={"command": ["httpd", "-f"], "config_files": [ConfigFile(**cfg)]}
    )
    record = new_release(OLD, [web, _services()[1]], strategy="rolling")
    assert [s.name for s in record.specs] == ["web", "log"]
    assert record.specs[0].command == ["httpd", "-f"]
    assert record.specs[0].config_files[0].content.startswith("sha256:")
    assert '{"a":1}' not in record.model_dump_json()
    again = Release.model_validate_json(record.model_dump_json())
    assert again.specs == record.specs
    changed = [ConfigFile(**{**cfg, "content": '{"a":2}'})]
    assert config_digest(changed) != config_digest([ConfigFile(**cfg)])
