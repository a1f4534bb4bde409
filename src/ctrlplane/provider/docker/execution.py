"""``exec`` on one engine: a command run in a running service container of a replica."""

from __future__ import annotations

from ctrlplane.errors import BackendError, InvalidSpec, Problem
from ctrlplane.provider.docker.config import BACKEND
from ctrlplane.provider.docker.context import DockerContext
from ctrlplane.provider.docker.instances import load, pick_service
from ctrlplane.provider.docker.observe.workload import units
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["exec_target", "run_exec"]


async def run_exec(ctx: DockerContext, instance_id: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` (checked) in a service (default main) of a replica (default
    the lowest); the service must be running."""
    ref = await exec_target(ctx, instance_id, req)
    out = await ctx.client.exec(ref, list(req.command), stdin=req.stdin, tty=req.tty)
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)


async def exec_target(ctx: DockerContext, instance_id: str, req: ExecRequest) -> str:
    """The container ``req`` runs in: its service (default main) of its replica (default
    the lowest), which must exist and be running."""
    wl, inspects = await load(ctx, instance_id)
    service = req.service or wl.main.name
    replica = req.replica if req.replica is not None else min(units(ctx.labels, inspects))
    svc = pick_service(wl, service, field="service", subject="exec request")
    ref = ctx.render.container_name(wl, replica, svc.name)
    info = await ctx.client.inspect_container(ref)
    if info is None:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} of service {service!r}")],
            subject="exec request",
        )
    if not (info.get("State") or {}).get("Running"):
        raise BackendError(
            f"cannot exec in service {service!r} (replica {replica}) of "
            f"{instance_id!r}: it is not running",
            backend=BACKEND,
        )
    return ref
