"""The conformance harness of :class:`~ctrlplane.testing.FakeProvider`, and a worked example.

``tests/conformance/test_fake_conformance.py`` runs the whole suite with it. Images
``conformance/app:<n>`` answer HTTP per the harness contract (``MESSAGE`` on ``/``,
``/healthz`` failing when ``HEALTHY=0``) and run their service's command with the fake
shell; ``conformance/ticker:<n>`` also print ``tick <n>`` every :attr:`log_tick` seconds.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.protocol import Provider
from ctrlplane.provider.results import Endpoint
from ctrlplane.provider.spec import PortSpec, ServiceSpec
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.conformance.busybox import exit_script, http_script
from ctrlplane.testing.conformance.harness import ConformanceHarness, RunningUnit
from ctrlplane.testing.fake import FakeProvider
from ctrlplane.testing.images import FakeImage, HttpRequest, serve_files

__all__ = ["FakeHarness", "conformance_http"]

_VERSIONS = range(1, 5)
_files = serve_files("/var/www")


def conformance_http(req: HttpRequest) -> tuple[int, bytes]:
    """``/``: 200 with ``$MESSAGE``; ``/healthz``: 200, or 404 when ``HEALTHY=0``."""
    if req.path == "/":
        return 200, req.env.get("MESSAGE", "").encode()
    if req.path == "/healthz":
        return (404, b"not found\n") if req.env.get("HEALTHY") == "0" else (200, b"ok\n")
    return _files(req)


class FakeHarness(ConformanceHarness):
    """Runs the suite against :class:`FakeProvider` on one :class:`FakeBackend` per test.

    ``capabilities`` narrows what the providers declare (to run the suite's
    ``NotSupported`` tests).
    """

    timeout = 5.0
    poll_interval = 0.005
    probe_interval = 0.005
    probe_retries = 2
    log_tick = 0.03
    crash_delay = 0.02
    canary_observation = 0.2

    def __init__(self, capabilities: Iterable[Capability] | None = None) -> None:
        self.capabilities = None if capabilities is None else tuple(capabilities)
        self.backend = FakeBackend(any_image=False)
        for n in _VERSIONS:
            self.backend.add_image(FakeImage(name=f"conformance/app:{n}", http=conformance_http))
            self.backend.add_image(
                FakeImage(name=f"conformance/ticker:{n}", http=conformance_http, tick=self.log_tick)
            )

    def make_provider(self, *, secrets: SecretResolver | None = None) -> Provider:
        return FakeProvider(
            self.backend,
            secrets=secrets,
            capabilities=self.capabilities,
            history_depth=self.history_depth,
            canary_observation=self.canary_observation,
            progress_deadline=self.timeout,
        )

    def image(self, version: int = 1) -> str:
        return f"conformance/app:{version}"

    def http_service(
        self, name: str, *, port: int, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        # The image's handler answers HTTP; the busybox script runs in the fake shell, so
        # the crash requests of the contract behave as on a real engine.
        return ServiceSpec(
            name=name,
            image=self.image(version),
            env=dict(env or {}),
            ports=[PortSpec(container=port)],
            command=["sh", "-c", http_script(port)],
        )

    def log_service(
        self,
        name: str,
        *,
        lines: Sequence[str] = (),
        stderr_lines: Sequence[str] = (),
        tick: bool = False,
        version: int = 1,
    ) -> ServiceSpec:
        script = [f"echo {shlex.quote(line)}" for line in lines]
        script += [f"echo {shlex.quote(line)} >&2" for line in stderr_lines]
        script.append("sleep infinity")
        image = f"conformance/ticker:{version}" if tick else self.image(version)
        return ServiceSpec(name=name, image=image, command=["sh", "-c", "; ".join(script)])

    def exit_service(
        self,
        name: str,
        *,
        code: int,
        lines: Sequence[str] = (),
        delay: float = 0.0,
        version: int = 1,
    ) -> ServiceSpec:
        return ServiceSpec(
            name=name,
            image=self.image(version),
            command=["sh", "-c", exit_script(lines, delay, code)],
        )

    def idle_service(
        self, name: str, *, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        return ServiceSpec(name=name, image=self.image(version), env=dict(env or {}))

    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        return self.backend.http_get(endpoints[0].url, path)

    async def running(self, instance_id: str) -> list[RunningUnit]:
        return [
            RunningUnit(c.service, c.replica, c.image_ref)
            for c in self.backend.observe(instance_id)
        ]

    async def leftovers(self, instance_id: str) -> list[str]:
        return self.backend.leftovers(instance_id)

    async def backend_text(self, instance_id: str) -> str:
        record = self.backend.instances.get(instance_id)
        if record is None:
            return ""
        parts = [repr(record.labels), record.message]
        parts += [r.model_dump_json() for r in record.releases]
        return "\n".join(parts)
