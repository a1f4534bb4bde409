"""Time budgets and work that must finish: the waiting rules every backend shares.

- :class:`Deadline`: one budget per operation (monotonic clock), shared by all its waits,
  so an operation that waits several times (a canary, then the promotion) never runs
  for a multiple of its budget.
- :func:`bounded`: await something within a limit; past it, :class:`OperationTimeout`
  naming what did not finish.
- :func:`run_to_end` / :func:`finish`: work that must run to its end even when the caller
  is cancelled (cleanup after a failed provision, restoring a release). ``asyncio.shield``
  alone is not enough: a second cancellation makes the ``await`` return while the work
  goes on unobserved; these keep waiting after every cancellation, then let it through.
- :func:`cleanup`: :func:`finish` within a limit, never raising: it returns what was left
  undone (``""`` when everything was), for the error message of the failure it follows.
  :func:`cleanup_to_end` returns the cancellation instead, and :func:`raise_failure`
  raises the failure the cleanup followed, or that cancellation with the failure as its
  cause, so a frame that cancelled the operation itself (a lost lease, see
  :meth:`~ctrlplane.provider.leases.InstanceLocks.hold`) can still raise the failure.
- :func:`seconds` and :func:`first_error`: the small conversions every backend needs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import timedelta
from typing import NoReturn, TypeVar

from ctrlplane.errors import OperationTimeout

__all__ = [
    "Deadline",
    "bounded",
    "cleanup",
    "cleanup_to_end",
    "finish",
    "first_error",
    "raise_failure",
    "run_to_end",
    "seconds",
]

_T = TypeVar("_T")


def seconds(value: timedelta | float) -> float:
    """``value`` in seconds (a plain number is taken as seconds already)."""
    if isinstance(value, timedelta):
        return value / timedelta(seconds=1)
    return float(value)


class Deadline:
    """``limit`` (seconds or a ``timedelta``) from now, for the operation named ``what``.

    Every wait of the operation gets :meth:`remaining`; :meth:`timeout` is an
    ``asyncio.timeout`` at the deadline. :meth:`extend` adds time for a configured pause
    that must not eat the budget (a canary observation, a retire delay); ``seconds``
    stays the configured budget, for error messages.
    """

    def __init__(self, limit: timedelta | float, what: str) -> None:
        self.seconds = seconds(limit)
        self.what = what
        self._start = time.monotonic()
        self._end = self._start + self.seconds

    @property
    def at(self) -> float:
        """The deadline as a :func:`time.monotonic` instant."""
        return self._end

    def elapsed(self) -> float:
        """Seconds since the deadline was set (a latency, measured on the same clock)."""
        return time.monotonic() - self._start

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        """Whether no time is left."""
        return time.monotonic() >= self._end

    def extend(self, limit: timedelta | float) -> None:
        """Move the end ``limit`` later."""
        self._end += seconds(limit)

    def timeout(self) -> asyncio.Timeout:
        """An ``asyncio.timeout`` that fires at this deadline (``TimeoutError`` inside)."""
        loop_now = asyncio.get_running_loop().time()
        return asyncio.timeout_at(loop_now + self.remaining())

    def exceeded(self, detail: str = "") -> OperationTimeout:
        """The error for an operation that ran past this deadline."""
        return OperationTimeout(self.what, self.seconds, detail=detail)


async def bounded(work: Awaitable[_T], limit: timedelta | float | Deadline, what: str = "") -> _T:
    """Await ``work`` within ``limit``; past it :class:`OperationTimeout` names ``what``
    (or the deadline's own operation)."""
    deadline = limit if isinstance(limit, Deadline) else Deadline(limit, what)
    try:
        async with deadline.timeout():
            return await work
    except TimeoutError:
        raise OperationTimeout(what or deadline.what, deadline.seconds) from None


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


async def cleanup(work: Awaitable[object], limit: timedelta | float, what: str) -> str:
    """Run cleanup ``work`` to its end (even if the caller is cancelled) within ``limit``.

    Never raises for the work's own failure: returns ``""`` when it finished, else one
    line saying what was left undone (``"<what> did not finish within 30s"``, or the
    error). A cancellation of the caller that arrived meanwhile is re-raised afterwards.
    Use it after a failure, so the error raised for that failure can name the leftovers.
    """
    left, interrupted = await cleanup_to_end(work, limit, what)
    if interrupted:
        raise asyncio.CancelledError
    return left


async def cleanup_to_end(
    work: Awaitable[object], limit: timedelta | float, what: str
) -> tuple[str, bool]:
    """:func:`cleanup` that returns instead of re-raising a cancellation of the caller:
    ``(what was left undone, whether the caller was cancelled meanwhile)``, so the
    caller can note the leftovers on the cancellation before letting it through."""

    async def within() -> str:
        try:
            async with asyncio.timeout(seconds(limit)):
                await work
        except TimeoutError:
            return f"{what} did not finish within {seconds(limit):g}s"
        except Exception as exc:
            return f"{what} failed: {exc}"
        return ""

    return await run_to_end(within())


def raise_failure(failure: BaseException, interrupted: bool) -> NoReturn:
    """Raise ``failure``, the error an operation raises after cleaning up; when the caller
    was cancelled while the cleanup ran (``interrupted``, from :func:`cleanup_to_end`),
    raise that cancellation instead, caused by ``failure``."""
    if interrupted and not isinstance(failure, asyncio.CancelledError):
        raise asyncio.CancelledError from failure
    raise failure from failure.__cause__


def first_error(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups; cancellations come last."""
    if isinstance(exc, BaseExceptionGroup):
        inner = [first_error(e) for e in exc.exceptions]
        for e in inner:
            if not isinstance(e, asyncio.CancelledError):
                return e
        return inner[0] if inner else exc
    return exc
