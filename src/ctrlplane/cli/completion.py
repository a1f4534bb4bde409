"""Shell completion: ``ctrlplane completion bash|zsh|fish`` prints the script to load.

Completion itself is click's: the script calls ``ctrlplane`` back with
``_CTRLPLANE_COMPLETE=<shell>_complete`` set, and click answers with the matching
commands, options and values. ``--provider`` completes the provider names of the
installed backends and of the ``ctrlplane.toml`` in effect (no backend is imported and
no backend is contacted).
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem, get_completion_class

from ctrlplane.cli.catalog import ProviderCatalog
from ctrlplane.cli.config import load_config
from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider import Registry

__all__ = ["COMPLETE_VAR", "SHELLS", "complete_provider_names", "completion_cmd"]

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_CTRLPLANE_COMPLETE"
"""The environment variable click's completion protocol uses for ``ctrlplane``."""


def complete_provider_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Provider names starting with ``incomplete`` (installed ones and the config file's).

    A broken config file is ignored here (completion must never print an error).
    """
    registry = Registry(discover=True)
    try:
        config = load_config(Path.cwd(), os.environ, ctx.params.get("config_path"))
    except CtrlplaneError:
        names = registry.list()
    else:
        names = ProviderCatalog(registry, config, os.environ).names()
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


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

    Example: eval "$(ctrlplane completion bash)"
    """
    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships all three
        raise click.UsageError(f"click has no completion for {shell}")
    root = ctx.find_root().command
    click.echo(completer(root, {}, "ctrlplane", COMPLETE_VAR).source())
