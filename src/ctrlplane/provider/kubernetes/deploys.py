"""``deploy`` and ``rollback`` on the cluster: the instance's next spec (the listed
services' new images, env and probes, or a retained release's snapshot), recorded as a new
release, rolled out by the strategy of :mod:`.rollout` that fits the controller."""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.errors import NotSupported, ReleaseNotFound
from ctrlplane.ids import RELEASE_PREFIX, new_id
from ctrlplane.provider.capabilities import strategy_capability
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.events import Subscriber
from ctrlplane.provider.kubernetes.errors import BACKEND
from ctrlplane.provider.kubernetes.render.history import new_release
from ctrlplane.provider.kubernetes.render.naming import base_name
from ctrlplane.provider.kubernetes.rollout import Rollouts
from ctrlplane.provider.releases import require_new_release_id
from ctrlplane.provider.results import DeployResult
from ctrlplane.provider.spec import DeployRequest, ServiceDeploySpec, ServiceSpec
from ctrlplane.provider.validation import validate_deploy

__all__ = ["deploy_release", "rollback_to"]

_NO_BG = (
    "not for stateful_set workloads: blue-green runs a second full set of pods beside the "
    "old one, and a StatefulSet's replicas own their volumes (one ReadWriteOnce claim per "
    "ordinal), so the second set would start on empty volumes or share the live ones; "
    "deploy stateful sets with strategy 'canary' (a partitioned rolling update that keeps "
    "every replica's volume) or 'rolling'"
)


async def deploy_release(
    session: Rollouts, req: DeployRequest, *, events: Subscriber | None = None
) -> DeployResult:
    """The body of :meth:`~.provider.KubernetesProvider.deploy` (its contract)."""
    validate_deploy(req)
    async with session._client() as client:
        inst = await session._load(client, req.instance_id)
        validate_deploy(req, [s.name for s in inst.req.services])
        require_new_release_id(
            req.instance_id, req.release_id, [r.release_id for r in inst.releases]
        )
        stateful = inst.workload.get("kind") == "StatefulSet"
        if stateful and req.strategy is DeployStrategy.BLUE_GREEN:
            raise NotSupported(BACKEND, str(strategy_capability(req.strategy)), detail=_NO_BG)
        services = _next_services(inst.req.services, req.services, keep_probe=True)
        release_id = req.release_id or new_id(RELEASE_PREFIX)
        target = inst.req.model_copy(update={"services": services})
        release = new_release(release_id, services, strategy=req.strategy.value)
        await session._refresh_secrets(client, target, release_id)
        if req.strategy is DeployStrategy.ROLLING:
            await session._roll(client, inst, target, release, req.strategy.value, events)
        elif stateful:
            await session._partitioned_canary(client, inst, target, release, events)
        else:
            await session._two_sets(client, inst, target, release, req.strategy, events)
    return DeployResult(
        provider_ref=base_name(req.instance_id), status="deployed", release_id=release_id
    )


async def rollback_to(
    session: Rollouts, instance_id: str, release_id: str, *, events: Subscriber | None = None
) -> None:
    """The body of :meth:`~.provider.KubernetesProvider.rollback` (its contract)."""
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        source = next((r for r in inst.releases if r.release_id == release_id), None)
        if source is None:
            raise ReleaseNotFound(
                instance_id, release_id, known=[r.release_id for r in inst.releases]
            )
        services = _next_services(inst.req.services, source.services, keep_probe=False)
        target = inst.req.model_copy(update={"services": services})
        release = new_release(
            new_id(RELEASE_PREFIX), services, strategy="rolling", rollback_of=release_id
        )
        await session._refresh_secrets(client, target, release.release_id)
        await session._roll(client, inst, target, release, "rolling", events)


def _next_services(
    current: Sequence[ServiceSpec], versions: Sequence[ServiceDeploySpec], *, keep_probe: bool
) -> list[ServiceSpec]:
    """``current`` with the image, env and health check of the same-named entry of
    ``versions`` (a deploy's services, or a retained release's snapshot); services without
    an entry stay as they are. With ``keep_probe``, an entry without a health check keeps
    the service's own (a deploy); without, it removes it (a rollback to a snapshot)."""
    new = {s.name: s for s in versions}
    return [
        s.model_copy(
            update={
                "image": new[s.name].image,
                "env": dict(new[s.name].env),
                "health_check": new[s.name].health_check
                or (s.health_check if keep_probe else None),
            }
        )
        if s.name in new
        else s
        for s in current
    ]
