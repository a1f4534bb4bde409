"""The click group of the command table: a command's module is imported when it runs.

``ctrlplane --help``, ``--version`` and TAB completion of command names import no
command module (and so no provider model, pydantic, rich or backend): the names and
one-line summaries come from :data:`~ctrlplane.cli.table.COMMANDS`. A test keeps each
summary equal to the first line of the command's own help.
"""

from __future__ import annotations

import importlib

import click
from click.shell_completion import CompletionItem

from ctrlplane.cli.table import COMMANDS

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    """A group whose commands are :data:`COMMANDS`, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(entry.module), entry.attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - our own table
            raise TypeError(f"{entry.module}.{entry.attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from the table (no command is imported)."""
        rows = [(name, COMMANDS[name].summary) for name in sorted(COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Command names from the table (no command is imported), then options."""
        items = [
            CompletionItem(name, help=entry.summary)
            for name, entry in sorted(COMMANDS.items())
            if name.startswith(incomplete)
        ]
        items.extend(click.Command.shell_complete(self, ctx, incomplete))
        return items
