"""The conformance harness of the Nomad backend, on the in-repo fake agent.

Images are :class:`~ctrlplane.testing.FakeImage` behaviours (those of
:class:`~ctrlplane.testing.conformance.fake_harness.FakeHarness`): the fake agent runs
each task as a fake container and serves its ports on 127.0.0.1, so endpoints, logs and
exec go through real HTTP and websocket connections. The agent impersonates a Nomad
``version`` (the current one by default, or the oldest supported, ``1.1.2``) with or
without Consul. After each test the harness fails it if the provider sent a field the
agent ignored (a real agent accepts unknown fields silently).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import timedelta
from typing import Any

import httpx

from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.nomad import NomadConfig, NomadProvider
from ctrlplane.provider.results import Endpoint
from ctrlplane.provider.spec import ProvisionRequest, ServiceSpec
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.conformance.fake_harness import FakeHarness
from ctrlplane.testing.conformance.harness import RunningUnit

from .fake_agent import FakeNomadAgent

NAMESPACE = "ctrlplane-test"
TOKEN = "nomad-test-token-5d1f"
TIME_SCALE = 0.05
CURRENT = "1.7.7"
OLDEST = "1.1.2"
HOST_VOLUMES = ("data",)
"""Host volumes of the fake client node: the suite's volume test mounts ``data``, which
the provider maps (by default) to the host volume of the same name."""


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[str]:
    """``host:port`` of a server on 127.0.0.1 that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        host, port = server.sockets[0].getsockname()[:2]
        yield f"{host}:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def request_of(*services: ServiceSpec, tenant: str = "t", name: str = "n") -> ProvisionRequest:
    """A provision request of ``services`` with a new instance ID."""
    return ProvisionRequest(
        instance_id=new_id(INSTANCE_PREFIX), tenant_id=tenant, name=name, services=list(services)
    )


class NomadHarness(FakeHarness):
    """Runs the suite against :class:`NomadProvider` on one fake agent per test.

    ``capabilities`` narrows what the providers declare (to run the suite's
    ``NotSupported`` tests against the real backend); ``config`` overrides settings.
    """

    timeout = 15.0
    poll_interval = 0.02
    probe_interval = 0.05  # Nomad raises it to its 1 s minimum, run 20x faster by the agent
    probe_retries = 2
    log_tick = 0.1
    crash_delay = 0.4  # a crashing sidecar outlives provision (its stability window: 0.1 s)
    canary_observation = 0.5
    history_depth = 6
    black_hole_limit = 5.0

    def __init__(
        self,
        capabilities: Iterable[Capability] | None = None,
        *,
        version: str = CURRENT,
        consul: bool = False,
        **config: Any,
    ) -> None:
        super().__init__(capabilities)
        self.agent = FakeNomadAgent(
            self.backend,
            token=TOKEN,
            version=version,
            consul=consul,
            time_scale=TIME_SCALE,
            namespaces=("default", NAMESPACE),
            host_volumes=HOST_VOLUMES,
        )
        self.overrides = config
        if not self.agent.features.native_checks:
            # No native checks: ctrlplane's own probes make real HTTP requests, so give
            # them time on a busy machine (a probe's timeout is its interval).
            self.probe_interval = 0.25

    async def setup(self) -> None:
        await self.agent.start()

    async def teardown(self) -> None:
        await self.agent.close()
        ignored = self.agent.unknown_fields + self.agent.lenient
        assert not ignored, f"the provider sent what the agent ignores: {ignored}"

    def config(self) -> NomadConfig:
        values: dict[str, Any] = {
            "address": self.agent.address,
            "token": TOKEN,
            "namespace": NAMESPACE,
            "region": "global",
            "min_healthy_time": "0s",
            "healthy_deadline": "40s",
            "progress_deadline": "80s",
            "poll_interval": "0.02s",
            "provision_timeout": "12s",
            "deploy_timeout": "12s",
            "release_history": self.history_depth,
            "canary_observation": f"{self.canary_observation}s",
            "stability_window": "0.1s",
            "lease_ttl": "3s",
            "lock_wait": "30s",
        }
        values.update(self.overrides)
        return NomadConfig.model_validate(values)

    def make_provider(self, *, secrets: SecretResolver | None = None) -> NomadProvider:
        return NomadProvider(self.config(), secrets=secrets, capabilities=self.capabilities)

    def slow_init(self, name: str = "setup") -> ServiceSpec:
        """An init that runs longer than any test waits (a provision that stays busy)."""
        init = self.exit_service(name, code=0, delay=self.timeout)
        return init.model_copy(update={"role": ServiceRole.INIT})

    def black_hole_provider(self, address: str) -> NomadProvider:
        """A provider of ``address`` with 0.1 s connect and request timeouts."""
        cfg = self.config().model_copy(
            update={
                "address": f"http://{address}",
                "connect_timeout": timedelta(seconds=0.1),
                "request_timeout": timedelta(seconds=0.1),
                "exec_timeout": timedelta(seconds=2),
            }
        )
        return NomadProvider(cfg, capabilities=self.capabilities)

    async def http_get(self, endpoints: Sequence[Endpoint], path: str = "/") -> tuple[int, bytes]:
        public = [e for e in endpoints if e.public]
        if not public:
            raise OSError("no published endpoint")
        async with httpx.AsyncClient(timeout=5.0) as client:
            try:
                resp = await client.get(public[0].url + path)
            except httpx.HTTPError as exc:
                raise OSError(str(exc)) from None
        return resp.status_code, resp.content

    async def running(self, instance_id: str) -> list[RunningUnit]:
        return [
            RunningUnit(c.service, alloc.index, c.image_ref)
            for alloc in self.agent.allocs_of(NAMESPACE, instance_id)
            for c in alloc.running_containers()
        ]

    async def leftovers(self, instance_id: str) -> list[str]:
        return self.agent.leftovers(NAMESPACE, instance_id)

    async def backend_text(self, instance_id: str) -> str:
        state = self.agent.state.job(NAMESPACE, instance_id)
        if state is None:
            return ""
        parts = [json.dumps(v) for v in state.versions]
        parts += [json.dumps(a.stub()) for a in state.allocs]
        return "\n".join(parts)
