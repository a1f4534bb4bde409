"""``deploy``: a new release of one service (``--image``, ``-e``) or of a whole file (``-f``).

One service: the live release's values with the options applied (``-e`` merges into the
live env, ``--unset-env`` removes a key, ``--replace-env`` makes the pairs the whole env).
A whole file: image, env and health check of every service; the differences a deploy
cannot apply (what ``up`` would scale or re-create) are refused, exit 2
(:mod:`ctrlplane.cli.converge`).

``--canary-units`` and ``--canary-watch`` set the provider's canary settings for this
deploy (built-in backends: ``canary_units``/``canary_count`` and
``canary_observation``); another provider refuses them (exit 4). ``--detach`` starts the
deploy in a background ``ctrlplane`` process and returns at once
(:mod:`ctrlplane.cli.detach`); ``ctrlplane rollout status`` follows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import click

from ctrlplane.cli.completion import complete_instances, complete_services
from ctrlplane.cli.context import CliState, pass_state
from ctrlplane.cli.converge import converge, read_live
from ctrlplane.cli.deploy_plan import NotDeployable, live_release
from ctrlplane.cli.operations import deploy_with_progress, probe_intervals
from ctrlplane.cli.options import DURATION, global_options, workload_file_option
from ctrlplane.cli.output import emit_json
from ctrlplane.cli.progress import run_on_instance
from ctrlplane.cli.workload_input import read_input
from ctrlplane.errors import CtrlplaneError, InvalidSpec, NotSupported, Problem
from ctrlplane.provider import (
    DeployRequest,
    Provider,
    Release,
    ReleaseHistory,
    ServiceDeploySpec,
)

__all__ = ["CANARY_SETTINGS", "deploy_cmd", "new_env"]

CANARY_SETTINGS: dict[str, tuple[str, str]] = {
    "docker": ("canary_units", "canary_observation"),
    "kubernetes": ("canary_units", "canary_observation"),
    "nomad": ("canary_count", "canary_observation"),
}
"""Per backend type: the config fields of the canary unit count and watch time."""


def _parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidSpec([Problem("--env", f"{pair!r} is not KEY=VALUE")], subject="option")
        env[key] = value
    return env


def new_env(
    live: Mapping[str, str] | None,
    sets: Mapping[str, str],
    unset: Sequence[str],
    *,
    replace: bool,
    service: str,
) -> dict[str, str]:
    """The env a deploy sends: ``sets`` merged into ``live`` minus ``unset`` keys, or,
    with ``replace``, ``sets`` alone. An unset key the live env lacks is an error."""
    if replace:
        return dict(sets)
    assert live is not None
    missing = [k for k in unset if k not in live]
    if missing:
        known = ", ".join(sorted(live)) or "none"
        raise InvalidSpec(
            [
                Problem("--unset-env", f"{k!r} is not set in the live env of {service!r}")
                for k in missing
            ]
            + [Problem("--unset-env", f"keys set: {known}")],
            subject="option",
        )
    return {**{k: v for k, v in live.items() if k not in unset}, **sets}


def _check_deploy_options(
    file: str | None,
    service: str,
    image: str,
    env: tuple[str, ...],
    unset_env: tuple[str, ...],
    replace_env: bool,
) -> None:
    if file is not None:
        given = [
            name
            for name, value in (
                ("--service", service),
                ("--image", image),
                ("--env", env),
                ("--unset-env", unset_env),
                ("--replace-env", replace_env),
            )
            if value
        ]
        if given:
            raise click.UsageError(f"-f cannot be combined with {', '.join(given)}")
        return
    if not (image or env or unset_env or replace_env):
        raise click.UsageError("nothing to deploy: give --image, --env, --unset-env or -f")
    if replace_env and unset_env:
        raise click.UsageError("--unset-env and --replace-env exclude each other")
    both = sorted(set(_parse_env(env)) & set(unset_env))
    if both:
        raise click.UsageError(f"--env and --unset-env both name {', '.join(both)}")


async def _one_service(
    provider: Provider,
    state: CliState,
    iid: str,
    *,
    service: str,
    image: str,
    env: tuple[str, ...],
    unset_env: tuple[str, ...],
    replace_env: bool,
) -> ServiceDeploySpec:
    """The deploy of one service: the live release's values with the options applied."""
    sets = _parse_env(env)
    if not isinstance(provider, ReleaseHistory):
        # A deploy sends the whole env: without the live one, only an explicit
        # replacement is safe (an image-only deploy would silently drop the env).
        if not replace_env:
            raise NotSupported(
                state.chosen_provider,
                "releases",
                detail="it keeps no release history, so the live env cannot be kept or "
                "merged; pass --replace-env with every KEY=VALUE the service needs "
                "(and --service and --image)",
            )
        if not service or not image:
            raise click.UsageError(
                f"provider {state.chosen_provider!r} keeps no release history, so the live "
                "service cannot be read: give --service and --image"
            )
        # No health check: the provider keeps the live one.
        return ServiceDeploySpec(name=service, image=image, env=sets)
    live = live_release(await provider.releases(iid))
    if live is None:
        raise CtrlplaneError("the instance has no recorded release; deploy it with -f FILE")
    name = service or _main_name(live)
    try:
        current = live.service(name)
    except KeyError:
        raise InvalidSpec(
            [Problem("--service", f"no service {name!r} in the live release")],
            subject="option",
        ) from None
    return ServiceDeploySpec(
        name=name,
        image=image or current.image,
        env=new_env(current.env, sets, unset_env, replace=replace_env, service=name),
        health_check=current.health_check,
    )


async def _from_file(
    provider: Provider, state: CliState, iid: str, instance: str, file: str
) -> tuple[list[ServiceDeploySpec], dict[str, float]]:
    """The deploy of every service of ``file``; refuses what a deploy cannot apply."""
    workload = read_input(file)
    if not state.json:
        for note in workload.notes():
            click.echo(note, err=True)
    spec = workload.request(instance_id=iid, tenant=state.tenant_id)
    live = await read_live(provider, iid)
    plan = converge(live, spec.services, file)
    blocked = list(plan.recreate)
    for change in plan.scale_changes:
        for key, (before, after) in change.scale.items():
            blocked.append(
                Problem(
                    f"{change.service}.resources.{key}",
                    f"{before} (live) -> {after}: a deploy does not scale",
                )
            )
    if blocked:
        raise NotDeployable(blocked, file=file, instance=instance, release=plan.live_release)
    if plan.not_compared and not state.json:
        listed = "; ".join(f"{n}: {', '.join(f)}" for n, f in plan.not_compared.items())
        click.echo(
            "note: not compared with the live instance and not applied by a deploy (the "
            f"live release predates full spec records): {listed}",
            err=True,
        )
    services = [
        ServiceDeploySpec(name=s.name, image=s.image, env=s.env, health_check=s.health_check)
        for s in spec.services
    ]
    return services, probe_intervals({s.name: s.health_check for s in spec.services})


def canary_settings(state: CliState, units: int | None, watch: float | None) -> None:
    """Ask the provider for these canary settings (``NotSupported`` where it has none)."""
    if units is None and watch is None:
        return
    fields = CANARY_SETTINGS.get(state.chosen_type)
    if fields is None:
        raise NotSupported(
            state.chosen_provider,
            "--canary-units/--canary-watch",
            detail="only the docker, kubernetes and nomad backends have canary settings",
        )
    if units is not None:
        state.settings[fields[0]] = units
    if watch is not None:
        state.settings[fields[1]] = watch


@click.command("deploy")
@click.argument("instance", shell_complete=complete_instances)
@workload_file_option(
    "Deploy the image, env and health check of every service of this workload or "
    "Compose file (- reads standard input; refused when it differs in what a deploy "
    "cannot change: see plan, or use up -f).",
    required=False,
)
@click.option(
    "-s",
    "--service",
    default="",
    shell_complete=complete_services,
    help="Service to change (default: the only one).",
)
@click.option("--image", default="", help="New image of the service.")
@click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set KEY in the service's env, merged into the live release's env (repeatable).",
)
@click.option(
    "--unset-env",
    "unset_env",
    multiple=True,
    metavar="KEY",
    help="Remove KEY from the service's env (repeatable).",
)
@click.option(
    "--replace-env",
    is_flag=True,
    help="Make the -e pairs the whole env of the service (the live env is dropped).",
)
@click.option(
    "--strategy",
    type=click.Choice(["rolling", "blue-green", "canary"]),
    default="rolling",
    show_default=True,
    help="How the new release replaces the old one (each gated by the health checks).",
)
@click.option(
    "--canary-units",
    type=click.IntRange(min=1),
    default=None,
    help="Canary deploys: how many units get the new version first (provider setting "
    "canary_units; nomad: canary_count).",
)
@click.option(
    "--canary-watch",
    type=DURATION,
    default=None,
    help="Canary deploys: how long the canary must stay healthy before the rest roll "
    "(provider setting canary_observation), e.g. 30s.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Start the deploy in the background and return; follow it with ctrlplane "
    "rollout status INSTANCE.",
)
@click.option(
    "--timeout",
    type=DURATION,
    default="15m",
    show_default=True,
    help="How long the deploy may take (2m, 90s).",
)
@global_options()
@pass_state
def deploy_cmd(
    state: CliState,
    instance: str,
    file: str | None,
    service: str,
    image: str,
    env: tuple[str, ...],
    unset_env: tuple[str, ...],
    replace_env: bool,
    strategy: str,
    canary_units: int | None,
    canary_watch: float | None,
    detach: bool,
    timeout: float,
) -> None:
    """Roll out a new release of an instance.

    Either one service (--service, default the only one) with a new --image and/or env
    changes, everything else taken from the live release: -e KEY=VALUE sets a key and
    keeps the others, --unset-env KEY removes one, --replace-env makes the -e pairs the
    whole env. Or every service of a workload or Compose file (-f): a deploy applies
    image, env and health check; a file that differs in anything else (services,
    ports, command, volumes, replicas...) is refused (exit 2; ctrlplane up -f converges
    it). Progress is shown on stderr. A release that fails its health gate is rolled
    back (exit 7; exit 8 if the previous release could not be restored), showing the
    failing probe and the new unit's last log lines. --detach returns at once; Ctrl-C
    cancels, restores the previous release and says what runs.

    Example: ctrlplane deploy hello-web -e GREETING=hi --strategy blue-green
    """
    _check_deploy_options(file, service, image, env, unset_env, replace_env)
    canary_settings(state, canary_units, canary_watch)
    if detach:
        from ctrlplane.cli.detach import detach_deploy

        detach_deploy(state, instance)
        return
    provider = state.provider()

    async def go(iid: str) -> str:
        intervals: dict[str, float] = {}
        if file is not None:
            services, intervals = await _from_file(provider, state, iid, instance, file)
        else:
            services = [
                await _one_service(
                    provider,
                    state,
                    iid,
                    service=service,
                    image=image,
                    env=env,
                    unset_env=unset_env,
                    replace_env=replace_env,
                )
            ]
            intervals = probe_intervals({s.name: s.health_check for s in services})
        result = await deploy_with_progress(
            state,
            provider,
            DeployRequest(instance_id=iid, services=services, strategy=strategy),
            intervals=intervals,
            limit=timeout,
        )
        return result.release_id

    iid, release = run_on_instance(provider, instance, state.tenant_id, go)
    if state.json:
        emit_json({"instance_id": iid, "release_id": release, "strategy": strategy})
    else:
        click.echo(f"deployed {release or 'a new release'} to {iid} ({strategy})")


def _main_name(release: Release) -> str:
    if len(release.services) == 1:
        return release.services[0].name
    names = ", ".join(s.name for s in release.services)
    raise click.UsageError(f"the instance has several services ({names}); name one with --service")
