"""``doctor``: is every known provider usable, and if not, what to fix.

Checks every provider the CLI knows (installed backends and ``ctrlplane.toml``
sections): its settings are valid, its backend answers ``health_check()`` (and how
fast), its version and capabilities. Never prints a setting's value (tokens stay out).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state, run
from ctrlplane.cli.options import global_options
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.errors import CtrlplaneError, InvalidSpec, MissingExtra
from ctrlplane.provider import HealthChecker, HealthStatus, Provider

__all__ = ["doctor_cmd", "fix_hint"]

_HINTS = {
    "docker": "start the Docker engine, or point CTRLPLANE_DOCKER_DOCKER_HOST "
    "(or DOCKER_HOST, or docker_host in ctrlplane.toml) at a running one",
    "kubernetes": "set CTRLPLANE_K8S_KUBECONFIG (or KUBECONFIG, or kubeconfig in "
    "ctrlplane.toml) to a kubeconfig of a reachable cluster, and CTRLPLANE_K8S_CONTEXT "
    "(context) to pick its context",
    "nomad": "start a Nomad agent, or set NOMAD_ADDR and NOMAD_TOKEN (or address and token "
    "in ctrlplane.toml) to a reachable one",
    "ecs": "set CTRLPLANE_ECS_REGION (or AWS_REGION), CTRLPLANE_ECS_CLUSTER and AWS "
    "credentials (the standard AWS chain), and make sure the lease table exists "
    "(docs/ecs.md)",
    "fly": "set CTRLPLANE_FLY_TOKEN (or FLY_API_TOKEN, or token in ctrlplane.toml) and "
    "CTRLPLANE_FLY_ORG_SLUG; check CTRLPLANE_FLY_API_URL",
}


def fix_hint(kind: str, source: str = "installed") -> str:
    """What to do when a provider of backend type ``kind`` cannot reach its backend;
    ``source`` is where the provider was configured (a config file section, or not)."""
    hint = _HINTS.get(kind, f"check the configuration of the {kind!r} backend")
    if source != "installed":
        hint += f"; its settings are in {source}"
    return hint


async def _check(provider: Provider) -> tuple[HealthStatus | None, float]:
    """The provider's health (``None``: it cannot check) and the seconds it took."""
    if not isinstance(provider, HealthChecker):
        return None, 0.0
    began = time.monotonic()
    try:
        async with asyncio.timeout(15):
            health = await provider.health_check()
    except TimeoutError:
        health = HealthStatus(
            healthy=False, message="no answer within 15s", checked_at=datetime.now(UTC)
        )
    return health, time.monotonic() - began


def _unusable(entry: dict[str, Any], exc: CtrlplaneError, source: str) -> dict[str, Any]:
    if isinstance(exc, MissingExtra):
        fix = exc.install
    elif isinstance(exc, InvalidSpec):
        fix = f"correct the settings in {source}" if source != "installed" else str(exc)
        entry["config_error"] = True
    else:
        fix = fix_hint(entry["type"], source)
    entry.update(available=False, healthy=False, message=str(exc), fix=fix, capabilities=[])
    return entry


def _doctor_entry(state: CliState, name: str) -> dict[str, Any]:
    catalog = state.catalog
    source = catalog.source(name)
    entry: dict[str, Any] = {
        "name": name,
        "type": catalog.type_of(name),
        "source": source,
        "chosen": name == state.chosen_provider,
    }
    try:
        provider = catalog.get(name)
    except CtrlplaneError as exc:
        return _unusable(entry, exc, source)
    try:
        health, took = run(_check(provider))
    except CtrlplaneError as exc:
        health, took = None, 0.0
        entry["message"] = str(exc)
    info = provider.info()
    entry.update(
        available=True,
        healthy=bool(health and health.healthy),
        latency_ms=round(
            (health.latency.total_seconds() if health and health.latency else took) * 1000, 1
        ),
        version=info.version,
        capabilities=[str(c) for c in provider.capabilities()],
    )
    if health is not None:
        entry["message"] = health.message
    elif "message" not in entry:
        entry["message"] = "the provider cannot check its backend"
    if not entry["healthy"]:
        entry["fix"] = fix_hint(entry["type"], source)
    return entry


@click.command("doctor")
@global_options()
@pass_state
def doctor_cmd(state: CliState) -> None:
    """Check every known provider: settings, reachable, latency, version, capabilities.

    Known providers are the installed backends and the [providers.NAME] sections of
    ctrlplane.toml. For one that does not work, says what to fix. Exits 0 when the
    chosen provider is healthy, 2 when its settings are invalid, 5 otherwise.

    Example: ctrlplane doctor --output json
    """
    entries = [_doctor_entry(state, name) for name in state.catalog.names()]
    chosen = next((e for e in entries if e["chosen"]), None)
    if state.json:
        emit_json(entries)
    else:
        if state.config.path is not None:
            click.echo(f"config file: {state.config.path}")
        rows = [
            [
                e["name"] + (" (chosen)" if e["chosen"] else ""),
                "ok"
                if e["healthy"]
                else ("invalid config" if e.get("config_error") else "unreachable"),
                e["type"],
                f"{e['latency_ms']:g}ms" if "latency_ms" in e else "-",
                e.get("version") or "-",
                ", ".join(e["capabilities"]) or "-",
            ]
            for e in entries
        ]
        echo_table(["provider", "health", "type", "latency", "version", "capabilities"], rows)
        for e in entries:
            if not e["healthy"]:
                click.echo(f"{e['name']}: {e['message']}")
                click.echo(f"  fix: {e['fix']}")
    if chosen is None:
        state.provider()  # raises: the chosen name is unknown (exit 3) or a bad default
    elif chosen.get("config_error"):
        raise SystemExit(2)
    elif not chosen["healthy"]:
        raise SystemExit(5)
