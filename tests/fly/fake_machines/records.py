"""What the fake Machines API stores besides Machines: organizations, apps, volumes, leases.

Plain records with their API shapes (``as_json``); the Machine simulation is in
:mod:`.machine`, the HTTP surface in :mod:`.server`.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["FakeApp", "FakeLease", "FakeVolume", "iso", "new_token", "now_ms"]

JSON = dict[str, Any]
_ALNUM = string.ascii_lowercase + string.digits


def new_token(length: int, alphabet: str = _ALNUM) -> str:
    """A random identifier of ``length`` characters of ``alphabet``."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def iso(at: float | None = None) -> str:
    """An RFC 3339 UTC time, as the API writes ``created_at``/``updated_at``."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    """Unix milliseconds (event timestamps)."""
    return int(time.time() * 1000)


@dataclass
class FakeLease:
    """A Machine lease: exclusive right to change the Machine, for those with the nonce."""

    nonce: str
    owner: str
    description: str
    expires_at: float
    version: str

    def live(self) -> bool:
        return time.time() < self.expires_at

    def as_json(self) -> JSON:
        return {
            "nonce": self.nonce,
            "owner": self.owner,
            "description": self.description,
            "expires_at": int(self.expires_at),
            "version": self.version,
        }


@dataclass
class FakeVolume:
    """A Fly volume: local storage in one region, attached to at most one Machine."""

    id: str
    name: str
    region: str
    size_gb: int
    created_at: str = field(default_factory=iso)
    state: str = "created"
    attached_machine_id: str = ""
    encrypted: bool = True
    snapshot_retention: int = 5
    auto_backup_enabled: bool = True
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The volume's contents (mounted into the Machine's fake container)."""

    def as_json(self) -> JSON:
        out: JSON = {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "zone": f"{self.region}1",
            "size_gb": self.size_gb,
            "state": self.state,
            "created_at": self.created_at,
            "encrypted": self.encrypted,
            "fstype": "ext4",
            "snapshot_retention": self.snapshot_retention,
            "auto_backup_enabled": self.auto_backup_enabled,
            "block_size": 4096,
            "blocks": self.size_gb * 262144,
            "blocks_free": self.size_gb * 262144 - 1024,
            "blocks_avail": self.size_gb * 262144 - 1024,
        }
        if self.attached_machine_id:
            out["attached_machine_id"] = self.attached_machine_id
            out["attached_alloc_id"] = self.attached_machine_id
        return out


@dataclass
class FakeApp:
    """A Fly App of an organization: its Machines, volumes and secrets."""

    name: str
    org: str
    id: str = field(default_factory=lambda: new_token(12))
    network: str = ""
    status: str = "pending"
    deleting: bool = False
    machines: dict[str, Any] = field(default_factory=dict)
    """Machine ID -> :class:`~.machine.FakeMachine` (destroyed ones kept a while)."""
    volumes: dict[str, FakeVolume] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    """App secrets (name -> value), written through the GraphQL API."""
    index: int = 0
    """The app's number in the organization's private network (for 6PN addresses)."""

    def as_json(self, org_name: str) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "organization": {"name": org_name, "slug": self.org},
        }

    def listed(self) -> JSON:
        return {
            "id": self.id,
            "name": self.name,
            "machine_count": sum(1 for m in self.machines.values() if not m.gone),
            "network": self.network or "default",
        }
