"""Entry point of the ``ctrlplane`` command: global options, error handling, exit codes.

Start-up is kept short: ``--version`` imports nothing but this module, ``--help`` only
the tables (:mod:`ctrlplane.cli.root_help`), the click group (:mod:`ctrlplane.cli.root`)
is loaded by :func:`main` for anything else, and each command's module when it runs
(:mod:`ctrlplane.cli.lazy`).

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

import os
import sys
from typing import TYPE_CHECKING, Any

from ctrlplane import __version__

if TYPE_CHECKING:
    from ctrlplane.cli.context import CliState
    from ctrlplane.errors import CtrlplaneError

__all__ = ["EXIT_CODE_MEANINGS", "exit_code_for", "main"]

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


def _exit_codes() -> list[tuple[type[CtrlplaneError], int]]:
    from ctrlplane.errors import (
        AmbiguousInstance,
        BackendUnavailable,
        DeployFailed,
        InstanceBusy,
        InstanceNotFound,
        InvalidSpec,
        NotSupported,
        OperationTimeout,
        ProviderNotFound,
        ReleaseNotFound,
    )

    return [
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
    from ctrlplane.errors import DeployFailed

    if isinstance(exc, DeployFailed) and not exc.rolled_back:
        return DEPLOY_NOT_RESTORED
    for kind, code in _exit_codes():
        if isinstance(exc, kind):
            return code
    return 1


def __getattr__(name: str) -> Any:
    """``cli`` (the click group, :mod:`ctrlplane.cli.root`) and ``EXIT_CODES`` (error type
    -> exit code) are loaded on first use."""
    if name == "cli":
        from ctrlplane.cli.root import cli

        return cli
    if name == "EXIT_CODES":
        return _exit_codes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None, *, state: CliState | None = None) -> None:
    """Run the CLI; ctrlplane errors become one line on stderr and a documented exit code.

    ``state`` presets the shared state (tests pass one whose registry holds a fake). In
    a detached deploy (:mod:`ctrlplane.cli.detach`) the exit code and the error line are
    also written to its result file, an unexpected exception's too (exit 1; the
    exception then propagates with its traceback).
    """
    args = list(argv if argv is not None else sys.argv[1:])
    if args == ["--version"]:  # the fast path: nothing else to import
        sys.stdout.write(f"ctrlplane, version {__version__}\n")
        return
    if args in (["--help"], ["-h"]):  # the root help page, as click lays it out
        from ctrlplane.cli.root_help import help_width, root_help

        sys.stdout.write(root_help(help_width()))
        return
    import click

    from ctrlplane.cli.context import CliState
    from ctrlplane.cli.root import cli
    from ctrlplane.errors import CtrlplaneError

    state = state if state is not None else CliState()
    state.argv = args
    code, error = 0, ""
    try:
        cli.main(args=args, prog_name="ctrlplane", standalone_mode=False, obj=state)
    except click.exceptions.Abort:
        code, error = 130, "interrupted"
        click.echo(error, err=True)
    except click.ClickException as exc:
        exc.show()
        code, error = exc.exit_code, f"error: {exc.format_message()}"
    except CtrlplaneError as exc:
        if "--debug" in args or state.debug:
            import traceback

            traceback.print_exc()
        from ctrlplane.cli.failure import error_lines

        error = error_lines(exc)
        click.echo(error, err=True)
        code = exit_code_for(exc)
    except KeyboardInterrupt:
        code, error = 130, "interrupted; cleanup ran"
        click.echo(error, err=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a bug: its traceback is shown, and a detached deploy failed
        code, error = 1, f"error: unexpected {type(exc).__name__}: {exc}"
        raise
    finally:
        if os.environ.get("CTRLPLANE_ROLLOUT_RESULT"):
            from ctrlplane.cli.detach import record_result

            record_result(code, error.splitlines()[0] if error else "")
    if code:
        sys.exit(code)
