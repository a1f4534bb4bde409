"""Commands that operate a running instance: start/stop/restart, exec, scale, deploy,
releases and rollback. Each addresses the instance by ID or workload name. ``logs`` lives
in :mod:`ctrlplane.cli.logs_cmd`."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.deploy_plan import (
    NotDeployable,
    blockers,
    live_facts,
    live_release,
    read_live,
    unverified,
    unverified_note,
)
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.cli.progress import progress_subscriber, report_interrupted
from ctrlplane.errors import CtrlplaneError, InvalidSpec, NotSupported, Problem
from ctrlplane.provider import (
    DeployRequest,
    ExecRequest,
    Provider,
    Release,
    ReleaseHistory,
    ResourceSpec,
    ServiceDeploySpec,
)
from ctrlplane.workload import load_workload

__all__ = [
    "deploy_cmd",
    "exec_cmd",
    "releases_cmd",
    "restart_cmd",
    "rollback_cmd",
    "scale_cmd",
    "start_cmd",
    "stop_cmd",
]


def _lifecycle(verb: str, done: str) -> click.Command:
    @click.command(verb)
    @click.argument("instance")
    @pass_state
    def command(state: CliState, instance: str) -> None:
        provider = state.provider()

        async def go() -> str:
            iid, _ = await resolve_instance(provider, instance, state.tenant)
            await getattr(provider, verb)(iid)
            return iid

        iid = run(go())
        if state.json:
            emit_json({"instance_id": iid, "action": verb, "ok": True})
        else:
            click.echo(f"{done} {iid}")

    command.help = (
        f"{verb.capitalize()} an instance (idempotent).\n\nExample: ctrlplane {verb} hello-web"
    )
    return command


start_cmd = _lifecycle("start", "started")
stop_cmd = _lifecycle("stop", "stopped")
restart_cmd = _lifecycle("restart", "restarted")


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("instance")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="Read standard input to EOF, then send it to the command once (not a live stream).",
)
@click.option(
    "-t",
    "--tty",
    is_flag=True,
    help="Allocate a pseudo-terminal in the container; the local terminal stays cooked.",
)
@click.option("-s", "--service", default="", help="Service to run in (default: main).")
@click.option("--replica", type=int, default=None, help="Replica to run in (default: 0).")
@pass_state
def exec_cmd(
    state: CliState,
    instance: str,
    command: tuple[str, ...],
    interactive: bool,
    tty: bool,
    service: str,
    replica: int | None,
) -> None:
    """Run a command in an instance; its exit code becomes ours.

    The command runs to completion, then its stdout and stderr are written (output is
    not streamed while it runs). With -i, standard input is read to EOF first (on a
    terminal: end it with Ctrl-D) and sent once; this is not an interactive session.
    With -t the command gets a pseudo-terminal in the container, but the local
    terminal stays cooked (no raw mode, no window size): use it for commands that
    insist on a terminal, not for shells or editors.

    Example: ctrlplane exec hello-web -- cat /www/index.html
    """
    stdin: bytes | None = None
    if interactive:
        if sys.stdin.isatty() and not state.json:
            click.echo("reading standard input until EOF (Ctrl-D), then sending it", err=True)
        stdin = sys.stdin.buffer.read()
    req = ExecRequest(command=list(command), stdin=stdin, tty=tty, service=service, replica=replica)
    provider = state.provider()

    async def go() -> int:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        result = await provider.exec(iid, req)
        if state.json:
            emit_json(result.to_wire())
        else:
            sys.stdout.buffer.write(result.stdout)
            sys.stdout.buffer.flush()
            sys.stderr.buffer.write(result.stderr)
            sys.stderr.buffer.flush()
        return result.exit_code

    code = run(go())
    if code:
        raise SystemExit(code)


@click.command("scale")
@click.argument("instance")
@click.option("--replicas", type=int, default=0, help="Replica count (0: unchanged).")
@click.option("--cpu", type=int, default=0, help="CPU limit in millicores (0: unchanged).")
@click.option("--memory", type=int, default=0, help="Memory limit in MB (0: unchanged).")
@pass_state
def scale_cmd(state: CliState, instance: str, replicas: int, cpu: int, memory: int) -> None:
    """Change the replica count and limits of an instance.

    Example: ctrlplane scale hello-web --replicas 3 --memory 128
    """
    spec = ResourceSpec(replicas=replicas, cpu_millis=cpu, memory_mb=memory)
    provider = state.provider()

    async def go() -> str:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        await provider.scale(iid, spec)
        return iid

    iid = run(go())
    if state.json:
        emit_json({"instance_id": iid, "scaled": spec.to_wire()})
    else:
        click.echo(f"scaled {iid}")


def _history(provider: Provider, state: CliState) -> ReleaseHistory:
    if not isinstance(provider, ReleaseHistory):
        raise NotSupported(state.chosen_provider, "releases", detail="no release history")
    return provider


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
    file: Path | None,
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
    provider: Provider, state: CliState, iid: str, instance: str, file: Path
) -> list[ServiceDeploySpec]:
    """The deploy of every service of ``file``; refuses what a deploy cannot apply."""
    spec = load_workload(file, instance_id=iid)
    live, status = await read_live(provider, iid)
    blocked = blockers(live_facts(live, status), spec.services, file)
    if blocked:
        raise NotDeployable(
            blocked, file=file, instance=instance, release=live.release_id if live else ""
        )
    note = unverified_note(unverified(spec.services), instance, file)
    if note and not state.json:
        click.echo(note, err=True)
    return [
        ServiceDeploySpec(name=s.name, image=s.image, env=s.env, health_check=s.health_check)
        for s in spec.services
    ]


@click.command("deploy")
@click.argument("instance")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Deploy the image, env and health check of every service of this workload file "
    "(refused when it differs in what a deploy cannot change; see plan).",
)
@click.option("-s", "--service", default="", help="Service to change (default: the only one).")
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
@pass_state
def deploy_cmd(
    state: CliState,
    instance: str,
    file: Path | None,
    service: str,
    image: str,
    env: tuple[str, ...],
    unset_env: tuple[str, ...],
    replace_env: bool,
    strategy: str,
) -> None:
    """Roll out a new release of an instance.

    Either one service (--service, default the only one) with a new --image and/or env
    changes, everything else taken from the live release: -e KEY=VALUE sets a key and
    keeps the others, --unset-env KEY removes one, --replace-env makes the -e pairs the
    whole env. Or every service of a workload file (-f): a deploy applies image, env
    and health check; a file that adds or removes a service, changes ports or drops a
    health check is refused (exit 2; use down + up, or scale for resources). Progress
    is shown on stderr. A release that fails its health gate is rolled back (exit 7;
    exit 8 if the previous release could not be restored). Ctrl-C cancels, restores
    the previous release and says what runs.

    Example: ctrlplane deploy hello-web -e GREETING=hi --strategy blue-green
    """
    _check_deploy_options(file, service, image, env, unset_env, replace_env)
    provider = state.provider()
    resolved: list[str] = []

    async def go() -> tuple[str, str]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        resolved.append(iid)
        if file is not None:
            services = await _from_file(provider, state, iid, instance, file)
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
        result = await provider.deploy(
            DeployRequest(instance_id=iid, services=services, strategy=strategy),
            events=progress_subscriber(state.json),
        )
        return iid, result.release_id

    try:
        iid, release = run(go())
    except KeyboardInterrupt:
        report_interrupted(provider, resolved[0] if resolved else "", nothing="nothing was changed")
    if state.json:
        emit_json({"instance_id": iid, "release_id": release, "strategy": strategy})
    else:
        click.echo(f"deployed {release or 'a new release'} to {iid} ({strategy})")


def _main_name(release: Release) -> str:
    if len(release.services) == 1:
        return release.services[0].name
    names = ", ".join(s.name for s in release.services)
    raise click.UsageError(f"the instance has several services ({names}); name one with --service")


@click.command("releases")
@click.argument("instance")
@pass_state
def releases_cmd(state: CliState, instance: str) -> None:
    """List an instance's retained releases, newest first; * marks the live one.

    Example: ctrlplane releases hello-web
    """
    provider = state.provider()

    async def go() -> tuple[str, list[Release]]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        return iid, await _history(provider, state).releases(iid)

    iid, history = run(go())
    if state.json:
        emit_json({"instance_id": iid, "releases": [r.to_wire() for r in history]})
        return
    echo_table(
        ["", "release", "created", "strategy", "services"],
        [
            [
                "*" if r.live else "",
                r.release_id,
                r.created_at.isoformat(timespec="seconds"),
                r.strategy or ("rollback" if r.rollback_of else "provision"),
                ", ".join(f"{s.name}={s.image}" for s in r.services),
            ]
            for r in history
        ],
    )


@click.command("rollback")
@click.argument("instance")
@click.option("--to", "to", default="", help="Release to restore (default: the previous one).")
@pass_state
def rollback_cmd(state: CliState, instance: str, to: str) -> None:
    """Restore an earlier release exactly (recorded as a new release).

    Progress is shown on stderr. A restore that fails its health gate exits 7 (the
    release before it runs again) or 8 (it could not be restored). Ctrl-C cancels and
    says what state the instance was left in.

    Example: ctrlplane rollback hello-web
    """
    provider = state.provider()
    resolved: list[str] = []

    async def go() -> tuple[str, str]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        resolved.append(iid)
        target = to
        if not target:
            history = await _history(provider, state).releases(iid)
            live_at = next((i for i, r in enumerate(history) if r.live), 0)
            if live_at + 1 >= len(history):
                raise click.UsageError("there is no earlier release to roll back to")
            target = history[live_at + 1].release_id
        await provider.rollback(iid, target, events=progress_subscriber(state.json))
        return iid, target

    try:
        iid, target = run(go())
    except KeyboardInterrupt:
        report_interrupted(provider, resolved[0] if resolved else "", nothing="nothing was changed")
    if state.json:
        emit_json({"instance_id": iid, "restored": target})
    else:
        click.echo(f"rolled {iid} back to {target}")
