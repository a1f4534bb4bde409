"""Which Nomad version the fake agent impersonates, and what that version can do.

The fake answers as the version it impersonates (``FakeNomadAgent(version=...)``):

- Variables (``/v1/vars``, ``/v1/var/:path`` with check-and-set) and the allocation
  checks endpoint exist from 1.4; before, both answer 404 (as a real 1.1.2 agent did);
- the job list honours ``meta=true`` and ``filter=`` from 1.4; before, both are ignored
  (a 1.1.2 agent answered every job, without ``Meta``, even for a malformed filter);
- the allocation list (``/v1/allocations``) honours ``filter=`` from 1.3; before, it is
  ignored (the list had no filtering before 1.3.0);
- native (``provider = "nomad"``) services exist from 1.3 and their checks from 1.4;
  before 1.3 the ``Provider`` field is unknown, so the service is a Consul one;
- the ``*`` datacenter matches every datacenter from 1.5; before, it is a literal name.

Everything else the agent does is the same in every version it impersonates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AgentVersion"]


def _parse(text: str) -> tuple[int, int, int]:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if match is None:
        raise ValueError(f"not a Nomad version: {text!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@dataclass(frozen=True)
class AgentVersion:
    """The impersonated version (``"1.1.2"``, ``"1.7.7"``) and its feature switches."""

    text: str

    @property
    def number(self) -> tuple[int, int, int]:
        return _parse(self.text)

    def at_least(self, major: int, minor: int) -> bool:
        return self.number >= (major, minor, 0)

    @property
    def variables(self) -> bool:
        """``/v1/vars`` and ``/v1/var/:path`` (1.4+)."""
        return self.at_least(1, 4)

    @property
    def checks_api(self) -> bool:
        """``/v1/client/allocation/:id/checks`` (1.4+)."""
        return self.at_least(1, 4)

    @property
    def list_meta_and_filter(self) -> bool:
        """``meta=true`` and ``filter=`` on ``/v1/jobs`` (1.4+)."""
        return self.at_least(1, 4)

    @property
    def alloc_list_filter(self) -> bool:
        """``filter=`` on ``/v1/allocations`` (1.3+)."""
        return self.at_least(1, 3)

    @property
    def native_services(self) -> bool:
        """Services with ``Provider = "nomad"`` (1.3+)."""
        return self.at_least(1, 3)

    @property
    def native_checks(self) -> bool:
        """Checks of native services (1.4+)."""
        return self.at_least(1, 4)

    @property
    def datacenter_glob(self) -> bool:
        """``*`` in a job's datacenters matches every datacenter (1.5+)."""
        return self.at_least(1, 5)
