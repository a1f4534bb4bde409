"""``exec`` through the Machines API's ``/exec`` (I/O).

``POST /apps/{app}/machines/{id}/exec`` runs an argv in a started Machine and answers its
stdout, stderr and exit code (bounded by the request's ``timeout``, ``exec_timeout``).
It takes no stdin and no tty (``MachineExecRequest`` has ``command`` and ``timeout``
only), so a request with either is refused with ``NotSupported`` before any I/O
(:func:`refuse_unsupported`). The command runs in ``req.service`` (default: the main
service) of ``req.replica`` (default 0).
"""

from __future__ import annotations

import math

from ctrlplane.errors import BackendError, InvalidSpec, NotSupported, Problem
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.deadlines import seconds
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.fly import instances
from ctrlplane.provider.fly.config import BACKEND
from ctrlplane.provider.fly.context import FlyContext
from ctrlplane.provider.fly.limits import EXEC_STDIN_REASON, EXEC_TTY_REASON
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["refuse_unsupported", "run"]


def refuse_unsupported(req: ExecRequest) -> None:
    """``NotSupported`` for stdin or a tty (the API has neither)."""
    if req.stdin:
        raise NotSupported(BACKEND, Capability.EXEC.value, detail=EXEC_STDIN_REASON)
    if req.tty:
        raise NotSupported(BACKEND, Capability.EXEC.value, detail=EXEC_TTY_REASON)


async def run(ctx: FlyContext, instance_id: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` in the service's Machine (see the module docs)."""
    inst = await instances.load(ctx, instance_id)
    spec = inst.spec
    assert spec is not None
    service = req.service or spec.main.name
    names = {s.name: s for s in spec.services}
    if service not in names:
        raise InvalidSpec(
            [Problem("service", f"no service {service!r} (services: {', '.join(names)})")],
            subject="exec request",
        )
    if names[service].role is ServiceRole.INIT:
        raise InvalidSpec(
            [Problem("service", f"{service!r} is an init: its Machine ran once and is gone")],
            subject="exec request",
        )
    replica = req.replica or 0
    count = len(inst.units.get(service, []))
    if replica >= count:
        raise InvalidSpec(
            [Problem("replica", f"replica {replica} does not exist ({count} run)")],
            subject="exec request",
        )
    view = inst.unit(service, replica)
    if view is None or view.state != "started":
        state = view.state if view is not None else "gone"
        raise BackendError(
            f"service {service!r} of replica {replica} of {instance_id!r} is not running "
            f"(its machine is {state})",
            backend=BACKEND,
        )
    limit = max(1, math.ceil(seconds(ctx.config.exec_timeout)))
    answer = await ctx.api.exec(inst.app, view.id, list(req.command), limit)
    return ExecResult(
        exit_code=int(answer.get("exit_code") or 0),
        stdout=str(answer.get("stdout") or "").encode(),
        stderr=str(answer.get("stderr") or "").encode(),
    )
