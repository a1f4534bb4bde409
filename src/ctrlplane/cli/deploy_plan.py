"""What ``deploy -f FILE`` can and cannot apply to a live instance (shared by ``plan``).

A deploy changes only the deployable fields of existing services: image, env and health
check (:class:`~ctrlplane.provider.ServiceDeploySpec`). Everything else in a workload
file is fixed when the instance is provisioned. Before a ``deploy -f`` (and in ``plan``)
the CLI compares the file with what it can read of the live instance and refuses the
differences a deploy cannot apply, instead of dropping them silently:

- a service in the file that the live release does not have (deploy cannot add one);
- a live service the file does not list (deploy cannot remove one);
- a health check the file removes (a deploy without one keeps the live one);
- a different set of container ports (read from the status' in-network endpoints).

The other fields (command, args, role, depends_on, resources, volumes, secrets, config
files, annotations) are not recorded in the release history and no provider API returns
them, so they cannot be compared: they are reported as *unverified* (never applied by a
deploy). The functions here are pure, except :func:`read_live`, which reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ctrlplane.errors import CtrlplaneError, InvalidSpec, Problem
from ctrlplane.provider import (
    InstanceStatus,
    Provider,
    Release,
    ReleaseHistory,
    ServiceRole,
    ServiceSpec,
)

__all__ = [
    "NOT_RECORDED",
    "NotDeployable",
    "ServiceFacts",
    "blockers",
    "live_facts",
    "live_release",
    "read_live",
    "unverified",
    "unverified_note",
]

NOT_RECORDED: tuple[str, ...] = (
    "role",
    "depends_on",
    "command",
    "args",
    "resources",
    "volumes",
    "secrets",
    "config_files",
    "annotations",
)
"""Service fields a deploy never applies and whose live values no provider API returns."""

_DEFAULTS = ServiceSpec(name="defaults", image="defaults")

RECREATE_HINT = (
    "a deploy changes only image, env and health_check of existing services; to apply "
    "the rest, re-create the instance: ctrlplane up -f {file} --recreate (or ctrlplane "
    "down {instance} && ctrlplane up -f {file}; its release history starts over); for the "
    "main service's cpu, memory or replicas use ctrlplane up -f {file} or ctrlplane scale "
    "{instance}"
)


@dataclass(frozen=True)
class ServiceFacts:
    """What can be read of one live service: its release snapshot and its ports."""

    name: str
    in_release: bool
    has_health_check: bool
    ports: frozenset[tuple[int, str]] | None  # None: unknown (no status)


def live_facts(live: Release | None, status: InstanceStatus | None) -> dict[str, ServiceFacts]:
    """Per live service name: what the release history and the status tell about it."""
    names: list[str] = [s.name for s in live.services] if live is not None else []
    if status is not None:
        names += [n for n in status.services if n not in names]
    ports: dict[str, set[tuple[int, str]]] = {}
    if status is not None:
        for ep in status.endpoints:
            if not ep.public and ep.service_name:
                ports.setdefault(ep.service_name, set()).add((ep.port, ep.protocol))
    out: dict[str, ServiceFacts] = {}
    for name in names:
        snap = next((s for s in live.services if s.name == name), None) if live else None
        out[name] = ServiceFacts(
            name=name,
            in_release=snap is not None,
            has_health_check=snap is not None and snap.health_check is not None,
            ports=frozenset(ports.get(name, set())) if status is not None else None,
        )
    return out


def live_release(history: Sequence[Release]) -> Release | None:
    """The live release of a history (newest first), else the newest, else ``None``."""
    return next((r for r in history if r.live), history[0] if history else None)


async def read_live(provider: Provider, instance_id: str) -> tuple[Release | None, InstanceStatus]:
    """The live release (``None`` when the provider keeps no history) and the status."""
    live: Release | None = None
    if isinstance(provider, ReleaseHistory):
        live = live_release(await provider.releases(instance_id))
        if live is None:
            raise CtrlplaneError(f"instance {instance_id} has no recorded release to compare with")
    return live, await provider.status(instance_id)


def _ports_text(ports: frozenset[tuple[int, str]] | set[tuple[int, str]]) -> str:
    return ", ".join(f"{p}/{proto}" for p, proto in sorted(ports)) or "none"


def blockers(
    facts: Mapping[str, ServiceFacts], services: Sequence[ServiceSpec], file: Path | str
) -> list[Problem]:
    """Every difference between ``services`` (a workload file) and the live instance
    that a deploy cannot apply, each as a :class:`Problem` whose path is the service."""
    problems: list[Problem] = []
    listed = {s.name for s in services}
    for svc in services:
        live = facts.get(svc.name)
        if live is None:
            problems.append(Problem(svc.name, "new service: a deploy cannot add a service"))
            continue
        if svc.health_check is None and live.has_health_check:
            problems.append(
                Problem(
                    f"{svc.name}.health_check",
                    "removed: a deploy without a health check keeps the live one",
                )
            )
        if live.ports is not None and svc.role is not ServiceRole.INIT:
            wanted = {(p.container, str(p.protocol)) for p in svc.ports}
            if wanted != set(live.ports):
                problems.append(
                    Problem(
                        f"{svc.name}.ports",
                        f"{_ports_text(live.ports)} (live) -> {_ports_text(wanted)}: "
                        "a deploy cannot change ports",
                    )
                )
    problems += [
        Problem(name, f"not in {file}: a deploy cannot remove a service")
        for name in facts
        if name not in listed
    ]
    return problems


def unverified(services: Sequence[ServiceSpec]) -> dict[str, list[str]]:
    """Per service, the fields the file sets that a deploy does not apply and that cannot
    be compared with the live instance (see :data:`NOT_RECORDED`)."""
    out: dict[str, list[str]] = {}
    for svc in services:
        fields = [f for f in NOT_RECORDED if getattr(svc, f) != getattr(_DEFAULTS, f)]
        if fields:
            out[svc.name] = fields
    return out


def unverified_note(fields: Mapping[str, Sequence[str]], instance: str, file: Path | str) -> str:
    """One line for people about :func:`unverified` fields ('' when there are none)."""
    if not fields:
        return ""
    listed = "; ".join(f"{name}: {', '.join(f)}" for name, f in fields.items())
    return (
        f"note: not compared with the live instance and not applied by a deploy "
        f"(providers record only image, env and health_check per release): {listed}. "
        f"If these changed, use ctrlplane scale {instance} (cpu, memory, replicas) or "
        f"ctrlplane down {instance} && ctrlplane up -f {file}"
    )


class NotDeployable(InvalidSpec):
    """``deploy -f``, ``up -f`` (without ``--recreate``) or ``plan`` found differences a
    deploy cannot apply (exit 2)."""

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        file: Path | str,
        instance: str,
        release: str,
        verb: str = "deploy",
    ) -> None:
        super().__init__(problems, subject=f"{verb} of {file}")
        against = f"the live release {release}" if release else "the live instance"
        lines = "\n".join(f"  - {p}" for p in problems)
        self.message = (
            f"{verb} -f {file} cannot apply {len(problems)} difference(s) against {against}:"
            f"\n{lines}\n{RECREATE_HINT.format(instance=instance, file=file)}"
        )
        self.args = (self.message,)
