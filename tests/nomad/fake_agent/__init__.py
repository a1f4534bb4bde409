"""A strict fake Nomad agent for the Nomad backend's tests (real HTTP on 127.0.0.1)."""

from .server import FakeNomadAgent, Seen

__all__ = ["FakeNomadAgent", "Seen"]
