"""``ps``: one row per running unit (a service's replica): like ``docker compose ps``.

It uses the provider's optional :class:`~ctrlplane.provider.UnitLister`; a provider
without it is refused with :class:`~ctrlplane.errors.NotSupported` naming it (exit 4).
"""

from __future__ import annotations

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.lifecycle_cmds import age
from ctrlplane.cli.options import global_options, services_option
from ctrlplane.cli.output import HttpPorts, echo_table, emit_json, endpoint_url
from ctrlplane.cli.status_cmd import http_ports_of
from ctrlplane.errors import NotSupported
from ctrlplane.provider import UnitLister, UnitStatus

__all__ = ["ps_cmd"]


@click.command("ps")
@click.argument("instance", shell_complete=complete_instances)
@services_option("Only this service (repeatable).")
@global_options()
@pass_state
def ps_cmd(state: CliState, instance: str, services: tuple[str, ...]) -> None:
    """List an instance's units: one row per service replica.

    Columns: service, replica, release, image, state, health (healthy, unhealthy,
    starting, or - without a health check), restarts, ports and age. Units of a rollout
    in progress are listed too. Providers that cannot list units refuse (exit 4).

    Example: ctrlplane ps hello-web
    """
    provider = state.provider()
    if not isinstance(provider, UnitLister):
        raise NotSupported(
            state.chosen_provider, "units", detail="it cannot list an instance's units (ps)"
        )

    async def go() -> tuple[str, list[UnitStatus], HttpPorts]:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        units = await provider.units(iid)
        return iid, units, await http_ports_of(provider, iid)

    iid, units, http = run(go())
    if services:
        units = [u for u in units if u.service in services]
    if state.json:
        emit_json({"instance_id": iid, "units": [u.to_wire() for u in units]})
        return
    echo_table(
        ["service", "replica", "release", "image", "state", "health", "restarts", "ports", "age"],
        [
            [
                u.service,
                u.replica,
                u.release_id or "-",
                u.image,
                u.state,
                u.health or "-",
                u.restarts,
                ", ".join(endpoint_url(p, http) for p in u.ports if p.public)
                or ", ".join(f"{p.port}/{p.protocol}" for p in u.ports)
                or "-",
                age(u.started_at),
            ]
            for u in units
        ],
    )
