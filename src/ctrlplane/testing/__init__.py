"""Test doubles for ctrlplane users, and the conformance suite for provider authors.

- :class:`FakeProvider` on a :class:`FakeBackend`: an in-memory provider that honours the
  whole contract, for unit tests of code that drives providers (see
  ``docs/testing-with-the-fake.md``). :class:`FakeImage` says what a fake container does;
  ``backend.faults`` (:class:`Faults`) injects failures.
- :mod:`ctrlplane.testing.conformance`: the reusable pytest suite every provider must pass
  (imports pytest; see ``docs/writing-a-provider.md``). This package itself does not
  import pytest.
"""

from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.fake import FAKE_CAPABILITIES, FakeProvider
from ctrlplane.testing.faults import PROVISION_STEPS, Faults
from ctrlplane.testing.images import FakeImage, HttpRequest, serve_files
from ctrlplane.testing.shell import ShellResult, run_command

__all__ = [
    "FAKE_CAPABILITIES",
    "PROVISION_STEPS",
    "FakeBackend",
    "FakeImage",
    "FakeProvider",
    "Faults",
    "HttpRequest",
    "ShellResult",
    "run_command",
    "serve_files",
]
