"""``python -m ctrlplane.cli ARGS`` runs the ``ctrlplane`` command (used by detached
deploys, which re-run ``ctrlplane deploy`` in a background process)."""

from ctrlplane.cli.main import main

main()
