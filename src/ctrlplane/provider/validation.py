"""Semantic validation of requests: every rule, every problem at once, each with its path.

Providers call :func:`validate_request` (provision), :func:`validate_deploy`
(deploy) and :func:`validate_scale` (scale) before any side effect. Each raises
:class:`~ctrlplane.errors.InvalidSpec` listing every problem found, or returns ``None``.
The ``*_problems`` variants return the list instead of raising.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import timedelta

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.ids import RELEASE_PREFIX, is_id
from ctrlplane.provider.enums import ConfigFormat, SecretType, ServiceRole
from ctrlplane.provider.spec import (
    ConfigFile,
    DeployRequest,
    HealthCheckSpec,
    ProvisionRequest,
    ResourceSpec,
    SecretRef,
    ServiceSpec,
)

__all__ = [
    "deploy_problems",
    "find_cycle",
    "is_dns_label",
    "request_problems",
    "scale_problems",
    "secret_target",
    "startup_order",
    "validate_deploy",
    "validate_request",
    "validate_scale",
]

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MIN_SANE_DURATION = timedelta(milliseconds=1)


def is_dns_label(name: str) -> bool:
    """Lowercase letters, digits and hyphens, 1-63 chars, no hyphen at either end."""
    return bool(_DNS_LABEL.match(name))


def secret_target(ref: SecretRef) -> str:
    """Where a secret goes: its env var name (``env``) or file path (``file``, ``tls``).

    Defaults: env -> the key upper-cased with other characters as ``_``
    (``db/password`` -> ``DB_PASSWORD``); files -> ``/run/secrets/<key>``.
    ``registry`` secrets have no target (they authenticate image pulls): ``""``.
    """
    if ref.target:
        return ref.target
    if ref.type is SecretType.ENV:
        name = re.sub(r"[^A-Za-z0-9]", "_", ref.key).upper()
        return name if not name[:1].isdigit() else f"_{name}"
    if ref.type is SecretType.REGISTRY:
        return ""
    return f"/run/secrets/{ref.key}"


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a closed path (``[a, b, c, a]``), or ``None``.

    ``graph`` maps each node to what it depends on; edges to unknown nodes are ignored.
    Iterative (a chain of thousands of services is fine).
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if root in state:
            continue
        path: list[str] = [root]
        todo: list[list[str]] = [[d for d in graph[root] if d in graph]]
        state[root] = 1
        while path:
            if not todo[-1]:
                state[path.pop()] = 2
                todo.pop()
                continue
            dep = todo[-1].pop(0)
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                state[dep] = 1
                path.append(dep)
                todo.append([d for d in graph[dep] if d in graph])
    return None


def startup_order(services: Sequence[ServiceSpec]) -> list[list[ServiceSpec]]:
    """Services grouped in waves: each wave depends only on earlier waves.

    Inits come before every main and sidecar (they must finish first); within those two
    phases, ``depends_on`` decides. Order inside a wave follows the request. The request
    must be valid (no cycles).
    """
    waves: list[list[ServiceSpec]] = []
    for phase in (
        [s for s in services if s.role is ServiceRole.INIT],
        [s for s in services if s.role is not ServiceRole.INIT],
    ):
        placed = {s.name for wave in waves for s in wave}
        pending = list(phase)
        while pending:
            wave = [s for s in pending if all(d in placed for d in s.depends_on)]
            if not wave:  # a dependency outside this phase that is not yet placed
                raise InvalidSpec([Problem("services", "dependencies cannot be ordered (cycle?)")])
            waves.append(wave)
            placed.update(s.name for s in wave)
            pending = [s for s in pending if s.name not in placed]
    return waves


def _unique(values: Iterable[tuple[str, object]], what: str, problems: list[Problem]) -> None:
    seen: dict[object, str] = {}
    for path, value in values:
        if value in seen:
            problems.append(Problem(path, f"{what} {value!r} already used at {seen[value]}"))
        else:
            seen[value] = path


def _check_port(path: str, port: int, problems: list[Problem], *, allow_zero: bool) -> None:
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        problems.append(Problem(path, f"port {port} out of range ({low}-65535)"))


def _check_resources(path: str, res: ResourceSpec, problems: list[Problem]) -> None:
    for field in ("cpu_millis", "memory_mb", "disk_mb", "replicas"):
        value = getattr(res, field)
        if value < 0:
            problems.append(Problem(f"{path}.{field}", f"must be >= 0, got {value}"))


def _check_health(path: str, hc: HealthCheckSpec, problems: list[Problem]) -> None:
    if not hc.command and hc.port == 0:
        problems.append(
            Problem(f"{path}.port", "an http or tcp health check needs a port (1-65535)")
        )
    else:
        _check_port(f"{path}.port", hc.port, problems, allow_zero=bool(hc.command))
    if hc.path and hc.command:
        problems.append(Problem(path, "set either path (http probe) or command (exec probe)"))
    if hc.path and not hc.path.startswith("/"):
        problems.append(Problem(f"{path}.path", f"must start with '/', got {hc.path!r}"))
    for field in ("interval", "timeout"):
        value: timedelta = getattr(hc, field)
        if value < timedelta(0):
            problems.append(Problem(f"{path}.{field}", "must not be negative"))
        elif timedelta(0) < value < _MIN_SANE_DURATION:
            problems.append(
                Problem(
                    f"{path}.{field}",
                    f"{value} is under a millisecond; numbers are nanoseconds on the wire, "
                    "write a duration such as '5s'",
                )
            )
    if hc.interval > timedelta(0) and hc.timeout > hc.interval:
        problems.append(Problem(f"{path}.timeout", "must not be longer than interval"))
    if hc.retries < 0:
        problems.append(Problem(f"{path}.retries", f"must be >= 0, got {hc.retries}"))


def _check_secret(path: str, ref: SecretRef, problems: list[Problem]) -> None:
    if not _SECRET_KEY.match(ref.key) or ".." in ref.key.split("/"):
        problems.append(
            Problem(
                f"{path}.key",
                f"{ref.key!r} is not a secret key (letters, digits, '.', '_', '-', "
                "segments joined by '/')",
            )
        )
    if ref.type is SecretType.ENV and ref.target and not _ENV_NAME.match(ref.target):
        problems.append(Problem(f"{path}.target", f"{ref.target!r} is not an env var name"))
    if ref.type in (SecretType.FILE, SecretType.TLS) and ref.target:
        _check_abs_path(f"{path}.target", ref.target, problems)
    if ref.type is SecretType.REGISTRY and ref.target:
        problems.append(Problem(f"{path}.target", "registry secrets take no target"))


def _check_abs_path(path: str, value: str, problems: list[Problem]) -> None:
    if not value.startswith("/"):
        problems.append(Problem(path, f"must be an absolute path, got {value!r}"))
    elif value != "/" and value.endswith("/"):
        problems.append(Problem(path, f"must not end with '/', got {value!r}"))
    elif ".." in value.split("/"):
        problems.append(Problem(path, f"must not contain '..', got {value!r}"))
    elif value == "/":
        problems.append(Problem(path, "must not be '/'"))


def _check_config_file(path: str, cf: ConfigFile, problems: list[Problem]) -> None:
    if not is_dns_label(cf.name):
        problems.append(Problem(f"{path}.name", _dns_message(cf.name)))
    _check_abs_path(f"{path}.path", cf.path, problems)
    import yaml  # only a YAML config file needs it (keeps the import of the models light)

    try:
        if cf.format is ConfigFormat.JSON:
            json.loads(cf.content)
        elif cf.format is ConfigFormat.YAML:
            yaml.safe_load(cf.content)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(Problem(f"{path}.content", f"is not valid {cf.format}: {first}"))
    except RecursionError:
        problems.append(Problem(f"{path}.content", f"is nested too deeply to read as {cf.format}"))


def _dns_message(name: str) -> str:
    return (
        f"{name!r} is not DNS-safe (lowercase letters, digits and '-', 1-63 characters, "
        "starting and ending with a letter or digit)"
    )


def _check_service(path: str, svc: ServiceSpec, problems: list[Problem]) -> None:
    if not is_dns_label(svc.name):
        problems.append(Problem(f"{path}.name", _dns_message(svc.name)))
    if not svc.image.strip() or any(c.isspace() for c in svc.image):
        problems.append(Problem(f"{path}.image", f"{svc.image!r} is not an image reference"))
    _check_resources(f"{path}.resources", svc.resources, problems)
    for i, port in enumerate(svc.ports):
        _check_port(f"{path}.ports[{i}].container", port.container, problems, allow_zero=False)
        _check_port(f"{path}.ports[{i}].host", port.host, problems, allow_zero=True)
    for i, vol in enumerate(svc.volumes):
        if not is_dns_label(vol.name):
            problems.append(Problem(f"{path}.volumes[{i}].name", _dns_message(vol.name)))
        _check_abs_path(f"{path}.volumes[{i}].mount_path", vol.mount_path, problems)
        if vol.size_mb < 0:
            problems.append(Problem(f"{path}.volumes[{i}].size_mb", "must be >= 0"))
    _unique(
        ((f"{path}.volumes[{i}].name", v.name) for i, v in enumerate(svc.volumes)),
        "volume name",
        problems,
    )
    if svc.health_check is not None:
        _check_health(f"{path}.health_check", svc.health_check, problems)
    for i, ref in enumerate(svc.secrets):
        _check_secret(f"{path}.secrets[{i}]", ref, problems)
    _unique(
        ((f"{path}.secrets[{i}].key", f"{r.key} ({r.type})") for i, r in enumerate(svc.secrets)),
        "secret",
        problems,
    )
    for i, cf in enumerate(svc.config_files):
        _check_config_file(f"{path}.config_files[{i}]", cf, problems)
    # Everything mounted into the container must land on distinct paths.
    mounts = [(f"{path}.volumes[{i}].mount_path", v.mount_path) for i, v in enumerate(svc.volumes)]
    mounts += [(f"{path}.config_files[{i}].path", c.path) for i, c in enumerate(svc.config_files)]
    mounts += [
        (f"{path}.secrets[{i}].target", secret_target(r))
        for i, r in enumerate(svc.secrets)
        if r.type in (SecretType.FILE, SecretType.TLS)
    ]
    _unique(mounts, "mount path", problems)
    env_targets = [
        (f"{path}.secrets[{i}].target", secret_target(r))
        for i, r in enumerate(svc.secrets)
        if r.type is SecretType.ENV
    ]
    _unique(env_targets, "secret env var", problems)
    for p, name in env_targets:
        if name in svc.env:
            problems.append(Problem(p, f"env var {name!r} is also set in env"))
    for key in svc.env:
        if not key or "=" in key or "\x00" in key:
            problems.append(Problem(f"{path}.env", f"{key!r} is not an env var name"))
    if svc.role is ServiceRole.INIT and svc.ports:
        problems.append(Problem(f"{path}.ports", "an init service runs to completion; no ports"))


def request_problems(req: ProvisionRequest) -> list[Problem]:
    """Every problem of a provision request (empty when valid)."""
    problems: list[Problem] = []
    if not is_id(req.instance_id):
        problems.append(
            Problem("instance_id", f"{req.instance_id!r} is not a TypeID (e.g. inst_01h4...)")
        )
    if not req.services:
        problems.append(Problem("services", "at least one service is required"))
        return problems
    for i, svc in enumerate(req.services):
        _check_service(f"services[{i}]", svc, problems)
    _unique(
        ((f"services[{i}].name", s.name) for i, s in enumerate(req.services)),
        "service name",
        problems,
    )
    mains = [i for i, s in enumerate(req.services) if s.role is ServiceRole.MAIN]
    if not mains:
        problems.append(Problem("services", "exactly one service must have role main; none has"))
    for i in mains[1:]:
        problems.append(
            Problem(
                f"services[{i}].role",
                f"a second main service (services[{mains[0]}] is already main); "
                "set role to sidecar or init",
            )
        )
    names = {s.name for s in req.services}
    roles = {s.name: s.role for s in req.services}
    for i, svc in enumerate(req.services):
        for j, dep in enumerate(svc.depends_on):
            where = f"services[{i}].depends_on[{j}]"
            if dep == svc.name:
                problems.append(Problem(where, "a service cannot depend on itself"))
            elif dep not in names:
                problems.append(Problem(where, f"no service named {dep!r} in this workload"))
            elif svc.role is ServiceRole.INIT and roles[dep] is not ServiceRole.INIT:
                problems.append(
                    Problem(
                        where,
                        f"init service cannot depend on {roles[dep]} service {dep!r}: "
                        "inits finish before mains and sidecars start",
                    )
                )
        _unique(
            ((f"services[{i}].depends_on[{j}]", d) for j, d in enumerate(svc.depends_on)),
            "dependency",
            problems,
        )
    graph = {s.name: [d for d in s.depends_on if d != s.name] for s in req.services}
    cycle = find_cycle(graph)
    if cycle:
        first = next(i for i, s in enumerate(req.services) if s.name == cycle[0])
        problems.append(
            Problem(f"services[{first}].depends_on", f"dependency cycle: {' -> '.join(cycle)}")
        )
    # Services of one replica share a network namespace, like a pod.
    _unique(
        (
            (f"services[{i}].ports[{j}].container", f"{p.container}/{p.protocol}")
            for i, s in enumerate(req.services)
            for j, p in enumerate(s.ports)
        ),
        "container port",
        problems,
    )
    _unique(
        (
            (f"services[{i}].ports[{j}].host", f"{p.host}/{p.protocol}")
            for i, s in enumerate(req.services)
            for j, p in enumerate(s.ports)
            if p.host
        ),
        "host port",
        problems,
    )
    for key in req.labels:
        if not key:
            problems.append(Problem("labels", "label keys must not be empty"))
    return problems


def _refuse(problems: list[Problem], subject: str) -> None:
    """Raise :class:`InvalidSpec` with ``problems`` about ``subject``, if there are any."""
    if problems:
        raise InvalidSpec(problems, subject=subject)


def validate_request(req: ProvisionRequest) -> None:
    """Raise :class:`InvalidSpec` with every problem of ``req``; return if it is valid."""
    _refuse(request_problems(req), "provision request")


def deploy_problems(req: DeployRequest, current: Sequence[str] | None = None) -> list[Problem]:
    """Every problem of a deploy request; ``current`` lists the instance's service names."""
    problems: list[Problem] = []
    if not is_id(req.instance_id):
        problems.append(Problem("instance_id", f"{req.instance_id!r} is not a TypeID"))
    if req.release_id and not is_id(req.release_id, RELEASE_PREFIX):
        problems.append(
            Problem("release_id", f"{req.release_id!r} is not a release TypeID (rel_...)")
        )
    if not req.services:
        problems.append(Problem("services", "a deploy must list at least one service"))
    for i, svc in enumerate(req.services):
        if current is not None and svc.name not in current:
            known = ", ".join(current)
            problems.append(
                Problem(f"services[{i}].name", f"no service {svc.name!r} (services: {known})")
            )
        elif not is_dns_label(svc.name):
            problems.append(Problem(f"services[{i}].name", _dns_message(svc.name)))
        if not svc.image.strip() or any(c.isspace() for c in svc.image):
            problems.append(Problem(f"services[{i}].image", f"{svc.image!r} is not an image"))
        if svc.health_check is not None:
            _check_health(f"services[{i}].health_check", svc.health_check, problems)
    _unique(
        ((f"services[{i}].name", s.name) for i, s in enumerate(req.services)),
        "service",
        problems,
    )
    return problems


def validate_deploy(req: DeployRequest, current: Sequence[str] | None = None) -> None:
    """Raise :class:`InvalidSpec` with every problem of a deploy request."""
    _refuse(deploy_problems(req, current), "deploy request")


def scale_problems(spec: ResourceSpec) -> list[Problem]:
    """Every problem of a scale request (all fields >= 0; something to change)."""
    problems: list[Problem] = []
    _check_resources("", spec, problems)
    problems = [Problem(p.path.lstrip("."), p.message) for p in problems]
    if not (spec.cpu_millis or spec.memory_mb or spec.disk_mb or spec.replicas or spec.gpu):
        problems.append(Problem("", "nothing to change: every field is 0 (unchanged)"))
    return problems


def validate_scale(spec: ResourceSpec) -> None:
    """Raise :class:`InvalidSpec` with every problem of a scale request."""
    _refuse(scale_problems(spec), "scale request")
