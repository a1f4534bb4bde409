"""Entry point of the ``ctrlplane`` command (filled in by the CLI modules)."""

from __future__ import annotations

import click

from ctrlplane import __version__


@click.group()
@click.version_option(__version__, prog_name="ctrlplane")
def cli() -> None:
    """Provision, deploy, scale, observe and roll back container workloads."""


def main() -> None:
    cli()
