"""``exec`` and interactive exec sessions in a service's task, over the allocation exec
websocket (I/O).

The one-shot session (stdin, frames, the exit code Nomad encodes, ``exec_timeout``) is
the client's :meth:`~ctrlplane.provider.nomad.client.NomadClient.exec`; an interactive
one is a :class:`~ctrlplane.provider.nomad.sessions.NomadExecSession` on the client's
:meth:`~ctrlplane.provider.nomad.client.NomadClient.exec_channel`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ctrlplane.errors import BackendError, InvalidSpec, Problem
from ctrlplane.provider.deadlines import cleanup
from ctrlplane.provider.nomad import jobs
from ctrlplane.provider.nomad.config import BACKEND
from ctrlplane.provider.nomad.context import NomadContext
from ctrlplane.provider.nomad.observe.allocations import alloc_replica, running
from ctrlplane.provider.nomad.observe.history import request_from_job
from ctrlplane.provider.nomad.sessions import ENDING_GRACE, NomadExecSession
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["run", "session"]


async def _target(ctx: NomadContext, iid: str, req: ExecRequest) -> tuple[str, str]:
    """``(allocation ID, task)`` of ``req``: a service's task (default main) of one
    running allocation (``replica``, default the first). An unknown service is
    :class:`~ctrlplane.errors.InvalidSpec`; no running allocation a
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
    return str(allocs[0]["ID"]), service


async def run(ctx: NomadContext, iid: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` in its task to the end (see :func:`_target`)."""
    alloc_id, service = await _target(ctx, iid, req)
    out = await ctx.api.exec(alloc_id, service, list(req.command), req.stdin or b"", req.tty)
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)


@asynccontextmanager
async def session(ctx: NomadContext, iid: str, req: ExecRequest) -> AsyncIterator[NomadExecSession]:
    """An interactive session with ``req.command`` in its task (see :func:`_target`),
    with a terminal if ``req.tty``. Leaving the block (normally, on an error, on
    cancellation) ends the process if it still runs, then closes the websocket:
    nothing keeps running in the task."""
    alloc_id, service = await _target(ctx, iid, req)
    live = NomadExecSession(service, req.tty)
    argv = list(req.command)
    async with ctx.api.exec_channel(alloc_id, service, argv, req.tty, live.receive) as channel:
        live.channel = channel
        try:
            yield live
        finally:
            # Bounded, and run to its end even if the caller is cancelled; the websocket
            # closes right after whatever happened (the agent then ends the process).
            await cleanup(live.end(), 2 * ENDING_GRACE, f"end the exec in task {service!r}")
