"""Apps and control Machines -> ``InstanceSummary`` (pure)."""

from __future__ import annotations

from ctrlplane.provider.enums import InstanceState
from ctrlplane.provider.fly.observe.control import live_release
from ctrlplane.provider.fly.observe.machines import MachineView
from ctrlplane.provider.fly.render import meta
from ctrlplane.provider.results import InstanceSummary

__all__ = ["summary"]


def summary(control: MachineView, state: InstanceState) -> InstanceSummary:
    """The summary of the instance ``control`` records, in ``state``."""
    md = control.metadata
    release = live_release(md)
    return InstanceSummary(
        instance_id=control.instance,
        tenant_id=str(md.get(meta.TENANT, "")),
        name=str(md.get(meta.NAME, "")),
        state=state if release is not None else InstanceState.PROVISIONING,
        release_id=release.release_id if release is not None else "",
        created_at=control.created_at,
    )
