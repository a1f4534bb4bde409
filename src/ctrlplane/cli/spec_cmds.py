"""Commands that need no backend: ``validate`` and ``providers``."""

from __future__ import annotations

from pathlib import Path

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

    A provider whose install extra is missing is listed with the command to install it.

    Example: ctrlplane providers --output json
    """
    registry = state.registry
    rows = []
    for name in registry.list():
        entry: dict[str, object] = {"name": name, "default": name == state.chosen_provider}
        try:
            provider = registry.get(name)
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
    table = []
    for r in rows:
        caps = r["capabilities"]
        assert isinstance(caps, list)
        detail = ", ".join(caps) if r["available"] else str(r.get("error", ""))
        table.append([f"{r['name']}{' (default)' if r['default'] else ''}", detail])
    echo_table(["provider", "capabilities"], table)
