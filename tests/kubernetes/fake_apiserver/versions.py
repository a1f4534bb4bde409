"""What the fake API server does differently per impersonated server version.

The fake impersonates one ``(major, minor)`` version. Schemas are the official ones of the
nearest shipped version (``kubernetes-validate`` ships 1.25 and later), and for older
servers :data:`FIELDS_SINCE` names the fields they do not know yet: server-side apply of
such a field fails as on the real server (500, "field not declared in schema"). The other
switches are the behaviours seen to differ between a real 1.21.2 cluster and current ones
(see ``recorded/kubernetes-1.21.2.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FIELDS_SINCE", "ServerVersion", "introduced_after"]

FIELDS_SINCE: dict[str, dict[tuple[str, ...], tuple[int, int]]] = {
    "StatefulSet": {
        ("spec", "persistentVolumeClaimRetentionPolicy"): (1, 23),
        ("spec", "minReadySeconds"): (1, 22),
        ("spec", "ordinals"): (1, 26),
    },
    "PodSpec": {
        ("os",): (1, 23),
        ("hostUsers",): (1, 25),
    },
    "Container": {
        ("restartPolicy",): (1, 28),
        ("readinessProbe", "grpc"): (1, 23),
        ("livenessProbe", "grpc"): (1, 23),
        ("startupProbe", "grpc"): (1, 23),
    },
}
"""Fields newer than the oldest shipped schema (1.25), by the object or part they belong
to, with the first minor version that declares them (1.21 lacks them all)."""

_TEMPLATE_SPEC = ("spec", "template", "spec")


def _container_paths(pod_spec: tuple[str, ...], obj: dict[str, object]) -> list[tuple[str, ...]]:
    """The paths of the containers of a pod spec at ``pod_spec`` in ``obj`` (SMD style: a
    list element is ``name="x"``)."""
    found: list[tuple[str, ...]] = []
    cur: object = obj
    for part in pod_spec:
        cur = cur.get(part) if isinstance(cur, dict) else None
    if not isinstance(cur, dict):
        return found
    for group in ("initContainers", "containers"):
        for c in cur.get(group) or []:
            if isinstance(c, dict):
                found.append((*pod_spec, group, f'[name="{c.get("name", "")}"]'))
    return found


def _has(obj: object, path: tuple[str, ...]) -> bool:
    cur = obj
    for part in path:
        if part.startswith("["):
            continue
        if not isinstance(cur, dict) or part not in cur:
            return False
        cur = cur[part]
    return True


def _get(obj: object, path: tuple[str, ...]) -> object:
    """Follow ``path`` (list elements ``[name="x"]`` select by name)."""
    cur = obj
    for part in path:
        if part.startswith('[name="'):
            wanted = part[7:-2]
            cur = (
                next((c for c in cur if isinstance(c, dict) and c.get("name") == wanted), None)
                if isinstance(cur, list)
                else None
            )
        elif isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def introduced_after(obj: dict[str, object], version: tuple[int, int]) -> list[str]:
    """SMD-style paths (``.spec.x``) of the fields of ``obj`` a server of ``version`` does
    not declare yet (see :data:`FIELDS_SINCE`)."""
    out: list[str] = []
    kind = str(obj.get("kind", ""))
    for path, since in FIELDS_SINCE.get(kind, {}).items():
        if version < since and _has(obj, path):
            out.append("." + ".".join(path))
    pod_specs: list[tuple[str, ...]] = []
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        pod_specs.append(_TEMPLATE_SPEC)
    elif kind == "Pod":
        pod_specs.append(("spec",))
    for pod_spec in pod_specs:
        spec = _get(obj, pod_spec)
        for path, since in FIELDS_SINCE["PodSpec"].items():
            if version < since and isinstance(spec, dict) and _has(spec, path):
                out.append("." + ".".join((*pod_spec, *path)))
        for container in _container_paths(pod_spec, obj):
            body = _get(obj, container)
            for path, since in FIELDS_SINCE["Container"].items():
                if version < since and isinstance(body, dict) and _has(body, path):
                    group, key = container[-2], container[-1]
                    out.append("." + ".".join((*container[:-2], group + key, *path)))
    return out


@dataclass(frozen=True)
class ServerVersion:
    """The behaviours of one impersonated version (``split_log_streams``: whether the
    ``PodLogsQuerySplitStreams`` feature is on, from 1.32 where it exists)."""

    pair: tuple[int, int]
    split_log_streams: bool = True

    @property
    def log_stream_selection(self) -> bool:
        """Whether ``pods/log`` honours ``stream`` (else the parameter is ignored, as 1.21
        and servers with the feature off do: every line comes back)."""
        return self.pair >= (1, 32) and self.split_log_streams

    @property
    def exec_v5(self) -> bool:
        """Whether ``pods/exec`` speaks ``v5.channel.k8s.io`` (stdin close), 1.30+."""
        return self.pair >= (1, 30)

    @property
    def lists_init_containers_apart(self) -> bool:
        """Whether the "container name must be specified" message names the init
        containers apart (newer servers) or in one list with the others (1.21)."""
        return self.pair >= (1, 25)
