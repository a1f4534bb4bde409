"""Front inspects -> what status says about the instance's published ports (pure, no I/O).

Each published port's front (:mod:`..render.fronts`) must exist and run for the port to
be served: ``status`` lists every front in its ``metadata`` (``fronts``:
``<service>:<port>/<protocol>=<url> <state>``, comma-separated), and one that is missing
or not running, or that cannot resolve its service's name (it then closes every
connection), makes the instance not ready, with a message saying what to run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.provider.docker.observe.workload import front_url, fronts_by_key
from ctrlplane.provider.docker.render.fronts import front_ports
from ctrlplane.provider.docker.render.naming import Labels
from ctrlplane.provider.docker.render.workload import Workload
from ctrlplane.provider.results import InstanceStatus

__all__ = ["FRONTS_KEY", "with_fronts"]

FRONTS_KEY = "fronts"
"""The status metadata entry listing the fronts."""


def with_fronts(
    config: DockerConfig,
    wl: Workload,
    fronts: Sequence[Mapping[str, Any]],
    status: InstanceStatus,
    unresolved: Collection[str] = (),
) -> InstanceStatus:
    """``status`` with the fronts of ``wl`` reported (see the module docs); ``unresolved``:
    the keys of the running fronts that cannot resolve their service's name."""
    by_key = fronts_by_key(Labels(config.label_prefix), fronts)
    listed: list[str] = []
    problems: list[str] = []
    for front in front_ports(wl):
        info = by_key.get(front.key)
        if info is None:
            listed.append(f"{front.key} missing")
            problems.append(f"front {front.key} is missing (start creates it again)")
            continue
        state = str((info.get("State") or {}).get("Status") or "unknown")
        url = front_url(config, front.protocol, info)
        listed.append(f"{front.key}={url} {state}")
        if state != "running":
            problems.append(
                f"front {front.key} is {state}: {url or 'its port'} is not served "
                "(start restarts it)"
            )
        elif front.key in unresolved:
            problems.append(
                f"front {front.key} cannot resolve the name {front.service!r} on the instance "
                f"network: {url or 'its port'} closes every connection (the engine lost the "
                "network's DNS names, as `docker swarm leave` does; restart brings them back)"
            )
    if not listed:
        return status
    update: dict[str, object] = {"metadata": {**status.metadata, FRONTS_KEY: ", ".join(listed)}}
    if problems:
        update["ready"] = False
        update["message"] = "; ".join(m for m in (status.message, *problems) if m)
    return status.model_copy(update=update)
