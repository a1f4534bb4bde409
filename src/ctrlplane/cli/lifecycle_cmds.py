"""Commands that list and remove instances: ``ls``, ``down`` (``up`` lives in
:mod:`ctrlplane.cli.up_cmd`).

Instances are addressed by instance ID or by workload name (looked up on the backend).
"""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import click

from ctrlplane.cli.backends import BUILTIN_TYPES
from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.kept_volumes import KeptVolumes
from ctrlplane.cli.operations import bounded, step
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.errors import NotSupported
from ctrlplane.provider import InstanceLister, InstanceSummary, Provider

__all__ = ["KEEP_VOLUMES_SETTING", "age", "down_cmd", "keeps_volumes", "ls_cmd"]

KEEP_VOLUMES_SETTING = "keep_volumes"
"""The config field with which a built-in backend keeps an instance's volumes on
deprovision (Kubernetes has it; a backend whose config gains it is used at once)."""


def keeps_volumes(backend_type: str) -> bool:
    """Whether the built-in backend ``backend_type``'s config model has the
    :data:`KEEP_VOLUMES_SETTING` field (this imports the backend, as building its
    provider does)."""
    backend = BUILTIN_TYPES.get(backend_type)
    if backend is None:
        return False
    config = importlib.import_module(f"{backend.package}.config")
    fields = getattr(config, backend.config_class).model_fields
    return KEEP_VOLUMES_SETTING in fields


def age(since: datetime | None, now: datetime | None = None) -> str:
    """``45s``, ``12m``, ``3h``, ``5d`` since ``since`` (``-`` when unknown)."""
    if since is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@click.command("ls")
@global_options()
@pass_state
def ls_cmd(state: CliState) -> None:
    """List the instances on the provider (of --tenant, if given).

    Example: ctrlplane ls --output json
    """
    provider = state.provider()
    if not isinstance(provider, InstanceLister):
        raise NotSupported(
            state.chosen_provider, "list_instances", detail="it cannot list instances"
        )
    found = run(provider.list_instances(state.tenant_id or None))
    if state.json:
        emit_json([s.to_wire() for s in found])
        return
    echo_table(
        ["instance", "name", "tenant", "state", "release", "age"],
        [
            [
                s.instance_id,
                s.name or "-",
                s.tenant_id or "-",
                s.state,
                s.release_id or "-",
                age(s.created_at),
            ]
            for s in found
        ],
    )


@click.command("down")
@click.argument("instance", shell_complete=complete_instances)
@click.option(
    "--keep-volumes",
    is_flag=True,
    help="Keep the instance's volumes (default: removed with it); the next up of the "
    "same workload uses them again. Only where the provider's config has a keep_volumes "
    "setting (docker, kubernetes); others refuse before removing anything.",
)
@click.option("--timeout", type=DURATION, default="5m", show_default=True, help="How long to wait.")
@global_options()
@pass_state
def down_cmd(state: CliState, instance: str, keep_volumes: bool, timeout: float) -> None:
    """Remove an instance and everything it created.

    Unlike docker compose down, volumes are removed by default: the library removes
    everything an instance created. --keep-volumes keeps them where the backend's
    config has a keep_volumes setting (Docker, Kubernetes), and the next up of the
    same workload on this machine provisions the same instance ID again, so its data
    is found (elsewhere: up --instance-id ID). A backend without the setting cannot
    keep them and refuses (exit 4) before anything is removed.

    Example: ctrlplane down hello-web
    """
    if keep_volumes:
        if not keeps_volumes(state.chosen_type):
            raise NotSupported(
                state.chosen_provider,
                "down --keep-volumes",
                detail="its backend removes an instance's volumes with the instance; "
                "nothing was removed",
            )
        state.settings[KEEP_VOLUMES_SETTING] = True
    provider = state.provider()
    kept = KeptVolumes.of(state.chosen_provider)

    async def go() -> tuple[str, InstanceSummary | None]:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        summary = await _summary(provider, iid) if keep_volumes else None
        async with step(state, "remove", iid):
            await bounded(f"down of {iid}", timeout, provider.deprovision(iid))
        return iid, summary

    iid, summary = run(go())
    if summary is not None:
        kept.remember(summary.tenant_id, summary.name, iid)
    else:
        kept.forget(iid)
    if state.json:
        emit_json({"instance_id": iid, "removed": True, "volumes_kept": keep_volumes})
        return
    click.echo(f"removed {iid}" + (" (volumes kept)" if keep_volumes else ""))
    if summary is not None and summary.name:
        click.echo(
            f"the next up of workload {summary.name!r} here uses them again "
            f"(elsewhere: up --instance-id {iid})",
            err=True,
        )


async def _summary(provider: Provider, instance_id: str) -> InstanceSummary | None:
    """The listing of ``instance_id`` (its workload name and tenant), if the provider
    lists instances."""
    if not isinstance(provider, InstanceLister):
        return None
    found = await provider.list_instances(None)
    return next((s for s in found if s.instance_id == instance_id), None)
