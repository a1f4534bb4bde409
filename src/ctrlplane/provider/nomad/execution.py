"""``exec`` in a service's task over the allocation exec websocket (I/O).

The session itself (stdin, frames, the exit code Nomad encodes, ``exec_timeout``) is the
client's :meth:`~ctrlplane.provider.nomad.client.NomadClient.exec`.
"""

from __future__ import annotations

from ctrlplane.errors import BackendError, InvalidSpec, Problem
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import alloc_replica, running
from ctrlplane.provider.nomad.observe.history import request_from_job
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["run"]


async def run(ctx: NomadContext, iid: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` in a service's task (default main) of one running allocation
    (``replica``, default the first); no running allocation is a
    :class:`~ctrlplane.errors.BackendError`."""
    job = await jobs.read_job(ctx, iid)
    spec = request_from_job(job)
    service = req.service or spec.main.name
    if service not in {s.name for s in spec.services}:
        raise InvalidSpec(
            [Problem("service", f"no service {service!r} in {iid!r}")], subject="exec request"
        )
    allocs = running(await jobs.current(ctx, iid, job))
    if req.replica is not None:
        allocs = [a for a in allocs if alloc_replica(a) == req.replica]
    if not allocs:
        raise BackendError(f"no running allocation of {iid!r} to exec in", backend=BACKEND)
    out = await ctx.api.exec(
        str(allocs[0]["ID"]), service, list(req.command), req.stdin or b"", req.tty
    )
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)
