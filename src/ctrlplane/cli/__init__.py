"""The ``ctrlplane`` command line, built on the library's public API only."""
