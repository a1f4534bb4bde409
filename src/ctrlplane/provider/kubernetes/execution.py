"""``exec`` on the cluster: the checks of the request (an argv list, no tty), the pod of the
requested replica, and one ``pods/exec`` websocket call (stdin written and closed where
the server can close it: the v5 protocol of 1.30+ servers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError

from ctrlplane.errors import BackendError, InvalidSpec, NotSupported, Problem
from ctrlplane.provider.kubernetes.errors import BACKEND, translated
from ctrlplane.provider.kubernetes.observe.pods import replica_order
from ctrlplane.provider.kubernetes.render.naming import LABEL_ORDINAL
from ctrlplane.provider.kubernetes.session import ClusterSession
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import ExecResult
from ctrlplane.provider.spec import ExecRequest

__all__ = ["run_exec"]


async def run_exec(session: ClusterSession, instance_id: str, req: ExecRequest) -> ExecResult:
    """The body of :meth:`~.provider.KubernetesProvider.exec` (its contract)."""
    if isinstance(req.command, str) or not req.command:
        raise InvalidSpec([Problem("command", "must be a non-empty argv list, not a shell string")])
    if req.tty:
        raise NotSupported(
            BACKEND,
            "exec",
            detail="tty: the client library (lightkube) has no tty option for pods/exec; "
            "run the command without tty (stdin, stdout, stderr and the exit code work)",
        )
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        name = req.service or inst.req.main.name
        if name not in {s.name for s in inst.req.services}:
            raise InvalidSpec(
                [Problem("service", f"no service {name!r} in instance {instance_id}")]
            )
        pod = _replica_pod(
            replica_order(await session._pods(client, instance_id)), req.replica or 0, name
        )
        try:
            resp = await _exec(session, client, pod, name, list(req.command), req.stdin or b"")
        except _NoStdinClose:
            if req.stdin:
                raise NotSupported(
                    BACKEND,
                    "exec",
                    detail="stdin needs the v5.channel.k8s.io exec protocol (servers 1.30+)",
                ) from None
            resp = await _exec(session, client, pod, name, list(req.command), None)
    return ExecResult(
        exit_code=resp.exit_code, stdout=_as_bytes(resp.stdout), stderr=_as_bytes(resp.stderr)
    )


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


async def _exec(
    session: ClusterSession,
    client: AsyncClient,
    pod: str,
    container: str,
    argv: list[str],
    stdin: bytes | None,
) -> Any:
    """One ``pods/exec`` call; ``_NoStdinClose`` if the server cannot close stdin (v4)."""
    try:
        with translated(f"exec in {pod}/{container}"):
            return await client.exec(
                pod,
                namespace=session.config.namespace,
                container=container,
                command=argv,
                stdin=stdin,
                stdout=True,
                stderr=True,
                decode=None,
                timeout=session.config.request_timeout.total_seconds(),
            )
    except Exception as exc:
        cause = exc.__cause__ or exc
        message = getattr(getattr(cause, "status", None), "message", "") or ""
        if isinstance(cause, ApiError) and "supports writing to stdin" in message:
            raise _NoStdinClose from None
        raise


def _as_bytes(data: str | bytes | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else bytes(data)


class _NoStdinClose(Exception):
    """The server speaks only v4.channel.k8s.io: stdin cannot be closed."""
