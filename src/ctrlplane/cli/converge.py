"""The difference between a workload file and a live instance, and how to converge it.

``up -f FILE`` on an existing instance, ``plan -f FILE`` and ``deploy -f FILE`` compare
the file's services with the live release's recorded specs (every release records each
service's whole spec; config file contents as digests,
:func:`ctrlplane.provider.releases.recorded_spec`). Each difference falls in one class:

- **deploy**: image, env and health check of an existing service (a new release, rolled
  out with the deploy strategy, gated by the health checks);
- **scale**: the main service's ``replicas``, ``cpu_millis`` and ``memory_mb`` (0 means
  one replica / no limit), applied with ``scale``. The live replica count is read from the
  units (:class:`~ctrlplane.provider.UnitLister`) where the provider lists them, else from
  the release record; cpu and memory from the record (a ``scale`` since the last release
  is not recorded);
- **recreate**: everything else (a service added or removed, role, depends_on, command,
  args, ports, volumes, secret references, config files, annotations, other services'
  resources, removing a health check or a limit): a deploy cannot change it, so ``up``
  refuses it, naming it, unless given ``--recreate`` (remove the instance, provision it
  again under the same ID).

A release recorded before specs existed has only image, env and health check: then the
ports are compared with the status' endpoints, and the fields that could not be compared
are listed in :attr:`Convergence.not_compared`. The instance's ``kind`` and ``labels`` are
not recorded per release and are never compared.

Everything here is pure except :func:`read_live`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlplane.cli.deploy_plan import (
    blockers as snapshot_blockers,
)
from ctrlplane.cli.deploy_plan import (
    live_facts,
    unverified,
)
from ctrlplane.errors import CtrlplaneError, Problem
from ctrlplane.provider import (
    HealthCheckSpec,
    InstanceStatus,
    Provider,
    Release,
    ReleaseHistory,
    ResourceSpec,
    SecretRef,
    ServiceDeploySpec,
    ServiceRole,
    ServiceSpec,
    UnitLister,
)
from ctrlplane.provider.releases import recorded_spec

__all__ = ["Convergence", "LiveInstance", "ServiceChange", "converge", "read_live"]

_RECREATE_FIELDS: tuple[str, ...] = (
    "role",
    "depends_on",
    "command",
    "args",
    "ports",
    "volumes",
    "secrets",
    "config_files",
    "annotations",
)
_SCALABLE = ("replicas", "cpu_millis", "memory_mb")


@dataclass(frozen=True)
class LiveInstance:
    """What is read of a live instance: its live release, status and replica count."""

    instance_id: str
    release: Release
    status: InstanceStatus | None = None
    replicas: int | None = None
    """Units of the main service running now (``None``: the provider does not list units)."""


@dataclass
class ServiceChange:
    """One service's difference (see the module docs for the classes)."""

    service: str
    change: str  # update | unchanged | add | remove
    image: tuple[str | None, str | None] | None = None
    env: dict[str, Any] = field(default_factory=lambda: {"added": {}, "removed": {}, "changed": {}})
    health_check: tuple[Any, Any] | None = None
    scale: dict[str, tuple[int, int]] = field(default_factory=dict)
    recreate: list[Problem] = field(default_factory=list)

    @property
    def deployable(self) -> bool:
        """Whether a deploy can apply this service's difference (nothing to re-create)."""
        return not self.recreate

    @property
    def deploys(self) -> bool:
        """Whether the service's image, env or health check change."""
        return self.change in ("update", "unchanged") and bool(
            self.image or self.health_check or any(self.env.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "change": self.change,
            "image": list(self.image) if self.image else None,
            "env": self.env,
            "health_check": list(self.health_check) if self.health_check else None,
            "scale": {k: list(v) for k, v in self.scale.items()},
            "deployable": self.deployable,
            "blockers": [str(p) for p in self.recreate],
        }

    def summary(self, *, scale: bool = True) -> str:
        """``web: image a -> b, env +A ~B -C, replicas 1 -> 2`` (env keys only: values may
        be private); without ``scale``, only what a deploy changes."""
        parts = []
        if self.image:
            parts.append(f"image {self.image[0]} -> {self.image[1]}")
        marks = [f"+{k}" for k in self.env["added"]]
        marks += [f"~{k}" for k in self.env["changed"]]
        marks += [f"-{k}" for k in self.env["removed"]]
        if marks:
            parts.append("env " + " ".join(marks))
        if self.health_check:
            parts.append("health_check")
        if scale:
            parts += [f"{k} {a} -> {b}" for k, (a, b) in self.scale.items()]
        return f"{self.service}: {', '.join(parts)}"


@dataclass
class Convergence:
    """What converging the live instance to a file takes."""

    instance_id: str
    live_release: str
    services: list[ServiceChange]
    deploy: list[ServiceDeploySpec]
    scale: ResourceSpec | None
    not_compared: dict[str, list[str]]
    complete: bool
    """Whether the live release recorded whole specs (else see :attr:`not_compared`)."""

    @property
    def recreate(self) -> list[Problem]:
        """Every difference only re-creating the instance applies."""
        return [p for c in self.services for p in c.recreate]

    @property
    def unchanged(self) -> bool:
        return not self.deploy and self.scale is None and not self.recreate

    @property
    def scale_changes(self) -> list[ServiceChange]:
        return [c for c in self.services if c.scale]

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "live_release": self.live_release,
            "deployable": not self.recreate,
            "unchanged": self.unchanged,
            "services": [c.to_json() for c in self.services],
            "scale": self.scale.to_wire() if self.scale is not None else None,
            "not_compared": self.not_compared,
        }


async def read_live(provider: Provider, instance_id: str) -> LiveInstance:
    """The live release, status and running replica count of an instance.

    A provider without a release history cannot be compared:
    :class:`~ctrlplane.errors.NotSupported` is raised by the caller's check; an instance
    with no recorded release is a :class:`CtrlplaneError`.
    """
    if not isinstance(provider, ReleaseHistory):
        from ctrlplane.errors import NotSupported

        raise NotSupported(
            provider.info().name, "releases", detail="no release history to compare with"
        )
    history = await provider.releases(instance_id)
    live = next((r for r in history if r.live), history[0] if history else None)
    if live is None:
        raise CtrlplaneError(f"instance {instance_id} has no recorded release to compare with")
    status = await provider.status(instance_id)
    replicas: int | None = None
    if isinstance(provider, UnitLister) and live.specs:
        main = next((s.name for s in live.specs if s.role is ServiceRole.MAIN), "")
        units = await provider.units(instance_id)
        replicas = len({u.replica for u in units if u.service == main})
    return LiveInstance(instance_id, live, status, replicas)


def _hc(check: HealthCheckSpec | None) -> Any:
    return check.to_wire() if check is not None else None


def _env_diff(old: dict[str, str], new: dict[str, str]) -> dict[str, Any]:
    return {
        "added": {k: v for k, v in new.items() if k not in old},
        "removed": {k: v for k, v in old.items() if k not in new},
        "changed": {k: [old[k], v] for k, v in new.items() if k in old and old[k] != v},
    }


def _wire(value: Any) -> str:
    if isinstance(value, list):
        value = [v.to_wire() if hasattr(v, "to_wire") else v for v in value]
    elif hasattr(value, "to_wire"):
        value = value.to_wire()
    elif hasattr(value, "value"):
        value = value.value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _ports_text(ports: Sequence[Any]) -> str:
    shown = sorted(
        f"{p.container}/{p.protocol}" + (f" on {p.host}" if p.host else "") for p in ports
    )
    return ", ".join(shown) or "none"


def _refs(refs: Sequence[SecretRef]) -> str:
    return ", ".join(f"{r.key} ({r.type})" for r in refs) or "none"


def _field_problems(svc: ServiceSpec, live: ServiceSpec) -> list[Problem]:
    """Differences of ``svc`` from ``live`` that only re-creating applies."""
    out: list[Problem] = []
    mine = recorded_spec(svc)
    for name in _RECREATE_FIELDS:
        old, new = getattr(live, name), getattr(mine, name)
        if _wire(old) == _wire(new):
            continue
        if name == "ports":
            detail = (
                f"{_ports_text(old)} (live) -> {_ports_text(new)}: a deploy cannot change ports"
            )
        elif name == "config_files":
            detail = "contents or paths differ from the live release: a deploy cannot change them"
        elif name == "secrets":
            detail = (
                f"{_refs(old)} (live) -> {_refs(new)}: a deploy cannot change secret references"
            )
        else:
            detail = f"{_wire(old)} (live) -> {_wire(new)}: a deploy cannot change {name}"
        out.append(Problem(f"{svc.name}.{name}", detail))
    if svc.health_check is None and live.health_check is not None:
        out.append(
            Problem(
                f"{svc.name}.health_check",
                "removed: a deploy without a health check keeps the live one",
            )
        )
    return out


def _resource_changes(
    svc: ServiceSpec, live: ServiceSpec, running: int | None, is_main: bool
) -> tuple[dict[str, tuple[int, int]], list[Problem]]:
    scale: dict[str, tuple[int, int]] = {}
    problems: list[Problem] = []
    new, old = svc.resources, live.resources
    for name in ("disk_mb", "gpu"):
        if getattr(new, name) != getattr(old, name):
            problems.append(
                Problem(
                    f"{svc.name}.resources.{name}",
                    f"{getattr(old, name) or 'unset'} (live) -> {getattr(new, name) or 'unset'}: "
                    "only re-creating the instance changes it",
                )
            )
    for name in _SCALABLE:
        before, after = getattr(old, name), getattr(new, name)
        if name == "replicas":
            before = running if running is not None and is_main else max(before, 1)
            after = max(after, 1)
        if before == after:
            continue
        if not is_main:
            problems.append(
                Problem(
                    f"{svc.name}.resources.{name}",
                    f"{before} (live) -> {after}: scale changes only the main service's "
                    "resources; other services' need re-creating the instance",
                )
            )
        elif after == 0:
            problems.append(
                Problem(
                    f"{svc.name}.resources.{name}",
                    f"{before} (live) -> unset: scale cannot remove a limit",
                )
            )
        else:
            scale[name] = (before, after)
    return scale, problems


def converge(live: LiveInstance, services: Sequence[ServiceSpec], file: str) -> Convergence:
    """The difference between ``services`` (a file's) and the live instance (pure)."""
    release = live.release
    snapshots = {s.name: s for s in release.services}
    specs = {s.name: s for s in release.specs}
    complete = bool(release.specs)
    listed = {s.name for s in services}
    old_blockers: list[Problem] = []
    if not complete:
        old_blockers = snapshot_blockers(live_facts(release, live.status), services, file)
    changes: list[ServiceChange] = []
    deploy: list[ServiceDeploySpec] = []
    scale: dict[str, int] = {}
    for svc in services:
        snap = snapshots.get(svc.name)
        if snap is None:
            changes.append(
                ServiceChange(
                    svc.name,
                    "add",
                    image=(None, svc.image),
                    env=_env_diff({}, dict(svc.env)),
                    health_check=(None, _hc(svc.health_check)) if svc.health_check else None,
                    recreate=[Problem(svc.name, "new service: a deploy cannot add a service")],
                )
            )
            continue
        change = ServiceChange(svc.name, "unchanged", env=_env_diff(dict(snap.env), dict(svc.env)))
        if snap.image != svc.image:
            change.image = (snap.image, svc.image)
        if svc.health_check is not None and _hc(snap.health_check) != _hc(svc.health_check):
            change.health_check = (_hc(snap.health_check), _hc(svc.health_check))
        spec = specs.get(svc.name)
        if spec is not None:
            change.recreate += _field_problems(svc, spec)
            change.scale, problems = _resource_changes(
                svc, spec, live.replicas, svc.role is ServiceRole.MAIN
            )
            change.recreate += problems
            for key, (_, after) in change.scale.items():
                scale[key] = after
        else:
            change.recreate += [p for p in old_blockers if p.path.split(".", 1)[0] == svc.name]
        if change.deploys or change.scale or change.recreate:
            change.change = "update"
        if change.deploys:
            deploy.append(
                ServiceDeploySpec(
                    name=svc.name, image=svc.image, env=svc.env, health_check=svc.health_check
                )
            )
        changes.append(change)
    for snap in release.services:
        if snap.name not in listed:
            changes.append(
                ServiceChange(
                    snap.name,
                    "remove",
                    recreate=[
                        Problem(snap.name, f"not in {file}: a deploy cannot remove a service")
                    ],
                )
            )
    return Convergence(
        instance_id=live.instance_id,
        live_release=release.release_id,
        services=changes,
        deploy=deploy,
        scale=ResourceSpec(**scale) if scale else None,
        not_compared={} if complete else unverified(services),
        complete=complete,
    )
