"""The steps of ``up`` (see :mod:`ctrlplane.cli.up_cmd` for what it does)."""

from __future__ import annotations

from typing import Any

import click

from ctrlplane.cli.context import CliState
from ctrlplane.cli.converge import Convergence, converge, read_live
from ctrlplane.cli.deploy_plan import NotDeployable
from ctrlplane.cli.kept_volumes import KeptVolumes
from ctrlplane.cli.operations import (
    bounded,
    deploy_with_progress,
    probe_intervals,
    scale_with_progress,
    step,
)
from ctrlplane.cli.output import emit_json, http_ports, status_lines
from ctrlplane.cli.progress import progress_subscriber, provision_with_progress
from ctrlplane.cli.workload_input import WorkloadInput
from ctrlplane.errors import AmbiguousInstance, InstanceNotFound
from ctrlplane.provider import (
    DeployRequest,
    InstanceLister,
    InstanceState,
    InstanceStatus,
    Provider,
    ProvisionRequest,
    Release,
    ReleaseHistory,
    ResourceSpec,
)

__all__ = ["UpFlow", "existing_id", "unfinished_provision"]


async def existing_id(provider: Provider, name: str, tenant: str) -> str | None:
    """The ID of the instance already running this workload name (for ``up`` re-runs).

    ``None`` when there is none (``up`` creates one); several are
    :class:`AmbiguousInstance` listing them (``up`` must not add yet another).
    """
    if not name or not isinstance(provider, InstanceLister):
        return None
    found = [
        s.instance_id
        for s in await provider.list_instances(tenant or None)
        if s.name == name and s.tenant_id == tenant
    ]
    if len(found) > 1:
        raise AmbiguousInstance(name, sorted(found))
    return found[0] if found else None


class UpFlow:
    """One ``up``: provision, or converge (deploy, scale, re-create), then the status."""

    def __init__(
        self,
        state: CliState,
        workload: WorkloadInput,
        file: str,
        *,
        strategy: str,
        recreate: bool,
        timeout: float,
    ) -> None:
        self.state = state
        self.workload = workload
        self.file = file
        self.strategy = strategy
        self.recreate = recreate
        self.timeout = timeout
        self.provider = state.provider()
        self.instance_id = ""
        self.kept_volumes_of: str | None = None
        """The instance ID whose volumes ``down --keep-volumes`` kept, provisioned again."""

    def say(self, text: str) -> None:
        if not self.state.json:
            click.echo(text, err=True)

    async def go(self, instance_id: str | None) -> dict[str, Any]:
        """Do the ``up``; returns what :meth:`show` prints."""
        tenant = self.state.tenant_id
        name = str(self.workload.data.get("name", ""))
        chosen = instance_id or await existing_id(self.provider, name, tenant)
        kept = KeptVolumes.of(self.state.chosen_provider)
        if chosen is None:
            chosen = self.kept_volumes_of = kept.find(tenant, name)
        req: ProvisionRequest = self.workload.request(instance_id=chosen, tenant=tenant)
        self.instance_id = req.instance_id
        outcome: dict[str, Any] = {"action": "created", "release_id": "", "changes": None}
        found = await self._status(req.instance_id) if chosen is not None else None
        if found is not None:
            outcome = await bounded(
                f"up of {req.instance_id}", self.timeout, self._converge(req, found)
            )
        else:
            await self._provision(req)
        kept.forget(req.instance_id)
        status = await self.provider.status(req.instance_id)
        outcome.update(req=req, status=status)
        return outcome

    async def _status(self, instance_id: str) -> InstanceStatus | None:
        """The instance's status; ``None`` when there is no such instance."""
        try:
            return await self.provider.status(instance_id)
        except InstanceNotFound:
            return None

    async def _provision(self, req: ProvisionRequest) -> None:
        kept = " with the volumes down --keep-volumes kept" if self.kept_volumes_of else ""
        self.say(
            f"provisioning {req.name or req.instance_id} as {req.instance_id} "
            f"on {self.state.chosen_provider}{kept}..."
        )
        events = progress_subscriber(
            self.state.json,
            intervals=probe_intervals({s.name: s.health_check for s in req.services}),
        )
        try:
            await bounded(
                f"up of {req.instance_id}",
                self.timeout,
                provision_with_progress(self.provider, req, events),
            )
        finally:
            if events is not None:
                events.close()

    async def _converge(self, req: ProvisionRequest, status: InstanceStatus) -> dict[str, Any]:
        iid = req.instance_id
        if not isinstance(self.provider, ReleaseHistory):
            self.say(
                f"note: provider {self.state.chosen_provider!r} keeps no release history, so "
                f"{iid} cannot be compared with {self.file}; it was provisioned again "
                "(idempotent: a running instance is left as it is)"
            )
            await provision_with_progress(self.provider, req, None)
            return {"action": "provisioned", "release_id": "", "changes": None}
        unfinished = unfinished_provision(status)
        if unfinished is None and not await self._history(self.provider, iid):
            unfinished = "it has no recorded release (its provision never finished)"
        if unfinished is not None:
            return await self._finish_provision(req, unfinished)
        live = await read_live(self.provider, iid)
        plan = converge(live, req.services, self.file)
        if plan.recreate:
            if not self.recreate:
                raise NotDeployable(
                    plan.recreate,
                    file=self.file,
                    instance=req.name or iid,
                    release=plan.live_release,
                    verb="up",
                )
            return await self._recreate(req, plan)
        self.say(f"converging {req.name or iid} ({iid}) on {self.state.chosen_provider}...")
        outcome: dict[str, Any] = {"action": "unchanged", "release_id": "", "changes": plan}
        if live.status is not None and live.status.state is InstanceState.STOPPED:
            async with step(self.state, "start", iid):
                await self.provider.start(iid)
            outcome["action"] = "started"
        if plan.unchanged:
            return outcome
        down, up = _split_scale(plan)
        if down is not None:
            await scale_with_progress(
                self.state, self.provider, iid, down, detail=_detail(plan, down)
            )
        if plan.deploy:
            result = await deploy_with_progress(
                self.state,
                self.provider,
                DeployRequest(instance_id=iid, services=plan.deploy, strategy=self.strategy),
                intervals=probe_intervals({s.name: s.health_check for s in req.services}),
            )
            outcome["release_id"] = result.release_id
        if up is not None:
            await scale_with_progress(self.state, self.provider, iid, up, detail=_detail(plan, up))
        outcome["action"] = "converged"
        return outcome

    @staticmethod
    async def _history(provider: ReleaseHistory, instance_id: str) -> list[Release]:
        """The instance's releases; none where the backend reads an instance whose
        provision never recorded one as not found (its status still answers)."""
        try:
            return await provider.releases(instance_id)
        except InstanceNotFound:
            return []

    async def _finish_provision(self, req: ProvisionRequest, why: str) -> dict[str, Any]:
        """Provision an instance whose provision never finished (``why``): the provider's
        repair of the interrupted operation runs first (it finishes or undoes what was
        left), then the file is provisioned (an instance the repair kept is waited for)."""
        self.say(f"{req.name or req.instance_id} ({req.instance_id}): {why}")
        await self._provision(req)
        return {"action": "provisioned", "release_id": "", "changes": None}

    async def _recreate(self, req: ProvisionRequest, plan: Convergence) -> dict[str, Any]:
        self.say(
            f"re-creating {req.name or req.instance_id} ({req.instance_id}): "
            + "; ".join(str(p) for p in plan.recreate)
        )
        async with step(self.state, "remove", req.instance_id):
            await self.provider.deprovision(req.instance_id)
        await self._provision(req)
        return {"action": "recreated", "release_id": "", "changes": plan}

    def show(self, outcome: dict[str, Any]) -> None:
        """Print the result: what was done, then the status (or one JSON document)."""
        req: ProvisionRequest = outcome["req"]
        status = outcome["status"]
        plan: Convergence | None = outcome["changes"]
        if self.state.json:
            doc: dict[str, Any] = {
                "instance_id": req.instance_id,
                "name": req.name,
                "action": outcome["action"],
                "release_id": outcome["release_id"],
                "changes": plan.to_json() if plan is not None else None,
                "status": status.to_wire(),
                "kept_volumes": self.kept_volumes_of is not None,
            }
            if self.workload.ignored:
                doc["not_honoured"] = self.workload.ignored
            emit_json(doc)
            return
        for line in summary_lines(outcome["action"], plan, outcome["release_id"], self.strategy):
            click.echo(line)
        http = http_ports(req.services)
        click.echo(status_lines(req.instance_id, req.name, status, http))


def unfinished_provision(status: InstanceStatus) -> str | None:
    """Why ``up`` must provision an existing instance rather than converge it: its last
    operation is a ``provision`` whose holder died (``status`` reports it interrupted, see
    :func:`ctrlplane.provider.operations.lease_metadata`); ``None`` otherwise."""
    meta = status.metadata
    if meta.get("operation_state") != "interrupted":
        return None
    if meta.get("operation_name") != "provision":
        return None
    return "its provision was interrupted (its process died); provisioning it again"


def summary_lines(action: str, plan: Convergence | None, release: str, strategy: str) -> list[str]:
    """What ``up`` did, for people (``deployed rel_... (rolling): web: image a -> b``)."""
    if plan is None or action == "created":
        return []
    if action == "recreated":
        return ["re-created: " + "; ".join(str(p) for p in plan.recreate), ""]
    lines = []
    if action == "started":
        lines.append("started the stopped instance")
    if plan.unchanged:
        lines.append(f"unchanged: the instance matches the file (live release {plan.live_release})")
    else:
        deployed = [c.summary(scale=False) for c in plan.services if c.deploys]
        if deployed:
            lines.append(
                f"deployed {release or 'a new release'} ({strategy}): " + "; ".join(deployed)
            )
        scaled = [
            f"{c.service}: " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in c.scale.items())
            for c in plan.scale_changes
        ]
        if scaled:
            lines.append("scaled " + "; ".join(scaled))
    if plan.not_compared:
        listed = "; ".join(f"{n}: {', '.join(f)}" for n, f in plan.not_compared.items())
        lines.append("note: the live release predates full spec records; not compared: " + listed)
    return [*lines, ""]


def _split_scale(plan: Convergence) -> tuple[ResourceSpec | None, ResourceSpec | None]:
    """The scale before the deploy (fewer replicas) and after it (the rest)."""
    if plan.scale is None:
        return None, None
    main = next((c for c in plan.scale_changes if "replicas" in c.scale), None)
    shrink = main is not None and main.scale["replicas"][1] < main.scale["replicas"][0]
    if shrink and plan.deploy:
        rest = plan.scale.model_copy(update={"replicas": 0})
        first = ResourceSpec(replicas=plan.scale.replicas)
        return first, (rest if rest != ResourceSpec() else None)
    return None, plan.scale


def _detail(plan: Convergence, spec: ResourceSpec) -> str:
    parts = []
    for change in plan.scale_changes:
        for key, (before, after) in change.scale.items():
            if getattr(spec, key):
                parts.append(f"{change.service} {key} {before} -> {after}")
    return ", ".join(parts)
