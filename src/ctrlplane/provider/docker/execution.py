"""``exec`` on one engine: a command run in a running service container of a replica."""

from __future__ import annotations

from ctrlplane.errors import BackendError, InstanceNotFound, InvalidSpec, Problem
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.instances import pick_service
from ctrlplane.provider.docker.observe.workload import units, workload_from_containers
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["exec_target", "run_exec"]


async def run_exec(ctx: DockerContext, instance_id: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` (checked) in a service (default main) of a replica (default
    the lowest); the service must be running.

    Four engine requests: one filtered container list (see :func:`exec_target`), then
    the exec's create, start and inspect (its exit code).
    """
    ref = await exec_target(ctx, instance_id, req)
    out = await ctx.client.exec(ref, list(req.command), stdin=req.stdin, tty=req.tty)
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)


async def exec_target(ctx: DockerContext, instance_id: str, req: ExecRequest) -> str:
    """The container ``req`` runs in: its service (default main) of its replica (default
    the lowest), which must exist and be running. One engine request: a filtered
    container list (the workload is read from the entries' labels, the container's
    state from its entry)."""
    found = await ctx.client.list_containers(ctx.labels.service_filter(instance_id))
    if not found:
        raise InstanceNotFound(instance_id, provider=BACKEND)
    wl = workload_from_containers(ctx.labels, found)
    service = req.service or wl.main.name
    replica = req.replica if req.replica is not None else min(units(ctx.labels, found))
    svc = pick_service(wl, service, field="service", subject="exec request")
    ref = ctx.render.container_name(wl, replica, svc.name)
    entry = next((c for c in found if f"/{ref}" in (c.get("Names") or [])), None)
    if entry is None:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} of service {service!r}")],
            subject="exec request",
        )
    if entry.get("State") != "running":
        raise BackendError(
            f"cannot exec in service {service!r} (replica {replica}) of "
            f"{instance_id!r}: it is not running",
            backend=BACKEND,
        )
    return ref
