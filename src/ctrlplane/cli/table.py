"""The CLI's tables, readable without click: every command (where it lives, its
one-line summary), every global option, and the root help text.

``ctrlplane --help`` is printed from them without importing click
(:mod:`ctrlplane.cli.root_help`); the click group is built from the same tables
(:mod:`ctrlplane.cli.root`, :mod:`ctrlplane.cli.lazy`, :mod:`ctrlplane.cli.options`).
Nothing here imports more than the standard library's core: this module is loaded at
start-up.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["COMMANDS", "GLOBAL_OPTIONS", "ROOT_HELP", "GlobalOption", "LazyCommand"]

ROOT_HELP = """Provision, deploy, scale, observe and roll back container workloads.

The options above are accepted after the command too (ctrlplane ls -o json).

Example: ctrlplane up -f examples/hello-web.yaml && ctrlplane status hello-web"""
"""The help of the ``ctrlplane`` group (its first line is the summary)."""


class LazyCommand(NamedTuple):
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


class GlobalOption(NamedTuple):
    """One global option: its declarations, the ``CliState`` field it sets, and help."""

    decls: tuple[str, ...]
    field: str
    help: str
    envvar: str | None = None
    is_flag: bool = False
    choices: tuple[str, ...] = ()
    metavar: str | None = None


GLOBAL_OPTIONS: tuple[GlobalOption, ...] = (
    GlobalOption(
        ("-p", "--provider"),
        "provider_name",
        "Provider to use: an installed backend or a [providers.NAME] of ctrlplane.toml "
        "(default: $CTRLPLANE_PROVIDER, else the file's default, else docker, the local "
        "engine).",
        envvar="CTRLPLANE_PROVIDER",
        metavar="NAME",
    ),
    GlobalOption(
        ("--config",),
        "config_path",
        "Config file to use instead of the ctrlplane.toml found in the project or the user "
        "config directory (default: $CTRLPLANE_CONFIG).",
        envvar="CTRLPLANE_CONFIG",
        metavar="FILE",
    ),
    GlobalOption(
        ("-o", "--output"),
        "output",
        "Output format: table (default) or json.",
        choices=("table", "json"),
    ),
    GlobalOption(
        ("--tenant",),
        "tenant",
        "Tenant of the instances (default: $CTRLPLANE_TENANT, else none).",
        envvar="CTRLPLANE_TENANT",
        metavar="TENANT",
    ),
    GlobalOption(
        ("--secrets-file",),
        "secrets_file",
        "Dotenv file of secret values (KEY=VALUE lines) for the workload's secrets "
        "(default: [secrets] dotenv of ctrlplane.toml).",
        metavar="FILE",
    ),
    GlobalOption(
        ("--secrets-dir",),
        "secrets_dir",
        "Directory of secret files (DIR/<key>) for the workload's secrets "
        "(default: [secrets] dir of ctrlplane.toml).",
        metavar="DIR",
    ),
    GlobalOption(
        ("--secrets-env-prefix",),
        "secrets_env_prefix",
        "Prefix of the environment variables holding secret values "
        "(default: [secrets] env_prefix of ctrlplane.toml, else CTRLPLANE_SECRET_).",
        metavar="PREFIX",
    ),
    GlobalOption(("--debug",), "debug", "Show the traceback of errors.", is_flag=True),
)
"""Every global option, in the order the help lists them."""
