"""Machine objects the API returned -> what the backend reasons with (pure).

:class:`MachineView` reads one ``Machine``: who it is (from its metadata: instance,
service, replica, role, release, blue-green generation), its state, version
(``instance_id``), checks and events. Events come newest first; an ``exit`` event's
``request.exit_event`` holds ``exit_code``, ``requested_stop`` and ``restarting``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.fly.render import meta

__all__ = ["Exit", "MachineView", "parse_time"]

JSON = Mapping[str, Any]


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time the API wrote (``None`` if absent or unreadable)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Exit:
    """One exit of a Machine's process."""

    code: int
    at_ms: int
    requested: bool
    restarting: bool
    oom: bool = False


@dataclass(frozen=True)
class MachineView:
    """One Machine, as read (see the module docs)."""

    id: str
    name: str
    state: str
    region: str
    version: str
    private_ip: str
    config: JSON = field(repr=False)
    checks: Sequence[JSON] = field(default=(), repr=False)
    events: Sequence[JSON] = field(default=(), repr=False)
    created_at: datetime | None = None

    @classmethod
    def of(cls, machine: JSON) -> MachineView:
        return cls(
            id=str(machine.get("id", "")),
            name=str(machine.get("name", "")),
            state=str(machine.get("state", "")),
            region=str(machine.get("region", "")),
            version=str(machine.get("instance_id", "")),
            private_ip=str(machine.get("private_ip", "")),
            config=machine.get("config") or {},
            checks=list(machine.get("checks") or []),
            events=list(machine.get("events") or []),
            created_at=parse_time(machine.get("created_at")),
        )

    @property
    def metadata(self) -> Mapping[str, str]:
        return self.config.get("metadata") or {}

    @property
    def instance(self) -> str:
        return str(self.metadata.get(meta.INSTANCE, ""))

    @property
    def role(self) -> str:
        return str(self.metadata.get(meta.ROLE, ""))

    @property
    def service(self) -> str:
        return str(self.metadata.get(meta.SERVICE, ""))

    @property
    def replica(self) -> int:
        text = str(self.metadata.get(meta.REPLICA, "0"))
        return int(text) if text.isdigit() else 0

    @property
    def release(self) -> str:
        return str(self.metadata.get(meta.RELEASE, ""))

    @property
    def generation(self) -> int:
        text = str(self.metadata.get(meta.GENERATION, "0"))
        return int(text) if text.isdigit() else 0

    @property
    def image(self) -> str:
        return str(self.config.get("image", ""))

    @property
    def gone(self) -> bool:
        return self.state in ("destroying", "destroyed")

    @property
    def control(self) -> bool:
        return self.role == meta.CONTROL

    @property
    def volume_id(self) -> str:
        """The volume the Machine mounts (``""``: none)."""
        mounts = self.config.get("mounts") or []
        return str(mounts[0].get("volume", "")) if mounts else ""

    @property
    def memory_mb(self) -> int:
        return int((self.config.get("guest") or {}).get("memory_mb", 0))

    def exits(self, since_ms: int = 0) -> list[Exit]:
        """The process exits recorded after ``since_ms`` (Unix ms), oldest first."""
        out: list[Exit] = []
        for event in self.events:
            if event.get("type") != "exit":
                continue
            at = int(event.get("timestamp") or 0)
            if at <= since_ms:
                continue
            detail = (event.get("request") or {}).get("exit_event") or {}
            out.append(
                Exit(
                    code=int(detail.get("exit_code", 0) or 0),
                    at_ms=at,
                    requested=bool(detail.get("requested_stop")),
                    restarting=bool(detail.get("restarting")),
                    oom=bool(detail.get("oom_killed")),
                )
            )
        return sorted(out, key=lambda e: e.at_ms)

    def crashes(self, since_ms: int = 0) -> list[Exit]:
        """Exits the Machine did not ask for (its process ended by itself)."""
        return [e for e in self.exits(since_ms) if not e.requested]

    def last_start_ms(self) -> int:
        """When the Machine last reached ``started`` (Unix ms; 0: never)."""
        for event in self.events:
            if event.get("type") == "start" and event.get("status") == "started":
                return int(event.get("timestamp") or 0)
        return 0

    def launch_error(self) -> str:
        """Why the Machine failed to launch (``""``: it did not)."""
        for event in self.events:
            if event.get("status") == "failed":
                return str((event.get("request") or {}).get("error") or "launch failed")
        return ""

    def check_statuses(self) -> list[tuple[str, str, str, str]]:
        """Each check as (name, status, output, updated_at)."""
        return [
            (
                str(c.get("name", "")),
                str(c.get("status", "")),
                str(c.get("output", "")),
                str(c.get("updated_at", "")),
            )
            for c in self.checks
        ]

    def checks_passing(self) -> bool:
        """Whether every check of the Machine passes (true without checks)."""
        return all(status == "passing" for _, status, _, _ in self.check_statuses())

    def started_at(self) -> datetime | None:
        """When the Machine last started, as a time."""
        ms = self.last_start_ms()
        return datetime.fromtimestamp(ms / 1000, UTC) if ms else None
