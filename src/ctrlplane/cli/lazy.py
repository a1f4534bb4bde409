"""The command table, loaded lazily: a command's module is imported when it runs.

``ctrlplane --help``, ``--version`` and TAB completion of command names import no
command module (and so no provider model, pydantic, rich or backend): the names and
one-line summaries come from :data:`COMMANDS`. A test keeps each summary equal to the
first line of the command's own help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click
from click.shell_completion import CompletionItem

__all__ = ["COMMANDS", "LazyCommand", "LazyGroup"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module``, ``attribute``) and its one-line summary."""

    module: str
    attribute: str
    summary: str


def _cmd(module: str, attribute: str, summary: str) -> LazyCommand:
    return LazyCommand(f"ctrlplane.cli.{module}", attribute, summary)


COMMANDS: dict[str, LazyCommand] = {
    "completion": _cmd(
        "completion", "completion_cmd", "Print the completion script of SHELL (bash, zsh or fish)."
    ),
    "deploy": _cmd("deploy_cmd", "deploy_cmd", "Roll out a new release of an instance."),
    "doctor": _cmd(
        "doctor_cmd",
        "doctor_cmd",
        "Check every known provider: settings, reachable, latency, version, capabilities.",
    ),
    "down": _cmd("lifecycle_cmds", "down_cmd", "Remove an instance and everything it created."),
    "exec": _cmd(
        "operate_cmds", "exec_cmd", "Run a command in an instance; its exit code becomes ours."
    ),
    "logs": _cmd(
        "logs_cmd",
        "logs_cmd",
        "Print the logs of an instance's services, prefixed service[replica].",
    ),
    "ls": _cmd(
        "lifecycle_cmds", "ls_cmd", "List the instances on the provider (of --tenant, if given)."
    ),
    "plan": _cmd(
        "inspect_cmds", "plan_cmd", "Show what `up -f FILE` would change on the live instance."
    ),
    "providers": _cmd(
        "spec_cmds", "providers_cmd", "List the providers that can be used and what each supports."
    ),
    "ps": _cmd("ps_cmd", "ps_cmd", "List an instance's units: one row per service replica."),
    "releases": _cmd(
        "release_cmds",
        "releases_cmd",
        "List an instance's retained releases and what each changed.",
    ),
    "render": _cmd(
        "inspect_cmds",
        "render_cmd",
        "Print the native objects the provider would create for a workload.",
    ),
    "restart": _cmd("operate_cmds", "restart_cmd", "Restart an instance (stop, then start)."),
    "rollback": _cmd(
        "release_cmds",
        "rollback_cmd",
        "Restore an earlier release exactly (recorded as a new release).",
    ),
    "rollout": _cmd(
        "rollout_cmd", "rollout_group", "Follow a rollout: ctrlplane rollout status INSTANCE."
    ),
    "scale": _cmd(
        "operate_cmds", "scale_cmd", "Change the replica count and limits of an instance."
    ),
    "start": _cmd("operate_cmds", "start_cmd", "Start a stopped instance (idempotent)."),
    "status": _cmd(
        "status_cmd", "status_cmd", "Show an instance's state per service and its endpoints."
    ),
    "stop": _cmd("operate_cmds", "stop_cmd", "Stop a running instance (idempotent)."),
    "up": _cmd(
        "up_cmd",
        "up_cmd",
        "Create or converge an instance from a workload or Compose file, and wait until it runs.",
    ),
    "validate": _cmd(
        "spec_cmds",
        "validate_cmd",
        "Check workload or Compose files and print every problem with its path.",
    ),
}
"""Every command: name -> where it lives and its summary."""


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
