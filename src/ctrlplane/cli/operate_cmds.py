"""Commands that operate a running instance: start/stop/restart, exec, scale, deploy,
releases and rollback. Each addresses the instance by ID or workload name. ``logs`` lives
in :mod:`ctrlplane.cli.logs_cmd`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
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
@click.option("-i", "--interactive", is_flag=True, help="Send standard input to the command.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a terminal.")
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

    Example: ctrlplane exec hello-web -- cat /www/index.html
    """
    stdin = sys.stdin.buffer.read() if interactive else None
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


@click.command("deploy")
@click.argument("instance")
@click.option(
    "-f",
    "--file",
    "file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Deploy every service of this workload file.",
)
@click.option("-s", "--service", default="", help="Service to change (default: main).")
@click.option("--image", default="", help="New image of the service.")
@click.option("-e", "--env", "env", multiple=True, help="KEY=VALUE (replaces the env).")
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
    strategy: str,
) -> None:
    """Roll out a new release of an instance.

    Either one service (--service, default the only one) with a new --image and/or
    --env, the rest taken from the live release; or every service of a workload file
    (-f). Progress is shown on stderr. A release that fails its health gate is rolled
    back (exit 7). Ctrl-C cancels, restores the previous release and says what runs.

    Example: ctrlplane deploy hello-web --image ctrlplane-example/busybox:latest -e GREETING=hi
    """
    provider = state.provider()
    resolved: list[str] = []

    async def go() -> tuple[str, str]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        resolved.append(iid)
        if file is not None:
            spec = load_workload(file, instance_id=iid)
            services = [
                ServiceDeploySpec(
                    name=s.name, image=s.image, env=s.env, health_check=s.health_check
                )
                for s in spec.services
            ]
        else:
            live = _live_release(await _history(provider, state).releases(iid))
            name = service or _main_name(live)
            try:
                current = live.service(name)
            except KeyError:
                raise InvalidSpec(
                    [Problem("--service", f"no service {name!r} in the live release")],
                    subject="option",
                ) from None
            if not image and not env:
                raise click.UsageError("nothing to deploy: give --image, --env or -f")
            services = [
                ServiceDeploySpec(
                    name=name,
                    image=image or current.image,
                    env=_parse_env(env) if env else current.env,
                    health_check=current.health_check,
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
        report_interrupted(provider, resolved[0] if resolved else "")
    if state.json:
        emit_json({"instance_id": iid, "release_id": release, "strategy": strategy})
    else:
        click.echo(f"deployed {release or 'a new release'} to {iid} ({strategy})")


def _live_release(history: list[Release]) -> Release:
    for rel in history:
        if rel.live:
            return rel
    if history:
        return history[0]
    raise CtrlplaneError("the instance has no recorded release; deploy it with -f FILE")


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

    Example: ctrlplane rollback hello-web
    """
    provider = state.provider()

    async def go() -> tuple[str, str]:
        iid, _ = await resolve_instance(provider, instance, state.tenant)
        target = to
        if not target:
            history = await _history(provider, state).releases(iid)
            live_at = next((i for i, r in enumerate(history) if r.live), 0)
            if live_at + 1 >= len(history):
                raise click.UsageError("there is no earlier release to roll back to")
            target = history[live_at + 1].release_id
        await provider.rollback(iid, target, events=progress_subscriber(state.json))
        return iid, target

    iid, target = run(go())
    if state.json:
        emit_json({"instance_id": iid, "restored": target})
    else:
        click.echo(f"rolled {iid} back to {target}")
