"""What a provider's test module supplies to the conformance suite: a harness.

Subclass :class:`ConformanceHarness` for your backend and return it from
``make_harness()`` of your ``ProviderConformance`` subclass. The harness makes provider
objects, builds the four kinds of test services for your images, reaches endpoints, and
inspects the backend (what runs, what is left). It never imports pytest.

Service behaviours the builders must give (busybox-compatible; see
:class:`~ctrlplane.testing.conformance.busybox.BusyboxServices` for ready-made specs):

- ``http_service``: long-running; answers HTTP GET on ``port``: ``/`` with status 200 and
  exactly the value of its env var ``MESSAGE`` as the body (empty if unset); ``/healthz``
  with 200, unless its env var ``HEALTHY`` is ``0``, then with an error status (4xx/5xx).
  It crashes on request, printing ``crashing: `` and the value of the env var named by
  its env var ``CRASH_PRINT`` on stdout, then exiting with code 3: at start when its env
  var ``CRASH_MARKER`` names a file that exists (else it creates that file and serves),
  and ``CRASH_AFTER`` seconds after it started serving, when that env var is set.
- ``log_service``: prints ``lines`` to stdout, one per line, then ``stderr_lines`` to
  stderr; with ``tick`` it then prints ``tick <n>`` (n = 1, 2, ...) every
  :attr:`~ConformanceHarness.log_tick` seconds; then runs until stopped.
- ``exit_service``: prints ``lines`` to stdout, waits ``delay`` seconds, exits ``code``.
- ``idle_service``: runs until stopped, printing nothing.

Every long-running service must stop promptly when asked (busybox ``sh`` as PID 1 ignores
SIGTERM: trap it). Exec must understand busybox commands: ``echo``, ``cat``,
``printenv``, ``sh -c``, ``true``, ``false``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ctrlplane.provider.protocol import Provider
from ctrlplane.provider.results import Endpoint
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.secrets import SecretResolver

__all__ = ["ConformanceHarness", "RunningUnit"]


@dataclass(frozen=True)
class RunningUnit:
    """One running container (task) of an instance, as the backend reports it."""

    service: str
    replica: int
    image: str


class ConformanceHarness(abc.ABC):
    """A backend's adapter for the conformance suite. Override the abstract methods.

    The class attributes are the knobs: ``timeout`` bounds every wait of the suite (seconds),
    polls happen every ``poll_interval``; strategy tests give their health checks
    ``probe_interval`` and ``probe_retries``; a sidecar meant to crash after provision
    returned exits ``crash_delay`` seconds after it starts; ``history_depth`` is the
    provider's configured release history depth; ``missing_image`` must not exist
    anywhere the backend looks; ``canary_observation`` is the canary observation period
    (seconds) the harness configures its providers with (tests that crash a canary during
    its observation need it longer than ``crash_delay``); ``black_hole_limit`` bounds every
    call of a provider from :meth:`black_hole_provider`; ``scale_memory_mb`` is a memory
    limit (MB) the backend can set exactly (the scaling test sets it).
    """

    timeout: float = 60.0
    poll_interval: float = 0.05
    probe_interval: float = 0.5
    probe_retries: int = 3
    log_tick: float = 0.5
    http_port: int = 8080
    history_depth: int = 10
    crash_delay: float = 2.0
    missing_image: str = "ctrlplane-conformance/missing-image:0"
    canary_observation: float = 0.0
    scale_memory_mb: int = 64
    black_hole_limit: float = 15.0

    async def setup(self) -> None:  # noqa: B027 - an optional hook
        """Called before each test (connect clients, build images...)."""

    async def teardown(self) -> None:  # noqa: B027 - an optional hook
        """Called after each test, after the suite removed the test's instances."""

    @abc.abstractmethod
    def make_provider(self, *, secrets: SecretResolver | None = None) -> Provider:
        """A fresh provider object on the shared backend (a new one on every call)."""

    @abc.abstractmethod
    def image(self, version: int = 1) -> str:
        """Image reference ``version`` (1 to 4): distinct references with the same behaviour.

        Every builder uses ``image(version)``; deploy tests switch services between them.
        """

    @abc.abstractmethod
    def http_service(
        self, name: str, *, port: int, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        """A service serving ``MESSAGE`` on ``/`` and ``/healthz`` on ``port`` (module docs)."""

    @abc.abstractmethod
    def log_service(
        self,
        name: str,
        *,
        lines: Sequence[str] = (),
        stderr_lines: Sequence[str] = (),
        tick: bool = False,
        version: int = 1,
    ) -> ServiceSpec:
        """A service printing ``lines`` and ``stderr_lines``, then ticking (module docs)."""

    @abc.abstractmethod
    def exit_service(
        self,
        name: str,
        *,
        code: int,
        lines: Sequence[str] = (),
        delay: float = 0.0,
        version: int = 1,
    ) -> ServiceSpec:
        """A run-to-completion service: prints ``lines``, waits ``delay`` s, exits ``code``."""

    @abc.abstractmethod
    def idle_service(
        self, name: str, *, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        """A service that runs until stopped and prints nothing."""

    @abc.abstractmethod
    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        """GET ``path`` through one of ``endpoints`` (all a service reported for one port).

        Pick the one reachable from the test process; return (status, body). Raise
        ``OSError`` when nothing answers.
        """

    @abc.abstractmethod
    async def running(self, instance_id: str) -> list[RunningUnit]:
        """The running containers of ``instance_id`` that serve it, read from the backend."""

    @abc.abstractmethod
    async def leftovers(self, instance_id: str) -> list[str]:
        """Everything of ``instance_id`` still on the backend (containers, networks, volumes,
        jobs, secrets...), as readable strings; empty when nothing is left."""

    def black_hole_provider(self, address: str) -> Provider | None:
        """A new provider that reaches its backend at ``address`` (``host:port`` of a
        server that accepts connections and never answers), configured so that every call
        returns or raises within :attr:`black_hole_limit` seconds; ``None`` when the
        backend has no network endpoint (the suite then skips the black-hole test)."""
        return None

    async def backend_text(self, instance_id: str) -> str:
        """Everything the backend shows about the instance that must not hold secret values
        (labels, annotations, names, command lines, env of objects that are not the
        service's own), as one string. The default shows nothing."""
        return ""
