"""``asyncio.TaskGroup`` that leaves its owner's cancellation count as it found it.

Before Python 3.13 (CPython gh-116720), a group whose task fails while the group's owner
already waits in the ``async with`` exit cancels the owner to wake it and never takes that
cancellation back: the owner's ``Task.cancelling()`` stays one too high. Code that tells
its own cancellations from the caller's by that count then mistakes the group's for the
caller's: the lease keeper (:meth:`InstanceLocks.hold`) let a provision whose lease was
lost end in a bare ``CancelledError`` instead of a typed error, and ``asyncio.timeout``
would not turn its own expiry into ``TimeoutError``. Every group in the library comes
from here.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType

__all__ = ["TaskGroup"]


class TaskGroup(asyncio.TaskGroup):  # noqa: TID251
    """:class:`asyncio.TaskGroup`; on Python < 3.13 the exit takes back a cancellation of
    the owner the group requested while exiting (3.13 does this itself)."""

    if sys.version_info < (3, 13):

        async def __aexit__(
            self,
            et: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            # The stdlib takes its request back only if it was made before the exit began.
            asked_before: bool = getattr(self, "_parent_cancel_requested", False)
            try:
                await super().__aexit__(et, exc, tb)
            finally:
                if not asked_before and getattr(self, "_parent_cancel_requested", False):
                    owner: asyncio.Task[object] = getattr(self, "_parent_task")  # noqa: B009
                    owner.uncancel()
