"""``exec`` on one engine: a command run in a running service container of a replica."""

from __future__ import annotations

from ctrlplane.errors import BackendError, InvalidSpec, Problem
from ctrlplane.provider.docker.engine import BACKEND as NAME
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["check_command", "run_exec"]


def check_command(req: ExecRequest) -> None:
    """:class:`InvalidSpec` unless ``req.command`` is a non-empty argument list."""
    argv = req.command
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidSpec(
            [Problem("command", "must be a non-empty list of arguments, not a shell string")],
            subject="exec request",
        )


async def run_exec(ses: Session, instance_id: str, req: ExecRequest) -> ExecResult:
    """Run ``req.command`` (checked) in a service (default main) of a replica (default
    the lowest); the service must be running."""
    wl, inspects = await ses.load(instance_id)
    service = req.service or wl.main.name
    replica = req.replica if req.replica is not None else min(ses.units(inspects))
    try:
        svc = wl.service(service)
    except KeyError:
        known = ", ".join(s.name for s in wl.services)
        raise InvalidSpec(
            [Problem("service", f"no service {service!r} (services: {known})")],
            subject="exec request",
        ) from None
    ref = ses.tr.container_name(wl, replica, svc.name)
    info = await ses.engine.inspect_container(ref)
    if info is None:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} of service {service!r}")],
            subject="exec request",
        )
    if not (info.get("State") or {}).get("Running"):
        raise BackendError(
            f"cannot exec in service {service!r} (replica {replica}) of "
            f"{instance_id!r}: it is not running",
            backend=NAME,
        )
    out = await ses.engine.exec(ref, list(req.command), stdin=req.stdin, tty=req.tty)
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)
