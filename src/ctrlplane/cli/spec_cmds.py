"""Commands that need no backend: ``validate`` and ``providers``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.errors import CtrlplaneError, InvalidSpec
from ctrlplane.workload import load_workload

__all__ = ["providers_cmd", "validate_cmd"]


@click.command("validate")
@click.option(
    "-f",
    "--file",
    "files",
    required=True,
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Workload file (YAML or JSON); repeat for several.",
)
@pass_state
def validate_cmd(state: CliState, files: tuple[Path, ...]) -> None:
    """Check workload files and print every problem with its field path.

    Exits 0 when every file is valid, 2 otherwise.

    Example: ctrlplane validate -f examples/hello-web.yaml
    """
    report = []
    failed = False
    for file in files:
        try:
            req = load_workload(file)
        except InvalidSpec as exc:
            failed = True
            problems = [{"path": p.path, "message": p.message} for p in exc.problems]
            report.append({"file": str(file), "valid": False, "problems": problems})
            if not state.json:
                click.echo(f"{file}: {len(problems)} problem(s)", err=True)
                for p in exc.problems:
                    click.echo(f"  {p.path or '(file)'}: {p.message}", err=True)
            continue
        services = [{"name": s.name, "role": str(s.role), "image": s.image} for s in req.services]
        report.append({"file": str(file), "valid": True, "name": req.name, "services": services})
        if not state.json:
            summary = ", ".join(f"{s.name} ({s.role})" for s in req.services)
            click.echo(f"{file}: valid: workload {req.name or '(unnamed)'!s}: {summary}")
    if state.json:
        emit_json(report)
    if failed:
        raise SystemExit(2)


@click.command("providers")
@pass_state
def providers_cmd(state: CliState) -> None:
    """List the providers that can be used and what each supports.

    Lists the installed backends and the [providers.NAME] sections of ctrlplane.toml
    (with their settings, secrets redacted). A provider whose install extra is missing
    or whose settings are invalid is listed with what to do.

    Example: ctrlplane providers --output json
    """
    catalog = state.catalog
    rows: list[dict[str, Any]] = []
    for name in catalog.names():
        entry: dict[str, Any] = {
            "name": name,
            "type": catalog.type_of(name),
            "source": catalog.source(name),
            "default": name == state.chosen_provider,
            "settings": catalog.settings(name),
        }
        try:
            provider = catalog.get(name)
        except CtrlplaneError as exc:
            entry.update(available=False, capabilities=[], error=str(exc))
        else:
            declared = [str(c) for c in provider.capabilities()]
            entry.update(available=True, capabilities=declared, version=provider.info().version)
        rows.append(entry)
    if state.json:
        emit_json(rows)
        return
    if not rows:
        click.echo(
            "no providers registered; install a backend with pip install 'ctrlplane[docker]' "
            "(providers register under the 'ctrlplane.providers' entry point group)"
        )
        return
    if state.config.path is not None:
        click.echo(f"config file: {state.config.path}")
    table = []
    for r in rows:
        detail = ", ".join(r["capabilities"]) if r["available"] else " ".join(r["error"].split())
        settings = " ".join(f"{k}={_setting(v)}" for k, v in r["settings"].items()) or "-"
        table.append(
            [f"{r['name']}{' (default)' if r['default'] else ''}", r["type"], settings, detail]
        )
    echo_table(["provider", "type", "settings", "capabilities"], table)


def _setting(value: object) -> str:
    """A setting as one short token (TOML-ish): strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)
