"""Bad input never crashes: whatever a request or a workload file holds, reading and
validating it raises only ``InvalidSpec`` (with field paths), never another exception."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctrlplane.errors import InvalidSpec
from ctrlplane.ids import new_id
from ctrlplane.provider import DeployRequest, ProvisionRequest, ResourceSpec
from ctrlplane.provider.validation import (
    validate_deploy,
    validate_request,
    validate_scale,
)
from ctrlplane.workload import parse_workload, parse_workload_text

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["9e999999", "1e40", "-1s", "1m30s", "0", "", "nan", "inf", "rolling"]),
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
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
]


@st.composite
def service_like(draw: st.DrawFn) -> dict[str, Any]:
    svc: dict[str, Any] = {"name": draw(st.sampled_from(["web", "db", "x"])), "image": "img"}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        svc[key] = draw(JSONISH)
    return svc


@st.composite
def request_like(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "instance_id": new_id("inst"),
        "name": "app",
        "services": draw(st.lists(service_like(), max_size=3)),
    }
    for key in draw(st.lists(st.sampled_from(["kind", "labels", "tenant_id"]), max_size=2)):
        body[key] = draw(JSONISH)
    return body


def _only_invalid_spec(call: Any, *args: Any, **kwargs: Any) -> None:
    """Run ``call``: it may succeed or raise ``InvalidSpec`` naming its problems."""
    problems = ["ok"]
    try:
        call(*args, **kwargs)
    except InvalidSpec as exc:
        problems = [str(p) for p in exc.problems]
    assert problems, "an InvalidSpec always names what is wrong"


def _validate_request(body: dict[str, Any]) -> None:
    validate_request(ProvisionRequest.model_validate(body))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request_like())
def test_requests_of_any_shape_raise_only_invalid_spec(body: dict[str, Any]) -> None:
    _only_invalid_spec(_validate_request, body)
    _only_invalid_spec(parse_workload, body, source="fuzz")


@settings(max_examples=500, deadline=None)
@given(JSONISH, JSONISH)
def test_deploy_and_scale_requests_of_any_shape_raise_only_invalid_spec(
    services: Any, resources: Any
) -> None:
    def deploy() -> None:
        req = DeployRequest.model_validate({"instance_id": new_id("inst"), "services": services})
        validate_deploy(req, ["web"])

    def scale() -> None:
        validate_scale(ResourceSpec.model_validate(resources))

    _only_invalid_spec(deploy)
    _only_invalid_spec(scale)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=200))
def test_workload_text_of_any_content_raises_only_invalid_spec(text: str) -> None:
    def read(json_text: bool) -> None:
        parse_workload(parse_workload_text(text, source="f", json_text=json_text), source="f")

    _only_invalid_spec(read, False)
    _only_invalid_spec(read, True)


def test_deep_nesting_and_huge_chains_are_invalid_specs_not_crashes() -> None:
    deep_yaml = "a: " + "[" * 5000 + "]" * 5000
    deep_json = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for text, as_json in ((deep_yaml, False), (deep_json, True)):
        _only_invalid_spec(parse_workload_text, text, source="deep", json_text=as_json)
    nested = json.dumps({"k": json.loads("[" * 900 + "]" * 900)})
    chain: list[dict[str, object]] = [
        {"name": f"s{i}", "image": "img", "role": "sidecar", "depends_on": [f"s{i + 1}"]}
        for i in range(1500)
    ]
    chain.append({"name": "s1500", "image": "img"})
    chain.append(
        {
            "name": "cfg",
            "image": "img",
            "role": "sidecar",
            "config_files": [
                {"name": "c", "path": "/c.json", "format": "json", "content": "[" * 100_000}
            ],
        }
    )
    body = {"instance_id": new_id("inst"), "name": "app", "services": chain}
    validate_request(ProvisionRequest.model_validate({**body, "services": chain[:-1]}))
    _only_invalid_spec(_validate_request, body)
    cycle = [*chain[:-2], {"name": "s1500", "image": "img", "depends_on": ["s0"]}]
    _only_invalid_spec(_validate_request, {**body, "services": cycle})
    _only_invalid_spec(parse_workload_text, yaml.safe_dump({"n": nested}), source="n")
    for duration in ("9e999999", "1e40", 9e300):
        svc = {"name": "web", "image": "img", "health_check": {"port": 80, "interval": duration}}
        workload = {"name": "app", "services": [svc]}
        _only_invalid_spec(parse_workload, workload, source="durations")
