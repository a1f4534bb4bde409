"""Commands that need no backend: ``validate`` and ``providers``."""

from __future__ import annotations

import json
from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state
from ctrlplane.cli.options import global_options, workload_file_option
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.errors import CtrlplaneError, InvalidSpec

__all__ = ["providers_cmd", "validate_cmd"]


@click.command("validate")
@workload_file_option(
    "Workload or Compose file (YAML or JSON; - reads standard input); repeat for several.",
    multiple=True,
)
@global_options()
@pass_state
def validate_cmd(state: CliState, files: tuple[str, ...]) -> None:
    """Check workload or Compose files and print every problem with its path.

    A Compose file is read as one workload (see docs/workload-files.md): the keys it
    cannot honour are listed as notes, and its main service is named. Exits 0 when
    every file is valid, 2 otherwise.

    Example: ctrlplane validate -f examples/hello-web.yaml -f examples/compose.yaml
    """
    from ctrlplane.cli.workload_input import read_input

    report = []
    failed = False
    for file in files:
        try:
            workload = read_input(file)
            req = workload.request()
        except InvalidSpec as exc:
            failed = True
            problems = [{"path": p.path, "message": p.message} for p in exc.problems]
            report.append({"file": file, "valid": False, "problems": problems})
            if not state.json:
                click.echo(f"{file}: {len(problems)} problem(s)", err=True)
                for p in exc.problems:
                    click.echo(f"  {p.path or '(file)'}: {p.message}", err=True)
            continue
        services = [{"name": s.name, "role": str(s.role), "image": s.image} for s in req.services]
        entry: dict[str, Any] = {
            "file": file,
            "valid": True,
            "compose": workload.compose,
            "name": req.name,
            "services": services,
        }
        if workload.compose:
            entry["not_honoured"] = workload.ignored
        report.append(entry)
        if not state.json:
            summary = ", ".join(f"{s.name} ({s.role})" for s in req.services)
            kind = "Compose file as workload" if workload.compose else "workload"
            click.echo(f"{file}: valid: {kind} {req.name or '(unnamed)'!s}: {summary}")
            for note in workload.notes():
                click.echo(f"  {note}")
    if state.json:
        emit_json(report)
    if failed:
        raise SystemExit(2)


@click.command("providers")
@global_options()
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
