"""Backend configs from the environment: precedence, JSON fields, errors naming variables."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider._config import Seconds, config_from_env


class Demo(BaseModel):
    address: str = "http://127.0.0.1:1"
    timeout: Seconds = timedelta(seconds=30)
    labels: dict[str, str] = {}
    retries: int = 3


def load(environ: dict[str, str], **overrides: object) -> Demo:
    return config_from_env(
        Demo,
        environ,
        overrides,
        prefix="DEMO_",
        subject="Demo config",
        json_fields={"labels"},
        native={"address": "NATIVE_ADDR"},
    )


def test_defaults_then_native_then_prefixed_then_overrides() -> None:
    assert load({}) == Demo()
    assert load({"NATIVE_ADDR": "http://a"}).address == "http://a"
    assert load({"NATIVE_ADDR": "http://a", "DEMO_ADDRESS": "http://b"}).address == "http://b"
    assert load({"DEMO_ADDRESS": "http://b"}, address="http://c").address == "http://c"
    assert load({"NATIVE_ADDR": ""}).address == Demo().address  # empty native is unset


def test_durations_are_seconds_or_go_strings_and_json_fields_decode() -> None:
    cfg = load({"DEMO_TIMEOUT": "90", "DEMO_LABELS": '{"team": "web"}'})
    assert cfg.timeout == timedelta(seconds=90)
    assert cfg.labels == {"team": "web"}
    assert load({"DEMO_TIMEOUT": "1m30s"}).timeout == timedelta(seconds=90)


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(InvalidSpec) as info:
        load({"DEMO_RETRIES": "many", "DEMO_TIMEOUT": "soon"})
    paths = [p.path for p in info.value.problems]
    assert "DEMO_RETRIES (retries)" in paths
    assert "DEMO_TIMEOUT (timeout)" in paths
    with pytest.raises(InvalidSpec, match="DEMO_LABELS: must be JSON"):
        load({"DEMO_LABELS": "team=web"})
    with pytest.raises(InvalidSpec) as info:
        load({}, retries="x")
    assert [p.path for p in info.value.problems] == ["retries"]
