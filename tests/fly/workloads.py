"""Workloads and lookups shared by the Fly tests (requests, the fake's Machines of an
instance)."""

from __future__ import annotations

from datetime import timedelta

from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.spec import HealthCheckSpec, ProvisionRequest, ResourceSpec, ServiceSpec

from .fake_machines import FakeMachine
from .harness import FlyHarness

__all__ = ["checked_web", "control_machine", "machines", "request", "web"]


def request(
    h: FlyHarness, *services: ServiceSpec, replicas: int = 0, kind: str = "deployment"
) -> ProvisionRequest:
    main = services[0]
    if replicas:
        main = main.model_copy(update={"resources": ResourceSpec(replicas=replicas)})
    return ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX),
        tenant_id="acme",
        name="shop",
        kind=kind,
        services=[main, *services[1:]],
    )


def machines(h: FlyHarness, req: ProvisionRequest, *, role: str | None = None) -> list[FakeMachine]:
    out = [
        m
        for m in h.api.machines_of(h.app(req.instance_id))
        if m.metadata.get("ctrlplane_instance") == req.instance_id
    ]
    return [m for m in out if role is None or m.metadata.get("ctrlplane_role") == role]


def control_machine(h: FlyHarness, req: ProvisionRequest) -> FakeMachine:
    return next(m for m in machines(h, req, role="control") if not m.gone)


def web(h: FlyHarness, **env: str) -> ServiceSpec:
    return h.http_service("web", port=8080, env={"MESSAGE": "v1", **env})


def checked_web(h: FlyHarness, **env: str) -> ServiceSpec:
    interval = timedelta(seconds=h.probe_interval)
    check = HealthCheckSpec(
        path="/healthz", port=8080, interval=interval, timeout=interval, retries=2
    )
    return web(h, **env).model_copy(update={"health_check": check})
