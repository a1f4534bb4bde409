"""Entry point of the ``ctrlplane`` command: global options, error handling, exit codes.

Exit codes (stable, for scripts):

====  ==========================================================
0     success
1     the operation failed (any other ctrlplane error)
2     invalid input: bad workload file, spec, command-line usage or ctrlplane.toml,
      an ambiguous name, or a ``deploy -f``/``plan`` difference a deploy cannot apply
3     not found: unknown instance, release or provider
4     not supported by the chosen provider
5     backend unavailable (engine or cluster unreachable)
6     timed out
7     deploy or rollback failed; the previous release was restored
8     deploy or rollback failed and the previous release could NOT be restored:
      the instance's state is unknown (check ``status`` and ``releases``)
9     the instance is busy: another operation holds its lease (retry later)
130   interrupted (Ctrl-C); the library's cleanup ran
====  ==========================================================
"""

from __future__ import annotations

import sys
import traceback

import click

from ctrlplane import __version__
from ctrlplane.cli.completion import complete_provider_names, completion_cmd
from ctrlplane.cli.context import CliState
from ctrlplane.cli.doctor_cmd import doctor_cmd
from ctrlplane.cli.inspect_cmds import plan_cmd, render_cmd
from ctrlplane.cli.lifecycle_cmds import down_cmd, ls_cmd, up_cmd
from ctrlplane.cli.logs_cmd import logs_cmd
from ctrlplane.cli.operate_cmds import (
    deploy_cmd,
    exec_cmd,
    releases_cmd,
    restart_cmd,
    rollback_cmd,
    scale_cmd,
    start_cmd,
    stop_cmd,
)
from ctrlplane.cli.spec_cmds import providers_cmd, validate_cmd
from ctrlplane.cli.status_cmd import status_cmd
from ctrlplane.errors import (
    AmbiguousInstance,
    BackendUnavailable,
    CtrlplaneError,
    DeployFailed,
    InstanceBusy,
    InstanceNotFound,
    InvalidSpec,
    NotSupported,
    OperationTimeout,
    ProviderNotFound,
    ReleaseNotFound,
)

__all__ = ["EXIT_CODES", "EXIT_CODE_MEANINGS", "cli", "exit_code_for", "main"]

EXIT_CODE_MEANINGS: list[tuple[int, str]] = [
    (0, "success"),
    (1, "the operation failed (any other ctrlplane error)"),
    (
        2,
        "invalid input: workload file, spec, command-line usage, `ctrlplane.toml`, "
        "an ambiguous name, or a `deploy -f`/`plan` difference a deploy cannot apply",
    ),
    (3, "not found: unknown instance, release or provider"),
    (4, "not supported by the chosen provider"),
    (5, "backend unavailable (engine or cluster unreachable)"),
    (6, "timed out"),
    (7, "deploy or rollback failed; the previous release was restored"),
    (
        8,
        "deploy or rollback failed and the previous release could NOT be restored: "
        "the instance's state is unknown (check `status` and `releases`)",
    ),
    (9, "the instance is busy: another operation holds its lease (retry when it finishes)"),
    (130, "interrupted (Ctrl-C); the library's cleanup ran, and the state left is printed"),
]
"""Every exit code and its meaning (the docstring above, docs/cli.md and the generated
reference say the same; a test keeps them in step)."""

DEPLOY_NOT_RESTORED = 8

EXIT_CODES: list[tuple[type[CtrlplaneError], int]] = [
    (InvalidSpec, 2),
    (AmbiguousInstance, 2),
    (InstanceNotFound, 3),
    (ReleaseNotFound, 3),
    (ProviderNotFound, 3),
    (NotSupported, 4),
    (BackendUnavailable, 5),
    (OperationTimeout, 6),
    (DeployFailed, 7),
    (InstanceBusy, 9),
]


def exit_code_for(exc: CtrlplaneError) -> int:
    """The documented exit code of an error (1 when no more specific one applies)."""
    if isinstance(exc, DeployFailed) and not exc.rolled_back:
        return DEPLOY_NOT_RESTORED
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctrlplane")
@click.option(
    "-p",
    "--provider",
    default="",
    envvar="CTRLPLANE_PROVIDER",
    shell_complete=complete_provider_names,
    help="Provider to use: an installed backend or a [providers.NAME] of ctrlplane.toml "
    "(default: the file's default, else docker, the local engine).",
)
@click.option(
    "--config",
    "config_path",
    default=None,
    envvar="CTRLPLANE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file to use instead of the ctrlplane.toml found in the project "
    "or the user config directory.",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option("--tenant", default="", envvar="CTRLPLANE_TENANT", help="Tenant of the instances.")
@click.option("--debug", is_flag=True, help="Show the traceback of errors.")
@click.pass_context
def cli(
    ctx: click.Context,
    provider: str,
    config_path: str | None,
    output: str,
    tenant: str,
    debug: bool,
) -> None:
    """Provision, deploy, scale, observe and roll back container workloads.

    Example: ctrlplane up -f examples/hello-web.yaml && ctrlplane status hello-web
    """
    state = ctx.ensure_object(CliState)
    state.provider_name = provider
    state.config_path = config_path
    state.output = output
    state.tenant = tenant
    state.debug = debug


for command in (
    validate_cmd,
    providers_cmd,
    render_cmd,
    doctor_cmd,
    up_cmd,
    status_cmd,
    ls_cmd,
    down_cmd,
    start_cmd,
    stop_cmd,
    restart_cmd,
    logs_cmd,
    exec_cmd,
    scale_cmd,
    deploy_cmd,
    plan_cmd,
    releases_cmd,
    rollback_cmd,
    completion_cmd,
):
    cli.add_command(command)


def main(argv: list[str] | None = None, *, state: CliState | None = None) -> None:
    """Run the CLI; ctrlplane errors become one line on stderr and a documented exit code.

    ``state`` presets the shared state (tests pass one whose registry holds a fake).
    """
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="ctrlplane", standalone_mode=False, obj=state)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CtrlplaneError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        click.echo("interrupted; cleanup ran", err=True)
        sys.exit(130)
