"""Where the fake lives: its region and account, and the ARNs of what it holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Account", "Clock"]


@dataclass(frozen=True)
class Account:
    """The fake's region and 12-digit account ID."""

    region: str = "us-east-1"
    account_id: str = "123456789012"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        """``arn:aws:<service>:<region>:<account>:<resource>``."""
        where = self.region if region else ""
        return f"arn:aws:{service}:{where}:{self.account_id}:{resource}"


class Clock:
    """Wall time, strictly increasing (so the order of events is total), and the fake's
    time scale: ``scaled(s)`` is how long ``s`` simulated seconds take."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = time_scale
        self._last = datetime.now(UTC)

    def now(self) -> datetime:
        now = datetime.now(UTC)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now

    def scaled(self, seconds: float) -> float:
        return seconds * self.time_scale
