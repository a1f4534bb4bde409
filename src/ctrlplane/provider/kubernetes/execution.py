"""``exec`` on the cluster: the pod of the requested replica, and one ``pods/exec``
websocket call (stdin written and closed where the server can close it: the v5 protocol of
1.30+ servers). The request's own checks (an argv list, no tty) are the preflight's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctrlplane.errors import BackendError, InvalidSpec, Problem
from ctrlplane.provider.kubernetes.client import StdinNotClosable
from ctrlplane.provider.kubernetes.context import Context
from ctrlplane.provider.kubernetes.instances import load, pods
from ctrlplane.provider.kubernetes.limits import NO_STDIN_CLOSE
from ctrlplane.provider.kubernetes.observe.pods import replica_order
from ctrlplane.provider.kubernetes.render.naming import BACKEND, LABEL_ORDINAL
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["run_exec"]


async def run_exec(ctx: Context, instance_id: str, req: ExecRequest) -> ExecResult:
    """The body of :meth:`~.provider.KubernetesProvider.exec` (its contract); ``req``
    passed the preflight."""
    inst = await load(ctx, instance_id)
    name = req.service or inst.req.main.name
    if name not in {s.name for s in inst.req.services}:
        raise InvalidSpec([Problem("service", f"no service {name!r} in instance {instance_id}")])
    pod = _replica_pod(replica_order(await pods(ctx, instance_id)), req.replica or 0, name)
    argv = list(req.command)
    try:
        out = await ctx.cluster.exec(pod, name, argv, req.stdin or b"")
    except StdinNotClosable:
        if req.stdin:
            ctx.preflight.refuse([NO_STDIN_CLOSE])
        out = await ctx.cluster.exec(pod, name, argv, None)
    return ExecResult(exit_code=out.exit_code, stdout=out.stdout, stderr=out.stderr)


def _replica_pod(pods: Sequence[JSON], replica: int, service: str) -> str:
    """The name of the pod of ``replica`` (its index in replica order: the ordinal of a
    StatefulSet, as ``logs`` counts); ``InvalidSpec`` if there is no such replica,
    ``BackendError`` if its pod is not running (another replica is never picked)."""
    ordinals = {
        str(p["metadata"]["name"]).rsplit("-", 1)[-1]: p
        for p in pods
        if LABEL_ORDINAL in (p["metadata"].get("labels") or {})
    }
    found = ordinals.get(str(replica)) if ordinals else None
    if found is None and not ordinals and replica < len(pods):
        found = pods[replica]
    if found is None:
        raise InvalidSpec(
            [Problem("replica", f"no replica {replica} (the instance has {len(pods)} pods)")],
            subject="exec request",
        )
    pod = found
    name = str(pod["metadata"]["name"])
    phase = (pod.get("status") or {}).get("phase") or "Unknown"
    if phase != "Running":
        raise BackendError(
            f"cannot exec in service {service!r} of replica {replica} (pod {name}): the pod "
            f"is not running (phase {phase}); see status() for why, or pick another replica",
            backend=BACKEND,
        )
    return name
