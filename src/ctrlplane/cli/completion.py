"""Shell completion: ``ctrlplane completion bash|zsh|fish`` prints the script to load.

Completion itself is click's: the script calls ``ctrlplane`` back with
``_CTRLPLANE_COMPLETE=<shell>_complete`` set, and click answers with the matching
commands, options and values. Command names come from the command table (no command
module is imported). ``--provider`` completes the provider names of the installed
backends and of the ``ctrlplane.toml`` in effect (no backend is contacted); an INSTANCE
argument completes the workload names and IDs on the chosen provider, and ``-s`` the
service names of that instance (both ask the backend, within :data:`LOOKUP_TIMEOUT`
seconds; a backend that does not answer completes nothing, and never prints an error).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem, get_completion_class

if TYPE_CHECKING:
    from ctrlplane.cli.context import CliState

__all__ = [
    "COMPLETE_VAR",
    "LOOKUP_TIMEOUT",
    "SHELLS",
    "complete_instances",
    "complete_provider_names",
    "complete_services",
    "completion_cmd",
]

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_CTRLPLANE_COMPLETE"
"""The environment variable click's completion protocol uses for ``ctrlplane``."""
LOOKUP_TIMEOUT = 3.0
"""Seconds an instance or service completion may wait for the backend."""


def complete_provider_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Provider names starting with ``incomplete`` (installed ones and the config file's).

    A broken config file is ignored here (completion must never print an error).
    """
    from ctrlplane.cli.catalog import ProviderCatalog
    from ctrlplane.cli.config import load_config
    from ctrlplane.errors import CtrlplaneError
    from ctrlplane.provider import Registry

    registry = Registry(discover=True)
    state = _state(ctx)
    explicit = state.config_path if state is not None else None
    try:
        config = load_config(Path.cwd(), os.environ, explicit)
    except CtrlplaneError:
        names = registry.list()
    else:
        names = ProviderCatalog(registry, config, os.environ).names()
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def _state(ctx: click.Context) -> CliState | None:
    from ctrlplane.cli.context import CliState

    return ctx.find_object(CliState)


def _lookup(ctx: click.Context, instance: str | None) -> list[str]:
    """Instance names and IDs (``instance`` None), or the services of ``instance``."""
    import asyncio

    from ctrlplane.cli.context import CliState, resolve_instance
    from ctrlplane.provider import InstanceLister, ReleaseHistory

    state = ctx.find_object(CliState) or CliState()

    async def names() -> list[str]:
        provider = state.provider()
        if instance is None:
            if not isinstance(provider, InstanceLister):
                return []
            found = await provider.list_instances(state.tenant_id or None)
            return [s.name for s in found if s.name] + [s.instance_id for s in found]
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        if isinstance(provider, ReleaseHistory):
            history = await provider.releases(iid)
            live = next((r for r in history if r.live), None)
            if live is not None:
                return [s.name for s in live.services]
        return list((await provider.status(iid)).services)

    async def bounded() -> list[str]:
        async with asyncio.timeout(LOOKUP_TIMEOUT):
            return await names()

    try:
        return asyncio.run(bounded())
    except Exception:  # completion never fails loudly: nothing is offered instead
        return []


def complete_instances(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Workload names and instance IDs on the chosen provider starting with ``incomplete``."""
    seen = dict.fromkeys(_lookup(ctx, None))
    return [CompletionItem(n) for n in seen if n.startswith(incomplete)]


def complete_services(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Service names of the command's INSTANCE starting with ``incomplete``."""
    instance = ctx.params.get("instance")
    if not instance:
        return []
    return [CompletionItem(n) for n in _lookup(ctx, str(instance)) if n.startswith(incomplete)]


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion_cmd(ctx: click.Context, shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish).

    Load it in the current shell, or install it once:

    \b
      bash: eval "$(ctrlplane completion bash)"   (or save it to
            ~/.local/share/bash-completion/completions/ctrlplane)
      zsh:  eval "$(ctrlplane completion zsh)"    (in ~/.zshrc, after compinit)
      fish: ctrlplane completion fish > ~/.config/fish/completions/ctrlplane.fish

    Commands, options and their choices complete, and so do provider names, the
    workload names and IDs of INSTANCE arguments, and the service names of -s.

    Example: eval "$(ctrlplane completion bash)"
    """
    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"click has no completion for {shell}")
    root = ctx.find_root().command
    click.echo(completer(root, {}, "ctrlplane", COMPLETE_VAR).source())
