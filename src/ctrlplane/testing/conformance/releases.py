"""Contract: deploy records releases; partial and env-only deploys; exact rollback; history."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from ctrlplane.errors import CtrlplaneError, InvalidSpec, ReleaseNotFound
from ctrlplane.ids import RELEASE_PREFIX, is_id, new_id
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import InstanceState, ServiceRole
from ctrlplane.provider.protocol import Provider
from ctrlplane.provider.releases import ReleaseHistory
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest, ServiceDeploySpec
from ctrlplane.testing.conformance.context import SuiteContext, assert_running

__all__ = ["ReleasesContract"]


@dataclass(frozen=True)
class _Seen:
    """What a test can observe of a web + side instance."""

    images: dict[str, frozenset[str]]
    message: str
    extra: str | None  # $EXTRA inside web (None: unset, or exec not declared)


async def _seen(suite: SuiteContext, iid: str) -> _Seen:
    images = {k: frozenset(v) for k, v in (await suite.images(iid)).items()}
    extra: str | None = None
    if suite.has(Capability.EXEC):
        res = await suite.run(iid, "printenv", "EXTRA", service="web")
        extra = res.stdout.decode().strip() if res.exit_code == 0 else None
    return _Seen(images, await suite.message(iid), extra)


async def _settled(suite: SuiteContext, iid: str, want: Mapping[str, str]) -> _Seen:
    """Wait until every service runs exactly the image ``want`` names; return what is seen."""

    async def check() -> _Seen:
        seen = await _seen(suite, iid)
        got = {k: set(v) for k, v in seen.images.items()}
        assert got == {k: {v} for k, v in want.items()}, f"images {got}, want {want}"
        return seen

    return await suite.eventually(check, f"images {dict(want)}")


async def _deploy(
    suite: SuiteContext,
    iid: str,
    *changes: ServiceDeploySpec,
    release_id: str = "",
    provider: Provider | None = None,
) -> DeployResult:
    req = DeployRequest(
        instance_id=iid, release_id=release_id, services=list(changes), strategy=suite.strategy()
    )
    async with asyncio.timeout(suite.harness.timeout):
        return await (provider or suite.provider).deploy(req)


async def _rollback(
    suite: SuiteContext, iid: str, release_id: str, provider: Provider | None = None
) -> None:
    async with asyncio.timeout(suite.harness.timeout):
        await (provider or suite.provider).rollback(iid, release_id)


class ReleasesContract:
    """``deploy`` and ``rollback`` (any declared strategy), and the release history."""

    async def _web_and_side(self, suite: SuiteContext, env: Mapping[str, str]) -> str:
        suite.require(Capability.PROVISION, Capability.DEPLOY)
        h = suite.harness
        web = h.http_service("web", port=h.http_port, env=env)
        side = h.idle_service("side").model_copy(update={"role": ServiceRole.SIDECAR})
        req, _ = await suite.provision(web, side)
        return req.instance_id

    async def test_deploy_records_a_release(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        rel = new_id(RELEASE_PREFIX)
        result = await _deploy(
            suite, iid, ServiceDeploySpec(name="web", image=h.image(2)), release_id=rel
        )
        assert result.release_id == rel
        assert result.status
        assert result.provider_ref
        minted = await _deploy(
            suite, iid, ServiceDeploySpec(name="web", image=h.image(3), env={"MESSAGE": "x"})
        )
        assert is_id(minted.release_id, RELEASE_PREFIX), minted
        if isinstance(suite.provider, ReleaseHistory):
            history = await suite.provider.releases(iid)
            assert [r.release_id for r in history[:2]] == [minted.release_id, rel]
            assert history[0].live
            assert not any(r.live for r in history[1:])
            assert history[0].service("web").image == h.image(3)
            assert history[0].service("side").image == h.image(1)

    async def test_env_only_deploy_takes_effect(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        await _deploy(
            suite, iid, ServiceDeploySpec(name="web", image=h.image(1), env={"MESSAGE": "two"})
        )

        async def changed() -> bool:
            return await suite.message(iid) == "two"

        await suite.eventually(changed, "the new env to be served")
        await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)})

    async def test_partial_deploy_keeps_unlisted_services(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        await _deploy(suite, iid, ServiceDeploySpec(name="side", image=h.image(2)))
        seen = await _settled(suite, iid, {"web": h.image(1), "side": h.image(2)})
        assert seen.message == "one"
        await _deploy(
            suite, iid, ServiceDeploySpec(name="web", image=h.image(3), env={"MESSAGE": "three"})
        )
        seen = await _settled(suite, iid, {"web": h.image(3), "side": h.image(2)})
        assert seen.message == "three"

    async def test_rollback_restores_each_earlier_release_exactly(
        self, suite: SuiteContext
    ) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one", "EXTRA": "first"})
        h = suite.harness
        first = await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)})
        rel2, rel3 = new_id(RELEASE_PREFIX), new_id(RELEASE_PREFIX)
        await _deploy(
            suite,
            iid,
            ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "two"}),
            ServiceDeploySpec(name="side", image=h.image(2)),
            release_id=rel2,
        )
        second = await _settled(suite, iid, {"web": h.image(2), "side": h.image(2)})
        assert second.message == "two"
        await _deploy(
            suite,
            iid,
            ServiceDeploySpec(name="web", image=h.image(3), env={"MESSAGE": "three", "EXTRA": "3"}),
            release_id=rel3,
        )
        third = await _settled(suite, iid, {"web": h.image(3), "side": h.image(2)})
        assert third.message == "three"

        await _rollback(suite, iid, rel2)
        assert await _settled(suite, iid, {"web": h.image(2), "side": h.image(2)}) == second
        await _rollback(suite, iid, rel3, suite.fresh())
        assert await _settled(suite, iid, {"web": h.image(3), "side": h.image(2)}) == third
        if isinstance(suite.provider, ReleaseHistory):
            history = await suite.provider.releases(iid)
            provisioned = history[-1].release_id
            await _rollback(suite, iid, provisioned, suite.fresh())
            assert await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)}) == first
        assert (await suite.status(iid)).state == InstanceState.RUNNING

    async def test_rollback_is_recorded_as_a_new_release(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        if not isinstance(suite.provider, ReleaseHistory):
            pytest.skip("provider does not implement the optional ReleaseHistory")
        h = suite.harness
        rel2 = new_id(RELEASE_PREFIX)
        await _deploy(suite, iid, ServiceDeploySpec(name="web", image=h.image(2)), release_id=rel2)
        await _deploy(suite, iid, ServiceDeploySpec(name="web", image=h.image(3)))
        await _rollback(suite, iid, rel2)
        history = await suite.provider.releases(iid)
        newest = history[0]
        assert newest.live
        assert newest.rollback_of == rel2
        assert newest.release_id not in {rel2}
        source = next(r for r in history if r.release_id == rel2)
        assert newest.services == source.services

    async def test_release_history_survives_a_fresh_provider(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        rel2 = new_id(RELEASE_PREFIX)
        await _deploy(
            suite,
            iid,
            ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "two"}),
            release_id=rel2,
        )
        await _deploy(
            suite, iid, ServiceDeploySpec(name="web", image=h.image(3), env={"MESSAGE": "3"})
        )
        other = suite.fresh()
        if isinstance(other, ReleaseHistory):
            ids = [r.release_id for r in await other.releases(iid)]
            assert rel2 in ids, ids
        await _rollback(suite, iid, rel2, other)
        seen = await _settled(suite, iid, {"web": h.image(2), "side": h.image(1)})
        assert seen.message == "two", seen

    async def test_rollback_to_unknown_or_pruned_release_changes_nothing(
        self, suite: SuiteContext
    ) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "v0"})
        h = suite.harness
        first = new_id(RELEASE_PREFIX)
        await _deploy(
            suite,
            iid,
            ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": "v1"}),
            release_id=first,
        )
        for n in range(2, h.history_depth + 2):
            await _deploy(
                suite,
                iid,
                ServiceDeploySpec(name="web", image=h.image(2), env={"MESSAGE": f"v{n}"}),
            )
        last = f"v{h.history_depth + 1}"
        before = await _settled(suite, iid, {"web": h.image(2), "side": h.image(1)})
        assert before.message == last
        for gone in (first, new_id(RELEASE_PREFIX)):
            with pytest.raises(ReleaseNotFound):
                await _rollback(suite, iid, gone)
        assert await _seen(suite, iid) == before
        assert (await suite.status(iid)).ready

    async def test_invalid_deploy_changes_nothing(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        before = await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)})
        with pytest.raises(InvalidSpec):
            await _deploy(suite, iid, ServiceDeploySpec(name="ghost", image=h.image(2)))
        with pytest.raises(InvalidSpec):
            await _deploy(
                suite,
                iid,
                ServiceDeploySpec(name="web", image=h.image(2)),
                release_id="not-a-release",
            )
        assert await _seen(suite, iid) == before

    async def test_deploy_reusing_a_release_id_changes_nothing(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        rel = new_id(RELEASE_PREFIX)
        await _deploy(suite, iid, ServiceDeploySpec(name="web", image=h.image(2)), release_id=rel)
        before = await _settled(suite, iid, {"web": h.image(2), "side": h.image(1)})
        with pytest.raises(InvalidSpec) as caught:
            await _deploy(
                suite, iid, ServiceDeploySpec(name="web", image=h.image(3)), release_id=rel
            )
        assert rel in str(caught.value)
        assert await _seen(suite, iid) == before
        if isinstance(suite.provider, ReleaseHistory):
            history = await suite.provider.releases(iid)
            assert [r.release_id for r in history].count(rel) == 1
            assert history[0].release_id == rel
            assert history[0].service("web").image == h.image(2)

    async def test_deploy_of_missing_image_changes_nothing(self, suite: SuiteContext) -> None:
        iid = await self._web_and_side(suite, {"MESSAGE": "one"})
        h = suite.harness
        before = await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)})
        with pytest.raises(CtrlplaneError):
            await _deploy(suite, iid, ServiceDeploySpec(name="web", image=h.missing_image))
        assert await _settled(suite, iid, {"web": h.image(1), "side": h.image(1)}) == before
        status = await suite.status(iid)
        assert_running(status)
