"""Work that must run to its end even when the caller is cancelled: cleanup after a failed
provision, restoring the previous release, removing an auxiliary controller.

``asyncio.shield`` alone is not enough: a second cancellation of the caller makes the
``await`` return at once while the shielded work goes on unobserved (its errors are lost
and the caller's caller sees the operation "finished" while it still runs). The helpers
here keep waiting for the work after every cancellation and only then let the
cancellation through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["finish", "run_to_end"]

_T = TypeVar("_T")


async def run_to_end(work: Awaitable[_T]) -> tuple[_T, bool]:
    """Run ``work`` to its end whatever happens to the caller.

    Returns ``(result, interrupted)``: ``interrupted`` is true when the caller was
    cancelled (once or several times) while ``work`` ran; the caller decides what to do
    with that (usually re-raise ``CancelledError`` once it has reported the result).
    An exception of ``work`` itself propagates (with a note if the caller was cancelled).
    """
    task = asyncio.ensure_future(work)
    interrupted = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():  # the work itself was cancelled, not only the caller
                raise
            interrupted = True  # the caller was cancelled: keep waiting for the work
            continue
        except BaseException as exc:
            if interrupted:
                exc.add_note("the caller was cancelled while this cleanup ran")
            raise
        return result, interrupted


async def finish(work: Awaitable[_T]) -> _T:
    """:func:`run_to_end`, then re-raise a cancellation of the caller that arrived
    meanwhile; else return the result."""
    result, interrupted = await run_to_end(work)
    if interrupted:
        raise asyncio.CancelledError
    return result
