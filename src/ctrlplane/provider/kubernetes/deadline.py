"""One time budget for a whole operation, shared by its waits.

A deploy waits several times (the canary or green set, then the promotion); giving each
wait the full ``progress_deadline`` would let a deploy run for a multiple of it. A
:class:`Deadline` is fixed once per operation and every wait gets what is left of it.
"""

from __future__ import annotations

import time

__all__ = ["Deadline"]


class Deadline:
    """``seconds`` from now (monotonic clock), for the operation named ``what``.

    ``extend`` adds time for a configured pause that must not eat the budget (a canary
    observation, a blue-green retire delay). ``seconds`` stays the configured budget, for
    error messages.
    """

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        """Whether no time is left."""
        return time.monotonic() >= self._end

    def extend(self, seconds: float) -> None:
        """Move the end ``seconds`` later."""
        self._end += seconds
