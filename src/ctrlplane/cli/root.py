"""The ``ctrlplane`` click group: the global options and the lazily loaded commands."""

from __future__ import annotations

import click

from ctrlplane import __version__
from ctrlplane.cli.lazy import LazyGroup
from ctrlplane.cli.options import global_options

__all__ = ["cli"]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ctrlplane")
@global_options(root=True)
def cli() -> None:
    """Provision, deploy, scale, observe and roll back container workloads.

    The options above are accepted after the command too (ctrlplane ls -o json).

    Example: ctrlplane up -f examples/hello-web.yaml && ctrlplane status hello-web
    """
