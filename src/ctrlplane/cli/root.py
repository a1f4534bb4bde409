"""The ``ctrlplane`` click group: the global options and the lazily loaded commands."""

from __future__ import annotations

import click

from ctrlplane import __version__
from ctrlplane.cli.lazy import LazyGroup
from ctrlplane.cli.options import global_options
from ctrlplane.cli.table import ROOT_HELP

__all__ = ["cli"]


@click.group(
    cls=LazyGroup, help=ROOT_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="ctrlplane")
@global_options(root=True)
def cli() -> None:
    """The ``ctrlplane`` group (its help is :data:`~ctrlplane.cli.table.ROOT_HELP`)."""
