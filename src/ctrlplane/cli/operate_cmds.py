"""Commands that operate a running instance: start/stop/restart, exec and scale. Each
addresses the instance by ID or workload name. ``deploy`` lives in
:mod:`ctrlplane.cli.deploy_cmd`, ``releases``/``rollback`` in
:mod:`ctrlplane.cli.release_cmds`, ``logs`` in :mod:`ctrlplane.cli.logs_cmd`.

The library starts, stops, restarts and scales whole instances: ``restart -s`` is
refused (exit 4), and ``scale -s`` accepts only the main service (replicas are per
instance; cpu and memory limits apply to the main service).
"""

from __future__ import annotations

import sys
from typing import cast

import click

from ctrlplane.cli.completion import complete_instances, complete_services
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.operations import bounded, scale_with_progress, step
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import emit_json
from ctrlplane.errors import InvalidSpec, NotSupported, Problem
from ctrlplane.provider import (
    ExecRequest,
    ExecResult,
    InteractiveExec,
    Provider,
    ReleaseHistory,
    ResourceSpec,
)

__all__ = ["exec_cmd", "restart_cmd", "scale_cmd", "start_cmd", "stop_cmd"]


_LIFECYCLE_HELP = {
    "start": "Start a stopped instance (idempotent).",
    "stop": "Stop a running instance (idempotent).",
    "restart": "Restart an instance (stop, then start).",
}


def _lifecycle(verb: str, done: str) -> click.Command:
    @click.command(verb)
    @click.argument("instance", shell_complete=complete_instances)
    @click.option(
        "-s",
        "--service",
        default="",
        shell_complete=complete_services,
        help="Only this service: not supported (the library acts on whole instances).",
    )
    @click.option(
        "--timeout", type=DURATION, default="5m", show_default=True, help="How long to wait."
    )
    @global_options()
    @pass_state
    def command(state: CliState, instance: str, service: str, timeout: float) -> None:
        if service:
            raise NotSupported(
                state.chosen_provider,
                f"{verb} --service",
                detail=f"the library {verb}s whole instances, not one service; "
                f"run ctrlplane {verb} {instance} without -s",
            )
        provider = state.provider()

        async def go() -> str:
            iid, _ = await resolve_instance(provider, instance, state.tenant_id)
            async with step(state, verb, iid):
                await bounded(f"{verb} of {iid}", timeout, getattr(provider, verb)(iid))
            return iid

        iid = run(go())
        if state.json:
            emit_json({"instance_id": iid, "action": verb, "ok": True})
        else:
            click.echo(f"{done} {iid}")

    command.help = (
        f"{_LIFECYCLE_HELP[verb]}\n\nThe whole instance: -s is refused (exit 4).\n\n"
        f"Example: ctrlplane {verb} hello-web --timeout 2m"
    )
    return command


start_cmd = _lifecycle("start", "started")
stop_cmd = _lifecycle("stop", "stopped")
restart_cmd = _lifecycle("restart", "restarted")


class _ExecCommand(click.Command):
    """``exec``: what follows ``--`` is the command, kept apart (``ctx.meta``) so that an
    optional SERVICE may stand between INSTANCE and ``--``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            at = args.index("--")
            ctx.meta[_AFTER_DASH] = args[at + 1 :]
            args = args[:at]
        return super().parse_args(ctx, args)


_AFTER_DASH = "ctrlplane.exec.command"


def _target_and_argv(
    ctx: click.Context, words: tuple[str, ...], service: str
) -> tuple[str, list[str]]:
    """(service, argv) of ``exec INSTANCE [SERVICE] -- CMD...`` (without ``--`` every
    word after INSTANCE is the command)."""
    after: list[str] | None = ctx.meta.get(_AFTER_DASH)
    if after is None:
        named, argv = "", list(words)
    else:
        if len(words) > 1:
            raise click.UsageError(
                f"only one SERVICE may stand between INSTANCE and --, not {' '.join(words)!r}"
            )
        named, argv = (words[0] if words else ""), after
    if not argv:
        raise click.UsageError("give the command to run: ctrlplane exec INSTANCE -- CMD...")
    if named and service and named != service:
        raise click.UsageError(f"two services given: {named!r} and -s {service!r}")
    return named or service, argv


@click.command("exec", cls=_ExecCommand, context_settings={"ignore_unknown_options": True})
@click.argument("instance", shell_complete=complete_instances)
@click.argument("words", metavar="[SERVICE] -- COMMAND...", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="Forward standard input to the command as it comes (a terminal or a pipe).",
)
@click.option(
    "-t",
    "--tty",
    is_flag=True,
    help="A terminal for the command; with -i on a terminal, the local one goes raw.",
)
@click.option(
    "-s",
    "--service",
    default="",
    shell_complete=complete_services,
    help="Service to run in (default: main); or name it before --.",
)
@click.option("--replica", type=int, default=None, help="Replica to run in (default: 0).")
@global_options()
@pass_state
@click.pass_context
def exec_cmd(
    ctx: click.Context,
    state: CliState,
    instance: str,
    words: tuple[str, ...],
    interactive: bool,
    tty: bool,
    service: str,
    replica: int | None,
) -> None:
    """Run a command in an instance; its exit code becomes ours.

    Without -i/-t the command runs to completion, then its stdout and stderr are
    written. With -it it is an interactive session, as docker exec -it: the local
    terminal goes raw (every key, Ctrl-C and Ctrl-D included, reaches the command),
    input and the window size are forwarded, output is printed as it comes, and the
    terminal is restored when the command exits (Ctrl-D or exit in a shell). -i
    alone forwards input as it comes (piped input too: its end is the command's end
    of input); -t alone gives the command a terminal. Ending the session (the command
    exits, the terminal closes, Ctrl-C without -t) stops every process it started in
    the container. With -o json the output is collected and printed once, as an
    ExecResult. Sessions need a provider with interactive exec (docker, nomad); on the
    others -t is refused with the reason (exit 4), and -i reads standard input to EOF,
    then runs the command.

    Example: ctrlplane exec -it hello-web web -- sh
    """
    service, argv = _target_and_argv(ctx, words, service)
    provider = state.provider()
    if (interactive or tty) and isinstance(provider, InteractiveExec):
        code = _session(state, provider, instance, argv, interactive, tty, service, replica)
    else:
        code = _once(state, provider, instance, argv, interactive, tty, service, replica)
    if code:
        raise SystemExit(code)


def _once(
    state: CliState,
    provider: Provider,
    instance: str,
    argv: list[str],
    interactive: bool,
    tty: bool,
    service: str,
    replica: int | None,
) -> int:
    """A command run to completion (``Provider.exec``); its exit code."""
    stdin: bytes | None = None
    if interactive:
        if sys.stdin.isatty():
            if tty:
                raise NotSupported(
                    state.chosen_provider,
                    "exec -it",
                    detail="this provider has no interactive exec sessions (docker and "
                    "nomad have them); run the command to completion without -it "
                    "(ctrlplane exec INSTANCE -- CMD), or pipe its input with -i",
                )
            if not state.json:
                click.echo("reading standard input until EOF (Ctrl-D), then sending it", err=True)
        stdin = sys.stdin.buffer.read()
    req = ExecRequest(command=argv, stdin=stdin, tty=tty, service=service, replica=replica)

    async def go() -> int:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        result = await provider.exec(iid, req)
        if state.json:
            emit_json(result.to_wire())
        else:
            sys.stdout.buffer.write(result.stdout)
            sys.stdout.buffer.flush()
            sys.stderr.buffer.write(result.stderr)
            sys.stderr.buffer.flush()
        return result.exit_code

    return run(go())


def _session(
    state: CliState,
    provider: InteractiveExec,
    instance: str,
    argv: list[str],
    interactive: bool,
    tty: bool,
    service: str,
    replica: int | None,
) -> int:
    """A live session (:mod:`ctrlplane.cli.exec_session`); the remote exit code."""
    from ctrlplane.cli.exec_session import RawTerminal, SessionEnded, Streams, drive, window_size

    local_terminal = sys.stdin.isatty()
    if tty and interactive and not local_terminal:
        tty = False  # piped input: a remote terminal would echo it and mangle the output
        if not state.json:
            click.echo("standard input is not a terminal: running without -t", err=True)
    raw = tty and interactive and local_terminal and not state.json
    send_size = tty and not state.json and window_size() is not None
    req = ExecRequest(command=argv, tty=tty, service=service, replica=replica)
    out = Streams(collect=state.json)
    lister = cast(Provider, provider)

    async def go() -> int:
        iid, _ = await resolve_instance(lister, instance, state.tenant_id)
        async with provider.exec_session(iid, req) as session:
            sys.stdout.flush()
            with RawTerminal(0, raw):
                return await drive(session, forward_input=interactive, out=out, send_size=send_size)

    try:
        code = run(go())
    except SessionEnded as ended:
        click.echo(f"\r\nsession ended by {ended}; its processes were stopped", err=True)
        return 128 + ended.signal_number
    if state.json:
        result = ExecResult(exit_code=code, stdout=bytes(out.stdout), stderr=bytes(out.stderr))
        emit_json(result.to_wire())
    return code


@click.command("scale")
@click.argument("instance", shell_complete=complete_instances)
@click.option(
    "--replicas", type=click.IntRange(min=0), default=0, help="Replica count (0: unchanged)."
)
@click.option(
    "--cpu", type=click.IntRange(min=0), default=0, help="CPU limit in millicores (0: unchanged)."
)
@click.option(
    "--memory", type=click.IntRange(min=0), default=0, help="Memory limit in MB (0: unchanged)."
)
@click.option(
    "-s",
    "--service",
    default="",
    shell_complete=complete_services,
    help="The service to scale: only the main one (replicas are per instance).",
)
@click.option("--timeout", type=DURATION, default="5m", show_default=True, help="How long to wait.")
@global_options()
@pass_state
def scale_cmd(
    state: CliState,
    instance: str,
    replicas: int,
    cpu: int,
    memory: int,
    service: str,
    timeout: float,
) -> None:
    """Change the replica count and limits of an instance.

    Replicas are per instance (every service runs once per replica); --cpu and
    --memory set the main service's limits. -s names the service and must be the main
    one: the library scales no other service on its own (exit 4).

    Example: ctrlplane scale hello-web --replicas 3 --memory 128 --timeout 2m
    """
    if not (replicas or cpu or memory):
        raise click.UsageError("nothing to scale: give --replicas, --cpu or --memory")
    spec = ResourceSpec(replicas=replicas, cpu_millis=cpu, memory_mb=memory)
    provider = state.provider()

    async def go() -> str:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        if service:
            await _check_main(state, provider, iid, service)
        detail = ", ".join(
            f"{k} {v}" for k, v in (("replicas", replicas), ("cpu", cpu), ("memory", memory)) if v
        )
        await scale_with_progress(state, provider, iid, spec, detail=detail, limit=timeout)
        return iid

    iid = run(go())
    if state.json:
        emit_json({"instance_id": iid, "scaled": spec.to_wire()})
    else:
        click.echo(f"scaled {iid}")


async def _check_main(state: CliState, provider: object, iid: str, service: str) -> None:
    """Refuse ``scale -s`` of a service that is not the main one (exit 4), or unknown (2)."""
    main = ""
    if isinstance(provider, ReleaseHistory):
        history = await provider.releases(iid)
        live = next((r for r in history if r.live), None)
        if live is not None and live.specs:
            names = [s.name for s in live.specs]
            if service not in names:
                raise InvalidSpec(
                    [Problem("--service", f"no service {service!r} ({', '.join(names)})")],
                    subject="option",
                )
            main = next(s.name for s in live.specs if str(s.role) == "main")
    if main and service != main:
        raise NotSupported(
            state.chosen_provider,
            "scale --service",
            detail=f"replicas are per instance and limits apply to the main service "
            f"({main}); {service!r} cannot be scaled on its own",
        )
