"""Fault injection for tests that use the fake: make the fake engine misbehave on purpose.

Reach it as ``backend.faults`` (shared by every :class:`~ctrlplane.testing.FakeProvider`
on that backend)::

    backend.faults.fail_next_provision("start", "disk full")   # one-shot
    backend.faults.make_image_missing("web:2")                 # until restore_image
    backend.faults.fail_health("web")                          # until heal
    backend.faults.fail_init("migrate", exit_code=3)           # until clear
    backend.faults.unavailable = True                          # engine "down"
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PROVISION_STEPS", "Faults"]

PROVISION_STEPS = ("pull", "secrets", "create", "init", "start", "ready")
"""The steps of a fake provision, in order; ``ProvisionFailed.step`` names one of them
(``init`` failures name the service too: ``init migrate``)."""


@dataclass
class Faults:
    """The faults armed on one fake backend. All are off by default."""

    unavailable: bool = False
    """When true, every operation raises ``BackendUnavailable`` and health checks fail."""
    _provision: list[tuple[str, str]] = field(default_factory=list)
    _missing: set[str] = field(default_factory=set)
    _unhealthy: set[str] = field(default_factory=set)
    _inits: dict[str, int] = field(default_factory=dict)

    def fail_next_provision(self, step: str, reason: str = "injected failure") -> None:
        """Make the next provision (of any instance) fail at ``step`` (see PROVISION_STEPS).

        What that provision created so far is cleaned up, as after a real failure.
        """
        if step not in PROVISION_STEPS:
            raise ValueError(f"unknown provision step {step!r}; one of {PROVISION_STEPS}")
        self._provision.append((step, reason))

    def take_provision_failure(self, step: str) -> str | None:
        """(Used by the fake.) The reason if a failure is armed for ``step``, consuming it."""
        if self._provision and self._provision[0][0] == step:
            return self._provision.pop(0)[1]
        return None

    def make_image_missing(self, image: str) -> None:
        """Make pulls of ``image`` fail, as if the registry did not have it."""
        self._missing.add(image)

    def restore_image(self, image: str) -> None:
        """Undo :meth:`make_image_missing`."""
        self._missing.discard(image)

    def image_missing(self, image: str) -> bool:
        """Whether ``image`` was made missing."""
        return image in self._missing

    def fail_health(self, service: str) -> None:
        """Make every health probe of ``service`` (any instance) fail until :meth:`heal`."""
        self._unhealthy.add(service)

    def heal(self, service: str) -> None:
        """Undo :meth:`fail_health`."""
        self._unhealthy.discard(service)

    def health_failing(self, service: str) -> bool:
        """Whether probes of ``service`` are forced to fail."""
        return service in self._unhealthy

    def fail_init(self, service: str, exit_code: int = 1) -> None:
        """Make the init service ``service`` exit with ``exit_code`` whenever it runs."""
        if exit_code == 0:
            raise ValueError("an init failure needs a non-zero exit code")
        self._inits[service] = exit_code

    def init_exit_code(self, service: str) -> int | None:
        """The forced exit code of init ``service``, if any."""
        return self._inits.get(service)

    def clear(self) -> None:
        """Disarm every fault."""
        self.unavailable = False
        self._provision.clear()
        self._missing.clear()
        self._unhealthy.clear()
        self._inits.clear()
