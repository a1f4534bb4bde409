"""Errors of the Fly backend beyond the core tree: each is a
:class:`~ctrlplane.errors.BackendError`, so callers catching ours catch these too.

:mod:`~ctrlplane.provider.fly.client` raises them when it translates the API's answers;
they are here (not in the client) so the operation modules can name them without
importing ``httpx``.
"""

from __future__ import annotations

from ctrlplane.errors import BackendError

__all__ = ["FlyNotFound", "InsufficientCapacity", "MachineConflict", "ServerError"]


class FlyNotFound(BackendError):
    """The API answered 404 where the object was expected to exist (an app, a Machine)."""


class MachineConflict(BackendError):
    """409/412: the Machine changed under us (its ``current_version`` moved on), or another
    holder's Machine lease guards it. Nothing was changed by this call."""


class InsufficientCapacity(BackendError):
    """The region has no capacity for the Machine (``insufficient_capacity``): retry later,
    pick another region (``FlyConfig.regions``) or a smaller size. ``region`` names it."""

    def __init__(self, message: str, *, region: str, status: int | None = None) -> None:
        super().__init__(message, backend="fly", status=status)
        self.region = region


class ServerError(BackendError):
    """A 5xx from Fly's API servers (the call may be retried); ``region`` is the region the
    call was about, where known."""

    def __init__(self, message: str, *, region: str = "", status: int | None = None) -> None:
        super().__init__(message, backend="fly", status=status)
        self.region = region
