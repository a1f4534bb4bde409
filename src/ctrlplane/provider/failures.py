"""How a failed step is said, once for every backend.

:class:`RolloutFailed` is the one internal exception a backend raises when a rollout (or a
provision step) cannot succeed: ``step`` names where, ``reason`` why, ``evidence`` holds
the probe results that showed it. It never escapes a provider: the operation turns it into
:class:`~ctrlplane.errors.DeployFailed` or :class:`~ctrlplane.errors.ProvisionFailed`.

:func:`describe_failure` is the one-line account of any exception that ended a step
(progress events, error messages).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ctrlplane.errors import BackendUnavailable

if TYPE_CHECKING:
    from ctrlplane.provider.deadlines import Deadline

__all__ = ["RolloutFailed", "describe_failure", "engine_lost"]


class RolloutFailed(Exception):
    """A step cannot succeed: ``step`` says where, ``reason`` why; ``evidence`` holds the
    probe results behind it (oldest first). Internal: providers translate it."""

    def __init__(self, step: str, reason: str, evidence: Sequence[Any] = ()) -> None:
        super().__init__(f"{step}: {reason}" if step else reason)
        self.step = step
        self.reason = reason
        self.evidence = list(evidence)


def describe_failure(exc: BaseException, deadline: Deadline | None = None) -> str:
    """One line on why a step ended with ``exc``: ``cancelled``, a passed ``deadline``
    (``deploy did not finish within 30s``) or ``timed out``, ``<step>: <reason>`` for
    errors that carry a step, or the error's message."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError) and not str(exc) and deadline is not None:
        return str(deadline.exceeded())
    step, reason = getattr(exc, "step", None), getattr(exc, "reason", None)
    if isinstance(step, str) and isinstance(reason, str):
        return f"{step}: {reason}" if step else reason
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return str(exc) or type(exc).__name__


def engine_lost(exc: BaseException) -> BackendUnavailable | None:
    """The :class:`~ctrlplane.errors.BackendUnavailable` behind ``exc`` (itself, its causes
    and contexts, the members of exception groups), if the engine was lost: an operation
    that failed because of it reports that (CLI exit 5), not a failed step."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, BackendUnavailable):
            return err
        if isinstance(err, BaseExceptionGroup):
            stack.extend(err.exceptions)
        stack.extend(e for e in (err.__cause__, err.__context__) if e is not None)
    return None
