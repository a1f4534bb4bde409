"""Undo actions for everything a run creates, run on every way out.

A benchmark registers how to remove each object (an instance, a container, a Swarm, an
image tag) as soon as it exists, and releases it (runs the undo) when it is done with it.
What is still registered when the run ends, fails or is interrupted is undone by
:meth:`Janitor.sweep`, which :func:`run_to_end` shields from further interruptions.
An undo that fails is kept and retried once by the sweep, then reported.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Janitor", "run_to_end"]

Undo = Callable[[], Awaitable[object]]
T = TypeVar("T")


@dataclass
class _Entry:
    what: str
    undo: Undo
    within: float


class Janitor:
    """The registry of undo actions of one run (see the module docstring)."""

    def __init__(self, within: float = 180.0) -> None:
        self.within = within
        """Seconds an undo may take unless registered with its own bound."""
        self._entries: dict[int, _Entry] = {}
        self._next = 0
        self.failures: list[str] = []
        """Undo actions that failed twice: what was left behind, and why."""
        self.swept: list[str] = []
        """What the final sweep removed (it should be nothing: benchmarks clean up)."""

    def register(self, what: str, undo: Undo, *, within: float | None = None) -> int:
        """Remember how to remove ``what`` (the undo may take ``within`` seconds, by
        default :attr:`within`); returns a token for :meth:`release`."""
        self._next += 1
        self._entries[self._next] = _Entry(what, undo, within or self.within)
        return self._next

    async def release(self, token: int) -> str:
        """Run the undo of ``token`` now; ``""`` when it succeeded (it is then
        forgotten), else why it failed (it is kept: the final sweep tries again)."""
        entry = self._entries.get(token)
        if entry is None:
            return ""
        try:
            await asyncio.wait_for(entry.undo(), entry.within)
        except Exception as exc:
            return f"removing {entry.what} failed: {type(exc).__name__}: {exc}"
        self._entries.pop(token, None)
        return ""

    @contextlib.asynccontextmanager
    async def holding(
        self, what: str, undo: Undo, *, within: float | None = None
    ) -> AsyncIterator[None]:
        """Register ``undo`` for the block and run it when the block ends, however."""
        token = self.register(what, undo, within=within)
        try:
            yield
        finally:
            await self.release(token)

    async def sweep(self) -> None:
        """Run every registered undo, newest first; failures go to :attr:`failures`."""
        for token in sorted(self._entries, reverse=True):
            entry = self._entries.pop(token)
            try:
                await asyncio.wait_for(entry.undo(), entry.within)
                self.swept.append(entry.what)
            except Exception as exc:
                self.failures.append(f"{entry.what}: {type(exc).__name__}: {exc}")


async def run_to_end(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this task is cancelled meanwhile (a second
    Ctrl-C does not leave objects behind); then re-raise the cancellation, if any."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    result = task.result()
    if cancelled:
        raise asyncio.CancelledError
    return result
