"""Fly's internal DNS (``.internal`` names on the organization's private network), as a
pure function, so tests can check what a Machine's name lookups would return.

The names Fly documents for an app ``<app>``: ``<app>.internal`` (every started Machine),
``<machine id>.vm.<app>.internal`` (one Machine), ``<group>.process.<app>.internal`` (the
started Machines whose ``metadata.fly_process_group`` is ``<group>``) and
``<region>.<app>.internal`` (the started Machines of a region). A name without a dot is
tried with each of the Machine's ``dns.searches`` domains, as a resolver does.
"""

from __future__ import annotations

from collections.abc import Sequence

from .machine import FakeMachine

__all__ = ["resolve"]


def _lookup(machines: Sequence[FakeMachine], app: str, name: str) -> list[str]:
    suffix = f".{app}.internal"
    if name == f"{app}.internal":
        chosen = [m for m in machines if m.state == "started"]
    elif name.endswith(".vm" + suffix):
        wanted = name.removesuffix(".vm" + suffix)
        chosen = [m for m in machines if m.id == wanted and not m.gone]
    elif name.endswith(".process" + suffix):
        group = name.removesuffix(".process" + suffix)
        chosen = [
            m
            for m in machines
            if m.state == "started" and m.metadata.get("fly_process_group") == group
        ]
    elif name.endswith(suffix) and "." not in name.removesuffix(suffix):
        region = name.removesuffix(suffix)
        chosen = [m for m in machines if m.state == "started" and m.region == region]
    else:
        return []
    return sorted(m.private_ip for m in chosen)


def resolve(machines: Sequence[FakeMachine], app: str, name: str, asker: FakeMachine) -> list[str]:
    """The 6PN addresses ``name`` resolves to for a lookup from Machine ``asker`` of
    ``app`` (empty: NXDOMAIN)."""
    if "." in name.rstrip("."):
        return _lookup(machines, app, name.rstrip("."))
    for domain in (asker.config.get("dns") or {}).get("searches") or []:
        found = _lookup(machines, app, f"{name}.{domain}")
        if found:
            return found
    return []
