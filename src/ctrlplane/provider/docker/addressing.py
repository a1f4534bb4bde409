"""A unit's service names on the instance network, switched without dropping requests.

A unit answers to its service names through network aliases on its namespace owner.
Docker sets aliases only when a container joins a network, so switching them means
leaving and rejoining. On an instance network whose subnet was pinned at creation
(``Session.create_network``) a container can rejoin under the same address: that is how
a unit gives up its names while still serving requests already on their way to it
(:meth:`Addressing.withdraw`), and how a new unit takes the names without changing the
address its gate probed (:meth:`Addressing.advertise`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlplane.errors import CtrlplaneError
from ctrlplane.provider.docker.session import Session
from ctrlplane.provider.docker.translate import Workload

__all__ = ["Addressing"]


@dataclass(frozen=True, slots=True)
class Addressing(Session):
    """A :class:`Session` that can move a unit's service names."""

    async def _fixed_addressing(self, wl: Workload) -> bool:
        network = await self.engine.inspect_network(self.tr.names.network(wl.instance_id))
        labels = (network or {}).get("Labels") or {}
        return labels.get(self.tr.labels.addressing) == "fixed"

    async def _address(self, wl: Workload, ref: str) -> tuple[str, list[str]]:
        """``ref``'s address and aliases on the instance network (``""`` if not on it)."""
        info = await self.engine.inspect_container(ref) or {}
        networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
        endpoint = networks.get(self.tr.names.network(wl.instance_id)) or {}
        return str(endpoint.get("IPAddress") or ""), list(endpoint.get("Aliases") or [])

    async def _rejoin(self, wl: Workload, ref: str, aliases: list[str], address: str) -> None:
        network = self.tr.names.network(wl.instance_id)
        await self.engine.disconnect_network(network, ref)
        await self.engine.connect_network(network, ref, aliases, ipv4=address)

    async def withdraw(self, wl: Workload, ref: str) -> bool:
        """Take the service names of the unit whose namespace owner is ``ref`` away from
        it while it keeps its address (it leaves and rejoins the network at once, under
        the same address, without aliases), so lookups made just before still reach it.
        False, with nothing changed, when the network's addresses are not pinned or
        ``ref`` is not on it."""
        if not await self._fixed_addressing(wl):
            return False
        address, _ = await self._address(wl, ref)
        if not address:
            return False
        try:
            await self._rejoin(wl, ref, [], address)
        except CtrlplaneError:
            return False  # the address was taken meanwhile: the unit is off the network
        return True

    async def advertise(self, wl: Workload, replica: int, ref: str) -> None:
        """Give the unit whose namespace owner is ``ref`` its service names (keeping its
        address where the network allows it). No-op when it has them already."""
        address, aliases = await self._address(wl, ref)
        wanted = self.tr.owner_aliases(wl, replica)
        if address and set(wanted) <= set(aliases):
            return
        keep = address if await self._fixed_addressing(wl) else ""
        try:
            await self._rejoin(wl, ref, wanted, keep)
        except CtrlplaneError:
            if not keep:
                raise
            await self._rejoin(wl, ref, wanted, "")
