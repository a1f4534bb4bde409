"""Commands that create, list and remove instances: ``up``, ``ls``, ``down``.

Instances are addressed by instance ID or by workload name (looked up on the backend).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.output import echo_table, emit_json, status_lines
from ctrlplane.cli.progress import (
    progress_subscriber,
    provision_with_progress,
    report_interrupted,
)
from ctrlplane.errors import AmbiguousInstance, OperationTimeout
from ctrlplane.provider import InstanceLister, InstanceStatus, Provider, ProvisionRequest
from ctrlplane.workload import parse_workload, read_workload_data

__all__ = ["down_cmd", "ls_cmd", "up_cmd"]


async def _existing_id(provider: Provider, name: str, tenant: str) -> str | None:
    """The ID of the instance already running this workload name (for ``up`` re-runs).

    ``None`` when there is none (``up`` creates one); several are
    :class:`AmbiguousInstance` listing them (``up`` must not add yet another).
    """
    if not name or not isinstance(provider, InstanceLister):
        return None
    found = [
        s.instance_id
        for s in await provider.list_instances(tenant or None)
        if s.name == name and s.tenant_id == tenant
    ]
    if len(found) > 1:
        raise AmbiguousInstance(name, sorted(found))
    return found[0] if found else None


@click.command("up")
@click.option(
    "-f",
    "--file",
    "file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Workload file (YAML or JSON).",
)
@click.option(
    "--instance-id",
    default=None,
    help="Use this instance ID (default: new, or the "
    "existing instance of the same workload name and tenant).",
)
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for ready.")
@pass_state
def up_cmd(state: CliState, file: Path, instance_id: str | None, timeout: float) -> None:
    """Provision a workload and wait until it runs; print its status and endpoints.

    Progress (steps, started replicas) is shown on stderr while it runs. Running it
    again for the same workload name converges the existing instance; when several
    instances of the tenant have that name, it refuses (exit 2) and lists them: pick
    one with --instance-id. Ctrl-C cancels:
    what was created is removed, and the state left is printed.

    Example: ctrlplane up -f examples/hello-web.yaml
    """
    data = read_workload_data(file)
    if state.tenant:
        data["tenant_id"] = state.tenant
    source = f"workload file {file}"
    provider = state.provider()
    started: list[str] = []

    async def go() -> tuple[ProvisionRequest, InstanceStatus]:
        chosen = instance_id or await _existing_id(
            provider, str(data.get("name", "")), str(data.get("tenant_id", ""))
        )
        req = parse_workload(data, instance_id=chosen, source=source)
        started.append(req.instance_id)
        if not state.json:
            click.echo(
                f"provisioning {req.name or req.instance_id} as {req.instance_id} "
                f"on {state.chosen_provider}...",
                err=True,
            )
        try:
            async with asyncio.timeout(timeout):
                await provision_with_progress(provider, req, progress_subscriber(state.json))
        except TimeoutError:
            raise OperationTimeout(f"up of {req.instance_id}", timeout) from None
        return req, await provider.status(req.instance_id)

    try:
        req, status = run(go())
    except KeyboardInterrupt:
        report_interrupted(provider, started[0] if started else "")
    if state.json:
        emit_json({"instance_id": req.instance_id, "name": req.name, "status": status.to_wire()})
    else:
        click.echo(status_lines(req.instance_id, req.name, status))


@click.command("ls")
@pass_state
def ls_cmd(state: CliState) -> None:
    """List the instances on the provider (of --tenant, if given).

    Example: ctrlplane ls --output json
    """
    provider = state.provider()
    if not isinstance(provider, InstanceLister):
        raise click.UsageError(f"provider {state.chosen_provider!r} cannot list instances")
    found = run(provider.list_instances(state.tenant or None))
    if state.json:
        emit_json([s.to_wire() for s in found])
        return
    echo_table(
        ["instance", "name", "tenant", "state", "release"],
        [
            [s.instance_id, s.name or "-", s.tenant_id or "-", s.state, s.release_id or "-"]
            for s in found
        ],
    )


@click.command("down")
@click.argument("instance")
@pass_state
def down_cmd(state: CliState, instance: str) -> None:
    """Remove an instance and everything it created.

    Example: ctrlplane down hello-web
    """
    provider = state.provider()

    async def go() -> str:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        await provider.deprovision(iid)
        return iid

    iid = run(go())
    if state.json:
        emit_json({"instance_id": iid, "removed": True})
    else:
        click.echo(f"removed {iid}")
