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
from pathlib import Path
from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.deploy_plan import (
    NotDeployable,
    blockers,
    live_facts,
    read_live,
    unverified,
    unverified_note,
)
from ctrlplane.cli.output import emit_json
from ctrlplane.errors import NotSupported, Problem
from ctrlplane.provider import (
    HealthCheckSpec,
    InstanceStatus,
    Release,
    ReleaseHistory,
    Renderer,
    ServiceSpec,
)
from ctrlplane.workload import load_workload, parse_workload, read_workload_data

__all__ = ["plan_changes", "plan_cmd", "render_cmd"]


# -- render ------------------------------------------------------------------------------


def _yaml_documents(objects: Sequence[Mapping[str, Any]]) -> str:
    import yaml  # only this command needs it

    return "---\n".join(
        yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False) for obj in objects
    )


@click.command("render")
@click.option(
    "-f",
    "--file",
    "file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Workload file (YAML or JSON).",
)
@click.option("--instance-id", default=None, help="Instance ID to render for (default: a new one).")
@pass_state
def render_cmd(state: CliState, file: Path, instance_id: str | None) -> None:
    """Print the native objects the provider would create for a workload.

    Docker: network, volumes and container create bodies; Kubernetes: manifests as
    YAML; Nomad: the job as JSON. Contacts no engine or cluster and resolves no
    secret: secret values are never printed (references or redacted placeholders).

    Example: ctrlplane --provider kubernetes render -f examples/hello-web.yaml
    """
    data = read_workload_data(file)
    if state.tenant:
        data["tenant_id"] = state.tenant
    req = parse_workload(data, instance_id=instance_id, source=f"workload file {file}")
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
    live: Release, services: Sequence[ServiceSpec], file: Path, blocked: Sequence[Problem]
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


@click.command("plan")
@click.option(
    "-f",
    "--file",
    "file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Workload file deploy -f would roll out.",
)
@click.argument("instance")
@pass_state
def plan_cmd(state: CliState, file: Path, instance: str) -> None:
    """Show what `deploy INSTANCE -f FILE` would change against the live release.

    Per service: image, env and health check differences, as a unified diff (JSON:
    structured). Differences a deploy cannot apply (a service added or removed, other
    ports, a health check removed) are marked NOT DEPLOYABLE: plan then exits 2, as
    deploy -f would. Fields no provider records per release (command, args, resources,
    volumes, secrets, ...) cannot be compared and are listed as not compared. Secret
    values are never shown: secrets are references and are not resolved. Otherwise it
    exits 0, whether or not something would change.

    Example: ctrlplane plan -f examples/hello-web.yaml hello-web
    """
    provider = state.provider()

    async def go() -> tuple[str, Release, list[ServiceSpec], InstanceStatus]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        spec = load_workload(file, instance_id=iid)
        if not isinstance(provider, ReleaseHistory):
            raise NotSupported(state.chosen_provider, "releases", detail="no release history")
        live, status = await read_live(provider, iid)
        assert live is not None  # read_live raises when a history has no release
        return iid, live, list(spec.services), status

    iid, live, services, status = run(go())
    blocked = blockers(live_facts(live, status), services, file)
    changes = plan_changes(live, services, blocked)
    not_compared = unverified(services)
    if state.json:
        emit_json(
            {
                "instance_id": iid,
                "live_release": live.release_id,
                "deployable": not blocked,
                "services": changes,
                "not_compared": not_compared,
            }
        )
    else:
        click.echo(f"plan for {iid} against live release {live.release_id}:")
        click.echo(_diff_text(live, services, file, blocked))
        changed = [c["service"] for c in changes if c["change"] == "update" and c["deployable"]]
        click.echo(
            f"{len(changed)} service(s) would change: {', '.join(changed)}"
            if changed
            else "no changes"
            if not blocked
            else "no deployable changes"
        )
        note = unverified_note(not_compared, instance, file)
        if note:
            click.echo(note)
    if blocked:
        raise NotDeployable(blocked, file=file, instance=instance, release=live.release_id)
