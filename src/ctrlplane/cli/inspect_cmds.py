"""Commands that look without changing anything: ``render`` and ``plan``.

``render`` needs no backend at all (the providers' pure translation functions);
``plan`` reads the live release. Neither resolves a secret: secrets are references, and
only references (or redacted placeholders) are ever printed. ``doctor`` lives in
:mod:`ctrlplane.cli.doctor_cmd`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.converge import Convergence, LiveInstance, converge, read_live
from ctrlplane.cli.deploy_plan import NotDeployable, unverified_note
from ctrlplane.cli.options import global_options, workload_file_option
from ctrlplane.cli.output import emit_json
from ctrlplane.cli.workload_input import read_input
from ctrlplane.errors import InstanceNotFound, NotSupported, Problem
from ctrlplane.provider import (
    HealthCheckSpec,
    Release,
    ReleaseHistory,
    Renderer,
    ServiceSpec,
)

__all__ = ["plan_changes", "plan_cmd", "render_cmd"]


# -- render ------------------------------------------------------------------------------


def _yaml_documents(objects: Sequence[Mapping[str, Any]]) -> str:
    import yaml  # only this command needs it

    return "---\n".join(
        yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False) for obj in objects
    )


@click.command("render")
@workload_file_option("Workload or Compose file (YAML or JSON; - reads standard input).")
@click.option("--instance-id", default=None, help="Instance ID to render for (default: a new one).")
@global_options()
@pass_state
def render_cmd(state: CliState, file: str, instance_id: str | None) -> None:
    """Print the native objects the provider would create for a workload.

    Docker: network, volumes and container create bodies; Kubernetes: manifests as
    YAML; Nomad: the job as JSON. Contacts no engine or cluster and resolves no
    secret: secret values are never printed (references or redacted placeholders).

    Example: ctrlplane --provider kubernetes render -f examples/hello-web.yaml
    """
    workload = read_input(file)
    if not state.json:
        for note in workload.notes():
            click.echo(note, err=True)
    req = workload.request(instance_id=instance_id, tenant=state.tenant_id)
    provider = state.provider()
    if not isinstance(provider, Renderer):
        raise NotSupported(state.chosen_provider, "render", detail="the provider cannot render")
    objects = provider.render(req)
    if state.json or state.chosen_type != "kubernetes":
        emit_json(objects)
    else:
        click.echo(_yaml_documents(objects), nl=False)


# -- plan ------------------------------------------------------------------------------


def _env_lines(env: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(env.items())]


def _health_line(check: HealthCheckSpec | None) -> list[str]:
    if check is None:
        return []
    return ["health_check: " + json.dumps(check.to_wire(), sort_keys=True, separators=(",", ":"))]


def _blockers_of(name: str, blocked: Sequence[Problem]) -> list[str]:
    return [str(p) for p in blocked if p.path.split(".", 1)[0] == name]


def plan_changes(
    live: Release, services: Sequence[ServiceSpec], blocked: Sequence[Problem] = ()
) -> list[dict[str, Any]]:
    """Per service, what deploying ``services`` would change against ``live``.

    Each entry: ``service``, ``change`` (``update``, ``unchanged``, ``add`` for a service
    the live release lacks, ``remove`` for a live service the file does not list),
    ``image`` (``[old, new]`` when it changes), ``env`` (``{"added": {...}, "removed":
    {...}, "changed": {k: [old, new]}}``), ``health_check`` (``[old, new]`` when it
    changes), ``deployable`` and ``blockers`` (the differences of ``blocked`` -- see
    :func:`~ctrlplane.cli.deploy_plan.blockers` -- that concern this service).
    Secrets are references only; no value of theirs is looked up.
    """
    current = {s.name: s for s in live.services}
    out: list[dict[str, Any]] = []
    for svc in services:
        before = current.get(svc.name)
        old_env: Mapping[str, str] = before.env if before is not None else {}
        env = {
            "added": {k: v for k, v in svc.env.items() if k not in old_env},
            "removed": {k: v for k, v in old_env.items() if k not in svc.env},
            "changed": {
                k: [old_env[k], v] for k, v in svc.env.items() if k in old_env and old_env[k] != v
            },
        }
        entry: dict[str, Any] = {"service": svc.name}
        new_check = svc.health_check.to_wire() if svc.health_check else None
        if before is None:
            entry.update(
                change="add",
                image=[None, svc.image],
                env=env,
                health_check=[None, new_check] if new_check else None,
            )
        else:
            old_check = before.health_check.to_wire() if before.health_check else None
            image = [before.image, svc.image] if before.image != svc.image else None
            check = [old_check, new_check] if old_check != new_check else None
            changed = image is not None or check is not None or any(env.values())
            entry.update(
                change="update" if changed else "unchanged",
                image=image,
                env=env,
                health_check=check,
            )
        out.append(entry)
    listed = {s.name for s in services}
    out += [
        {"service": s.name, "change": "remove", "image": None, "env": {}, "health_check": None}
        for s in live.services
        if s.name not in listed
    ]
    for entry in out:
        entry["blockers"] = _blockers_of(entry["service"], blocked)
        entry["deployable"] = not entry["blockers"]
    return out


def _diff_text(
    live: Release, services: Sequence[ServiceSpec], file: str, blocked: Sequence[Problem]
) -> str:
    current = {s.name: s for s in live.services}
    listed = {s.name for s in services}
    chunks: list[str] = []
    for svc in services:
        before = current.get(svc.name)
        old = (
            [
                f"image: {before.image}",
                *("env " + e for e in _env_lines(before.env)),
                *_health_line(before.health_check),
            ]
            if before
            else []
        )
        new = [
            f"image: {svc.image}",
            *("env " + e for e in _env_lines(svc.env)),
            *_health_line(svc.health_check),
        ]
        if old == new:
            chunks.append(f"  {svc.name}: unchanged")
        else:
            diff = difflib.unified_diff(
                old,
                new,
                fromfile=f"{svc.name} (live {live.release_id})",
                tofile=f"{svc.name} ({file})",
                lineterm="",
            )
            chunks.append("\n".join(diff))
    names = [s.name for s in services] + [s.name for s in live.services if s.name not in listed]
    chunks += [
        f"  {name}: NOT DEPLOYABLE: {why}" for name in names for why in _blockers_of(name, blocked)
    ]
    return "\n".join(chunks)


def _plan_text(plan: Convergence, live: Release, services: Sequence[ServiceSpec], file: str) -> str:
    """The unified diff of image, env and health check per service, then the scale and
    re-create lines."""
    blocked = plan.recreate
    text = _diff_text(live, services, file, blocked)
    lines = [text] if text else []
    for change in plan.scale_changes:
        for key, (before, after) in change.scale.items():
            lines.append(f"  {change.service}: scale {key} {before} -> {after}")
    return "\n".join(lines)


@click.command("plan")
@workload_file_option("Workload or Compose file that up -f would apply (- reads standard input).")
@click.argument("instance", required=False, default=None, shell_complete=complete_instances)
@global_options()
@pass_state
def plan_cmd(state: CliState, file: str, instance: str | None) -> None:
    """Show what `up -f FILE` would change on the live instance.

    INSTANCE defaults to the instance running the file's workload name. Per service: a
    unified diff of image, env and health check (deployed), the main service's
    replicas, cpu and memory (scaled), and every difference only re-creating the
    instance applies (ports, command, volumes, secrets, services added or removed...),
    marked NOT DEPLOYABLE: plan then exits 2, as up -f (without --recreate) and
    deploy -f would. The live release's recorded specs are compared in full; for a
    release recorded before specs existed, the fields not compared are named. Secret
    values are never shown (secrets are references). Otherwise it exits 0, whether or
    not something would change.

    Example: ctrlplane plan -f examples/hello-web.yaml hello-web
    """
    from ctrlplane.cli.up_flow import existing_id

    workload = read_input(file)
    provider = state.provider()
    if not isinstance(provider, ReleaseHistory):
        raise NotSupported(state.chosen_provider, "releases", detail="no release history")

    async def go() -> tuple[str, LiveInstance, list[ServiceSpec]]:
        if instance:
            iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        else:
            name = str(workload.data.get("name", ""))
            found = await existing_id(provider, name, state.tenant_id)
            if found is None:
                raise InstanceNotFound(name or file, provider=state.chosen_provider)
            iid = found
        spec = workload.request(instance_id=iid, tenant=state.tenant_id)
        return iid, await read_live(provider, iid), list(spec.services)

    iid, live, services = run(go())
    plan = converge(live, services, file)
    shown = instance or str(workload.data.get("name", "")) or iid
    if state.json:
        doc = plan.to_json()
        if workload.ignored:
            doc["not_honoured"] = workload.ignored
        emit_json(doc)
    else:
        for note in workload.notes():
            click.echo(note, err=True)
        click.echo(f"plan for {iid} against live release {plan.live_release}:")
        click.echo(_plan_text(plan, live.release, services, file))
        deployed = [c.service for c in plan.services if c.deploys and c.deployable]
        scaled = [c.service for c in plan.scale_changes]
        if plan.unchanged:
            click.echo("no changes")
        elif deployed or scaled:
            what = []
            if deployed:
                what.append(f"{len(deployed)} service(s) would change: {', '.join(deployed)}")
            if scaled:
                what.append(f"would scale: {', '.join(scaled)}")
            click.echo("; ".join(what))
        else:
            click.echo("no deployable changes")
        if plan.not_compared:
            click.echo(unverified_note(plan.not_compared, shown, file))
    if plan.recreate:
        raise NotDeployable(
            plan.recreate, file=file, instance=shown, release=plan.live_release, verb="up"
        )
