"""Options every command accepts, before or after the sub-command, and option types.

The global options (``-p/--provider``, ``--config``, ``-o/--output``, ``--tenant``,
``--debug`` and the secret sources ``--secrets-file``, ``--secrets-dir``,
``--secrets-env-prefix``) are declared once, in
:data:`~ctrlplane.cli.table.GLOBAL_OPTIONS`. :func:`global_options` puts them on the root
group (with their environment variables and defaults) and, hidden from the per-command
help, on every sub-command, so ``ctrlplane ls -o json`` works like
``ctrlplane -o json ls``. Each given value is stored on the shared
:class:`~ctrlplane.cli.context.CliState` by a callback; a value given after the
sub-command wins over one given before it.

:data:`DURATION` is the type of every ``--timeout``/``--interval``-like option: Go
durations (``2m``, ``1m30s``, ``500ms``) or plain seconds (``90``), as float seconds.

Nothing here imports the provider models: this module is loaded at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from ctrlplane.cli.table import GLOBAL_OPTIONS

__all__ = ["DURATION", "DurationType", "global_options", "services_option", "workload_file_option"]

F = TypeVar("F", bound=Callable[..., Any])


class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration as Go writes it (``2m``, ``1m30s``, ``250ms``) or plain seconds, as
    float seconds; negative durations are refused."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        else:
            from ctrlplane.durations import coerce_duration

            try:
                seconds = coerce_duration(str(value), numbers_are_seconds=True).total_seconds()
            except (TypeError, ValueError):
                self.fail(
                    f"{value!r} is not a duration: write it as 2m, 1m30s, 500ms or seconds (90)",
                    param,
                    ctx,
                )
        if seconds < 0:
            self.fail(f"{value!r} is negative", param, ctx)
        return seconds

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "DURATION"


DURATION = DurationType()


def workload_file_option(
    help: str, *, required: bool = True, multiple: bool = False
) -> Callable[[F], F]:
    """``-f/--file``: a workload or Compose file (``-`` reads standard input), as the
    parameter ``file`` (``files``, a tuple, with ``multiple``); ``help`` says what the
    command does with it. An optional one defaults to ``None``."""
    extra: dict[str, Any] = {"required": True} if required else {"default": None}
    return click.option(
        "-f",
        "--file",
        "files" if multiple else "file",
        multiple=multiple,
        type=click.Path(dir_okay=False, allow_dash=True),
        help=help,
        **extra,
    )


def services_option(help: str) -> Callable[[F], F]:
    """``-s/--service``, repeatable, as the parameter ``services`` (a tuple); completes
    the instance's service names. ``help`` says what the command does with them."""
    from ctrlplane.cli.completion import complete_services

    return click.option(
        "-s",
        "--service",
        "services",
        multiple=True,
        shell_complete=complete_services,
        help=help,
    )


def _store(field: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or value is False:
            return value  # not given here: keep what an earlier position set
        from ctrlplane.cli.context import CliState

        setattr(ctx.ensure_object(CliState), field, value)
        return value

    return callback


def global_options(*, root: bool = False) -> Callable[[F], F]:
    """Decorate a command with every global option (see the module docs).

    On the root group (``root``) the options are shown in the help and read their
    environment variables; on a sub-command they are hidden (the reference lists them
    once) and only what is given on the command line counts.
    """

    def decorate(f: F) -> F:
        for opt in reversed(GLOBAL_OPTIONS):
            kwargs: dict[str, Any] = {
                "help": opt.help,
                "expose_value": False,
                "callback": _store(opt.field),
                "hidden": not root,
                "is_eager": True,
            }
            if opt.is_flag:
                kwargs["is_flag"] = True
                kwargs["default"] = False
            else:
                kwargs["default"] = None
                if opt.choices:
                    kwargs["type"] = click.Choice(opt.choices)
                if opt.metavar:
                    kwargs["metavar"] = opt.metavar
            if root and opt.envvar:
                kwargs["envvar"] = opt.envvar
            if opt.field == "provider_name":
                from ctrlplane.cli.completion import complete_provider_names

                kwargs["shell_complete"] = complete_provider_names
            f = click.option(*opt.decls, opt.field, **kwargs)(f)
        return f

    return decorate
