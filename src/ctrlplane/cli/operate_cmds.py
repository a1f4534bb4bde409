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

import click

from ctrlplane.cli.completion import complete_instances, complete_services
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.operations import bounded, scale_with_progress, step
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import emit_json
from ctrlplane.errors import InvalidSpec, NotSupported, Problem
from ctrlplane.provider import ExecRequest, ReleaseHistory, ResourceSpec

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


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("instance", shell_complete=complete_instances)
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
@click.option(
    "-s",
    "--service",
    default="",
    shell_complete=complete_services,
    help="Service to run in (default: main).",
)
@click.option("--replica", type=int, default=None, help="Replica to run in (default: 0).")
@global_options()
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

    code = run(go())
    if code:
        raise SystemExit(code)


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
