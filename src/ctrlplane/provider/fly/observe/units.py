"""An instance's Machines -> one :class:`~ctrlplane.provider.results.UnitStatus` per
Machine (pure).

Every Machine of the instance but its control Machine and the destroyed ones is a row:
the ones serving the live release (the control Machine's ``ctrlplane_units``), and
during a rollout the others beside them (a blue-green deploy's new set before the
switch, its old set after it until retired; an init's run-once Machine while it runs).
Per Machine:

- ``service``, ``replica`` and ``release_id`` from its metadata (the release it was
  created or last updated for), ``image`` from its configuration;
- ``state`` and ``message`` as ``status`` reads a Machine
  (:func:`~.status.machine_state`: exit codes and launch errors, never container
  output); a Machine not serving the live release says so in its message;
- ``health`` for a started Machine with Fly checks (a service's http or tcp health
  check): ``healthy`` when every check passes, ``unhealthy`` when one is ``critical``,
  ``starting`` before they have a result; ``""`` without checks (an exec health check
  runs through ctrlplane's probes, not as a Fly check) or when not started. ``ready``:
  started with every check passing;
- ``restarts``: the exits the Machine did not ask for; ``ports``: its private 6PN
  address and container ports (not public: the Fly Proxy reaches the app's Machines
  together, not one of them); ``started_at``: when it last started, while started;
  ``provider_ref``: the Machine ID.

Rows come in the services' start-up order, then replica, serving Machines first, then
the older Machine first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.observe.status import machine_state
from ctrlplane.provider.reporting import private_endpoint, url_host
from ctrlplane.provider.results import Endpoint, UnitStatus
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import startup_order

__all__ = ["machine_health", "unit_rows"]

NOT_SERVING = "not serving the live release (a rollout's other set)"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def machine_health(view: MachineView) -> str:
    """A started Machine's health from its Fly checks (see the module); ``""`` without
    checks or when not started."""
    statuses = [status for _, status, _, _ in view.check_statuses()]
    if view.state != "started" or not statuses:
        return ""
    if "critical" in statuses:
        return "unhealthy"
    if all(s == "passing" for s in statuses):
        return "healthy"
    return "starting"


def _ports(req: ProvisionRequest, view: MachineView) -> list[Endpoint]:
    if not view.private_ip:
        return []
    host = url_host(view.private_ip)
    service = next((s for s in req.services if s.name == view.service), None)
    return [
        private_endpoint(view.service, p, host, "http")
        for p in (service.ports if service is not None else [])
    ]


def unit_rows(
    req: ProvisionRequest,
    instance_id: str,
    machines: Sequence[MachineView],
    units: Mapping[str, Sequence[str]],
) -> list[UnitStatus]:
    """The rows of ``machines`` (an app's, as listed) of the instance ``req`` describes;
    ``units`` maps each service to the Machines serving the live release."""
    order = {
        s.name: i for i, s in enumerate(s for wave in startup_order(req.services) for s in wave)
    }
    serving = {machine_id for ids in units.values() for machine_id in ids}
    rows: list[tuple[int, int, bool, datetime, str, UnitStatus]] = []
    for view in machines:
        if view.control or view.gone or view.instance != instance_id:
            continue
        state, message = machine_state(view)
        health = machine_health(view)
        running = state is InstanceState.RUNNING
        notes = [message] if message else []
        if view.id not in serving and view.role != "init":
            notes.append(NOT_SERVING)
        row = UnitStatus(
            service=view.service,
            replica=view.replica,
            release_id=view.release,
            image=view.image,
            state=state,
            ready=running and view.checks_passing(),
            health=health,
            restarts=len(view.crashes()),
            ports=_ports(req, view),
            started_at=view.started_at() if running else None,
            provider_ref=view.id,
            message="; ".join(notes),
        )
        key = (
            order.get(view.service, len(order)),
            view.replica,
            view.id not in serving,
            view.created_at or _EPOCH,
            view.id,
        )
        rows.append((*key, row))
    rows.sort(key=lambda r: r[:5])
    return [r[-1] for r in rows]
