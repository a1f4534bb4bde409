"""The backend configs' public face: JSON schemas, environment variables and their errors.

``config_schemas.json`` is each config model's ``model_json_schema()`` (field order,
types, defaults, constraints, descriptions). A change to a config's settings is a change
of that public schema: rewrite the snapshot in the same commit, from the models, with
``json.dumps({name: model.model_json_schema() ...}, indent=1)`` over ``CONFIGS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider.docker.config import DockerConfig, RegistryCredentials
from ctrlplane.provider.ecs.config import EcsConfig
from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.kubernetes.config import KubernetesConfig
from ctrlplane.provider.nomad.config import NomadConfig, VolumeSource, VolumeSourceType

CONFIGS: dict[str, type[BaseModel]] = {
    "DockerConfig": DockerConfig,
    "KubernetesConfig": KubernetesConfig,
    "NomadConfig": NomadConfig,
    "EcsConfig": EcsConfig,
    "FlyConfig": FlyConfig,
}

SNAPSHOT = json.loads((Path(__file__).parent / "config_schemas.json").read_text())

# (config, its prefix, the subject its errors name)
READERS = [
    (DockerConfig, "CTRLPLANE_DOCKER_", "Docker config"),
    (KubernetesConfig, "CTRLPLANE_K8S_", "Kubernetes config"),
    (NomadConfig, "CTRLPLANE_NOMAD_", "Nomad config"),
    (EcsConfig, "CTRLPLANE_ECS_", "ECS config"),
    (FlyConfig, "CTRLPLANE_FLY_", "Fly config"),
]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_json_schema_is_the_snapshot_field_order_included(name: str) -> None:
    schema = CONFIGS[name].model_json_schema()
    assert list(schema["properties"]) == list(SNAPSHOT[name]["properties"])
    assert schema == SNAPSHOT[name]


@pytest.mark.parametrize(("config", "prefix", "subject"), READERS)
def test_every_field_is_read_from_its_prefixed_variable(
    config: type[BaseModel], prefix: str, subject: str
) -> None:
    from_env = config.from_env  # type: ignore[attr-defined]
    assert from_env({}) == config()
    for name in config.model_fields:
        variable = f"{prefix}{name.upper()}"
        read = _read(from_env, {variable: "{text"})
        if isinstance(read, InvalidSpec):
            assert read.subject == subject
            assert read.problems[0].path in (variable, f"{variable} ({name})")
        else:
            assert getattr(read, name) != getattr(config(), name)


def _read(
    from_env: Callable[[Mapping[str, str]], BaseModel], environ: Mapping[str, str]
) -> BaseModel | InvalidSpec:
    try:
        return from_env(environ)
    except InvalidSpec as exc:
        return exc


@pytest.mark.parametrize(("config", "prefix", "subject"), READERS)
def test_overrides_win_and_name_the_field(
    config: type[BaseModel], prefix: str, subject: str
) -> None:
    from_env = config.from_env  # type: ignore[attr-defined]
    variable = f"{prefix}REQUEST_TIMEOUT"
    cfg = from_env({variable: "7"}, request_timeout=timedelta(seconds=3))
    assert cfg.request_timeout == timedelta(seconds=3)
    assert from_env({variable: "7"}).request_timeout == timedelta(seconds=7)
    with pytest.raises(InvalidSpec) as info:
        from_env({}, request_timeout="soon")
    assert str(info.value).startswith(f"invalid {subject}: request_timeout: ")


@pytest.mark.parametrize("config", list(CONFIGS.values()))
def test_configs_are_frozen_and_refuse_unknown_settings(config: type[BaseModel]) -> None:
    assert config.model_config.get("frozen") is True
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        config(no_such_setting=1)


def test_json_fields_are_decoded_and_a_bad_one_names_its_variable() -> None:
    docker = DockerConfig.from_env(
        {"CTRLPLANE_DOCKER_REGISTRY_AUTH": '{"r.example": {"username": "u", "password": "p"}}'}
    )
    assert docker.registry_auth == {
        "r.example": RegistryCredentials(username="u", password=SecretStr("p"))
    }
    k8s = KubernetesConfig.from_env(
        {"CTRLPLANE_K8S_LABELS": '{"team": "web"}', "CTRLPLANE_K8S_IMAGE_PULL_SECRETS": '["s"]'}
    )
    assert (k8s.labels, k8s.image_pull_secrets) == ({"team": "web"}, ["s"])
    nomad = NomadConfig.from_env({"CTRLPLANE_NOMAD_VOLUME_SOURCES": '{"d": {"type": "csi"}}'})
    assert nomad.volume_sources == {"d": VolumeSource(type=VolumeSourceType.CSI)}
    with pytest.raises(InvalidSpec, match="CTRLPLANE_DOCKER_REGISTRY_AUTH: must be JSON"):
        DockerConfig.from_env({"CTRLPLANE_DOCKER_REGISTRY_AUTH": "u:p"})


def test_lists_are_comma_separated_in_the_environment() -> None:
    nomad = NomadConfig.from_env({"CTRLPLANE_NOMAD_DATACENTERS": " dc1, ,dc2 "})
    assert nomad.datacenters == ["dc1", "dc2"]
    ecs = EcsConfig.from_env(
        {"CTRLPLANE_ECS_SUBNETS": "subnet-1,subnet-2", "CTRLPLANE_ECS_SECURITY_GROUPS": "sg-1"}
    )
    assert (ecs.subnets, ecs.security_groups) == (["subnet-1", "subnet-2"], ["sg-1"])
    assert FlyConfig.from_env({"CTRLPLANE_FLY_REGIONS": "ams,fra"}).regions == ["ams", "fra"]
    assert NomadConfig(datacenters=["a,b"]).datacenters == ["a,b"]  # a list is kept as given
    ecs_argv = EcsConfig.from_env({"CTRLPLANE_ECS_TCP_CHECK_COMMAND": "nc -z {port}"})
    assert ecs_argv.tcp_check_command == ["nc", "-z", "{port}"]


def test_native_variables_are_read_and_prefixed_ones_win() -> None:
    nomad = NomadConfig.from_env({"NOMAD_ADDR": "http://n:4646", "NOMAD_TOKEN": "t"})
    assert (nomad.address, nomad.token_value()) == ("http://n:4646", "t")
    both = {"NOMAD_REGION": "a", "CTRLPLANE_NOMAD_REGION": "b"}
    assert NomadConfig.from_env(both).region == "b"
    assert EcsConfig.from_env({"AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-west-1"
    regions = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "us-east-1"}
    assert EcsConfig.from_env(regions).region == "us-east-1"
    assert EcsConfig.from_env({"AWS_PROFILE": "p"}).profile == "p"
    assert FlyConfig.from_env({"FLY_API_TOKEN": "f"}).token_value() == "f"
    with pytest.raises(InvalidSpec) as info:
        NomadConfig.from_env({"NOMAD_ADDR": "x", "CTRLPLANE_NOMAD_MHZ_PER_CORE": "0"})
    assert [p.path for p in info.value.problems] == ["CTRLPLANE_NOMAD_MHZ_PER_CORE (mhz_per_core)"]
