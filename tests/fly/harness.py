"""The conformance harness of the Fly backend, on the in-repo fake Machines API.

Images are :class:`~ctrlplane.testing.FakeImage` behaviours (those of
:class:`~ctrlplane.testing.conformance.fake_harness.FakeHarness`): the fake runs each
Machine's command in the fake shell and serves the apps' public ports through its fake
Fly Proxy on 127.0.0.1, so endpoints, checks and exec go through real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.fly import FlyConfig, FlyProvider
from ctrlplane.provider.fly.render.names import app_name
from ctrlplane.provider.results import Endpoint
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing import FakeImage
from ctrlplane.testing.conformance.fake_harness import FakeHarness
from ctrlplane.testing.conformance.harness import RunningUnit

from .fake_machines import FakeFlyAPI, Settings

TOKEN = "fly-test-token-3c9e"
CONTROL_IMAGE = "registry.example/ctrlplane/control:1"
REGIONS = ("ams", "fra")


class FlyHarness(FakeHarness):
    """Runs the suite against :class:`FlyProvider` on one fake Machines API per test.

    ``capabilities`` narrows what the providers declare (to run the suite's
    ``NotSupported`` tests against the real backend); ``config`` overrides settings.
    """

    timeout = 15.0
    poll_interval = 0.02
    probe_interval = 0.2
    probe_retries = 2
    log_tick = 0.1
    crash_delay = 0.3
    canary_observation = 0.8
    scale_memory_mb = 512  # Fly's Machines come in 256 MB steps
    history_depth = 5
    black_hole_limit = 8.0

    def __init__(self, capabilities: Iterable[Capability] | None = None, **config: Any) -> None:
        super().__init__(capabilities)
        self.backend.add_image(FakeImage(name=CONTROL_IMAGE))
        self.api = FakeFlyAPI(
            self.backend,
            token=TOKEN,
            regions=REGIONS,
            settings=Settings(step=0.002, restart_delay=0.02),
        )
        self.overrides = config

    async def setup(self) -> None:
        await self.api.start()

    async def teardown(self) -> None:
        await self.api.close()
        assert not self.api.errors, self.api.errors

    def values(self) -> dict[str, Any]:
        """The provider settings of the harness (before overrides)."""
        return {
            "api_url": self.api.address,
            "graphql_url": self.api.address + "/graphql",
            "token": TOKEN,
            "org_slug": "personal",
            "regions": ["ams"],
            "control_image": CONTROL_IMAGE,
            "poll_interval": "0.02s",
            "start_settle": "0.1s",
            "check_interval": "0.2s",
            "canary_observation": f"{self.canary_observation}s",
            "provision_timeout": "12s",
            "deploy_timeout": "12s",
            "init_timeout": "12s",
            "request_timeout": "10s",
            "lease_ttl": "6s",
            "lock_wait": "12s",
            "release_history": self.history_depth,
        }

    def config(self) -> FlyConfig:
        return FlyConfig.model_validate({**self.values(), **self.overrides})

    def make_provider(self, *, secrets: SecretResolver | None = None) -> FlyProvider:
        return FlyProvider(self.config(), secrets=secrets, capabilities=self.capabilities)

    def black_hole_provider(self, address: str) -> FlyProvider:
        values = {
            **self.values(),
            "api_url": f"http://{address}",
            "graphql_url": f"http://{address}/graphql",
            "request_timeout": "0.5s",
            "connect_timeout": "0.5s",
            "lock_wait": "1s",
        }
        return FlyProvider(FlyConfig.model_validate(values), capabilities=self.capabilities)

    def app(self, instance_id: str) -> str:
        return app_name(self.config(), instance_id)

    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        public = [e for e in endpoints if e.public]
        if not public:
            raise OSError("no public endpoint")
        url = urlsplit(public[0].url)
        app = (url.hostname or "").removesuffix(".fly.dev")
        where = self.api.proxy.address(app, url.port or 80)
        if where is None:
            raise OSError(f"nothing listens on {public[0].url}")
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                resp = await client.get(f"http://{where[0]}:{where[1]}{path}")
            except httpx.HTTPError as exc:
                raise OSError(str(exc)) from None
        return resp.status_code, resp.content

    async def running(self, instance_id: str) -> list[RunningUnit]:
        out = []
        for m in self.api.live_machines(self.app(instance_id)):
            meta = m.metadata
            if meta.get("ctrlplane_instance") != instance_id:
                continue
            if meta.get("ctrlplane_role") in ("control", "init"):
                continue
            c = m.container
            if m.state == "started" and c is not None and c.running:
                out.append(
                    RunningUnit(
                        meta["ctrlplane_service"], int(meta["ctrlplane_replica"]), c.image_ref
                    )
                )
        return out

    async def leftovers(self, instance_id: str) -> list[str]:
        app = self.api.apps.get(self.app(instance_id))
        if app is None:
            return []
        found = [f"app {app.name}"] if not self.overrides.get("app") else []
        for m in app.machines.values():
            if not m.gone and m.metadata.get("ctrlplane_instance") == instance_id:
                found.append(f"machine {m.id} ({m.name}, {m.state})")
        if not self.overrides.get("app"):
            found += [f"volume {v.id} ({v.name})" for v in app.volumes.values()]
        return found

    async def backend_text(self, instance_id: str) -> str:
        app = self.api.apps.get(self.app(instance_id))
        if app is None:
            return ""
        parts = [app.name, *sorted(app.secrets)]
        for m in app.machines.values():
            parts += [repr(m.as_json()), *(repr(c) for _, c in m.versions)]
            if m.lease is not None:
                parts.append(repr(m.lease.as_json()))
        parts += [repr(v.as_json()) for v in app.volumes.values()]
        parts += [repr(r) for r in self.api.requests if r.operation != "graphql"]
        return "\n".join(parts)
