"""Commands that look without changing anything: ``render`` and ``plan``.

``render`` needs no backend at all (the providers' pure translation functions);
``plan`` reads the live release. Neither resolves a secret: secrets are references, and
only references (or redacted placeholders) are ever printed. ``doctor`` lives in
:mod:`ctrlplane.cli.doctor_cmd`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.output import emit_json
from ctrlplane.errors import CtrlplaneError, NotSupported
from ctrlplane.provider import (
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


# -- plan --------------------------------------------------------------------------------


def _env_lines(env: Mapping[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(env.items())]


def plan_changes(live: Release, services: Sequence[ServiceSpec]) -> list[dict[str, Any]]:
    """Per service, what deploying ``services`` would change against ``live``.

    Each entry: ``service``, ``change`` (``update``, ``add``, ``unchanged`` or ``keep``
    for a live service the file does not list), ``image`` (``[old, new]`` when it changes)
    and ``env`` (``{"added": {...}, "removed": {...}, "changed": {k: [old, new]}}``).
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
        if before is None:
            entry.update(change="add", image=[None, svc.image], env=env)
        else:
            image = [before.image, svc.image] if before.image != svc.image else None
            changed = image is not None or any(env.values())
            entry.update(change="update" if changed else "unchanged", image=image, env=env)
        out.append(entry)
    listed = {s.name for s in services}
    out += [
        {"service": s.name, "change": "keep", "image": None, "env": {}}
        for s in live.services
        if s.name not in listed
    ]
    return out


def _diff_text(live: Release, services: Sequence[ServiceSpec], file: Path) -> str:
    current = {s.name: s for s in live.services}
    listed = {s.name for s in services}
    chunks: list[str] = []
    for svc in services:
        before = current.get(svc.name)
        old = (
            [f"image: {before.image}", *("env " + e for e in _env_lines(before.env))]
            if before
            else []
        )
        new = [f"image: {svc.image}", *("env " + e for e in _env_lines(svc.env))]
        if old == new:
            chunks.append(f"  {svc.name}: unchanged")
            continue
        diff = difflib.unified_diff(
            old,
            new,
            fromfile=f"{svc.name} (live {live.release_id})",
            tofile=f"{svc.name} ({file})",
            lineterm="",
        )
        chunks.append("\n".join(diff))
    chunks += [
        f"  {s.name}: not in {file}; keeps {s.image}" for s in live.services if s.name not in listed
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

    Per service: image and env differences, as a unified diff (JSON: structured).
    Secret values are never shown: secrets are references and are not resolved.
    Exits 0 whether or not something would change.

    Example: ctrlplane plan -f examples/hello-web.yaml hello-web
    """
    provider = state.provider()

    async def go() -> tuple[str, Release, list[ServiceSpec]]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        spec = load_workload(file, instance_id=iid)
        if not isinstance(provider, ReleaseHistory):
            raise NotSupported(state.chosen_provider, "releases", detail="no release history")
        history = await provider.releases(iid)
        live = next((r for r in history if r.live), history[0] if history else None)
        if live is None:
            raise CtrlplaneError(f"instance {iid} has no recorded release to compare with")
        return iid, live, list(spec.services)

    iid, live, services = run(go())
    changes = plan_changes(live, services)
    if state.json:
        emit_json({"instance_id": iid, "live_release": live.release_id, "services": changes})
        return
    click.echo(f"plan for {iid} against live release {live.release_id}:")
    click.echo(_diff_text(live, services, file))
    changed = [c["service"] for c in changes if c["change"] in ("update", "add")]
    click.echo(
        f"{len(changed)} service(s) would change: {', '.join(changed)}" if changed else "no changes"
    )
