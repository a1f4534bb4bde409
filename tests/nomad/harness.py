"""The conformance harness of the Nomad backend, on the in-repo fake agent.

Images are :class:`~ctrlplane.testing.FakeImage` behaviours (those of
:class:`~ctrlplane.testing.conformance.fake_harness.FakeHarness`): the fake agent runs
each task as a fake container and serves its ports on 127.0.0.1, so endpoints, logs and
exec go through real HTTP and websocket connections.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.nomad import NomadConfig, NomadProvider
from ctrlplane.provider.results import Endpoint
from ctrlplane.secrets import SecretResolver
from ctrlplane.testing.conformance.fake_harness import FakeHarness
from ctrlplane.testing.conformance.harness import RunningUnit

from .fake_agent import FakeNomadAgent

NAMESPACE = "ctrlplane-test"
TOKEN = "nomad-test-token-5d1f"
TIME_SCALE = 0.1
HOST_VOLUMES = ("data",)
"""Host volumes of the fake client node: the suite's volume test mounts ``data``, which
the provider maps (by default) to the host volume of the same name."""


class NomadHarness(FakeHarness):
    """Runs the suite against :class:`NomadProvider` on one fake agent per test.

    ``capabilities`` narrows what the providers declare (to run the suite's
    ``NotSupported`` tests against the real backend); ``config`` overrides settings.
    """

    timeout = 15.0
    poll_interval = 0.02
    probe_interval = 1.0  # Nomad's minimum check interval; the agent runs it 10x faster
    probe_retries = 2
    log_tick = 0.1
    crash_delay = 0.2
    history_depth = 6

    def __init__(self, capabilities: Iterable[Capability] | None = None, **config: Any) -> None:
        super().__init__(capabilities)
        self.agent = FakeNomadAgent(
            self.backend,
            token=TOKEN,
            time_scale=TIME_SCALE,
            namespaces=("default", NAMESPACE),
            host_volumes=HOST_VOLUMES,
        )
        self.overrides = config

    async def setup(self) -> None:
        await self.agent.start()

    async def teardown(self) -> None:
        await self.agent.close()

    def config(self) -> NomadConfig:
        values: dict[str, Any] = {
            "address": self.agent.address,
            "token": TOKEN,
            "namespace": NAMESPACE,
            "region": "global",
            "min_healthy_time": "0s",
            "healthy_deadline": "10s",
            "progress_deadline": "20s",
            "poll_interval": "0.02s",
            "provision_timeout": "12s",
            "deploy_timeout": "12s",
            "release_history": self.history_depth,
            "canary_observation": "0.2s",
        }
        values.update(self.overrides)
        return NomadConfig.model_validate(values)

    def make_provider(self, *, secrets: SecretResolver | None = None) -> NomadProvider:  # type: ignore[override]
        return NomadProvider(self.config(), secrets=secrets, capabilities=self.capabilities)

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
