"""Running the library's long operations with progress: deploy, rollback, scale, start,
stop and restart, shared by the commands that do them (``up`` converges with deploy and
scale; ``deploy``, ``rollback``, ``scale``, ``start``...).

``deploy``/``rollback`` report the library's progress events through a
:class:`~ctrlplane.cli.progress.ProgressView`, which also captures the log lines of a
failing new unit: a :class:`~ctrlplane.errors.DeployFailed` leaves with them as notes.
``scale``, ``start``, ``stop`` and ``restart`` take no events in the library: they show a
step line (a spinner with the elapsed time on a terminal, ``- scale: done (1.2s)`` when
piped). Every operation is bounded by ``timeout`` seconds
(:class:`~ctrlplane.errors.OperationTimeout`).

Importing this module is cheap (``ls``, ``down`` and ``exec`` import it for
:func:`bounded` and :func:`step`): the progress view, and with it the event models, is
imported by the operations that draw progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import click

from ctrlplane.errors import DeployFailed, OperationTimeout

if TYPE_CHECKING:
    from ctrlplane.cli.context import CliState
    from ctrlplane.cli.progress import ProgressView
    from ctrlplane.provider import (
        DeployRequest,
        DeployResult,
        HealthCheckSpec,
        Provider,
        ResourceSpec,
    )

__all__ = ["bounded", "deploy_with_progress", "probe_intervals", "rollback_with_progress", "step"]

T = TypeVar("T")


def probe_intervals(checks: dict[str, HealthCheckSpec | None]) -> dict[str, float]:
    """Per service, the probe interval in seconds (for the countdown)."""
    return {
        name: hc.interval.total_seconds()
        for name, hc in checks.items()
        if hc is not None and hc.interval.total_seconds() > 0
    }


async def bounded(what: str, limit: float | None, work: Awaitable[T]) -> T:
    """``work`` within ``limit`` seconds (``None``/0: unbounded), else OperationTimeout."""
    if not limit:
        return await work
    try:
        async with asyncio.timeout(limit):
            return await work
    except TimeoutError:
        raise OperationTimeout(what, limit) from None


def _view(
    state: CliState, provider: Provider, instance_id: str, intervals: dict[str, float]
) -> ProgressView | None:
    from ctrlplane.cli.progress import progress_subscriber

    view = progress_subscriber(state.json, intervals=intervals)
    if view is not None:
        view.watch_logs(provider, instance_id, state.secret_resolver().redactor)
    return view


async def deploy_with_progress(
    state: CliState,
    provider: Provider,
    req: DeployRequest,
    *,
    intervals: dict[str, float] | None = None,
    limit: float | None = None,
) -> DeployResult:
    """``provider.deploy(req)`` with progress; a failure carries the failing unit's logs."""
    return await _with_progress(
        state,
        provider,
        req.instance_id,
        f"deploy of {req.instance_id}",
        intervals,
        limit,
        lambda view: provider.deploy(req, events=view),
    )


async def rollback_with_progress(
    state: CliState,
    provider: Provider,
    instance_id: str,
    release_id: str,
    *,
    intervals: dict[str, float] | None = None,
    limit: float | None = None,
) -> None:
    """``provider.rollback(...)`` with progress, as :func:`deploy_with_progress`."""
    await _with_progress(
        state,
        provider,
        instance_id,
        f"rollback of {instance_id}",
        intervals,
        limit,
        lambda view: provider.rollback(instance_id, release_id, events=view),
    )


async def _with_progress(
    state: CliState,
    provider: Provider,
    instance_id: str,
    what: str,
    intervals: dict[str, float] | None,
    limit: float | None,
    work: Callable[[ProgressView | None], Awaitable[T]],
) -> T:
    """``work(view)`` within ``limit`` seconds, its events drawn by the progress view; a
    :class:`DeployFailed` leaves with the failing unit's logs as notes."""
    view = _view(state, provider, instance_id, intervals or {})
    try:
        return await bounded(what, limit, work(view))
    except DeployFailed as exc:
        if view is not None:
            view.annotate(exc, exc.evidence)
        raise
    finally:
        if view is not None:
            view.close()


@contextlib.asynccontextmanager
async def step(state: CliState, name: str, detail: str = "") -> AsyncIterator[None]:
    """Show one step of an operation that reports no events (see the module docs)."""
    if state.json:
        yield
        return
    began = time.monotonic()
    label = f"{name} {detail}".strip()
    status = None
    if sys.stderr.isatty():
        from ctrlplane.cli.output import stderr_console

        status = stderr_console().status(f"{label}...")
        status.start()
    else:
        click.echo(f"- {label}...", err=True)
    try:
        yield
    except BaseException:
        if status is not None:
            status.stop()
        click.echo(f"- {name}: FAILED ({time.monotonic() - began:.1f}s)", err=True)
        raise
    if status is not None:
        status.stop()
    click.echo(f"- {name}: done ({time.monotonic() - began:.1f}s)", err=True)


async def scale_with_progress(
    state: CliState,
    provider: Provider,
    instance_id: str,
    spec: ResourceSpec,
    *,
    detail: str = "",
    limit: float | None = None,
) -> None:
    """``provider.scale(...)`` shown as a step."""
    async with step(state, "scale", detail):
        await bounded(f"scale of {instance_id}", limit, provider.scale(instance_id, spec))


def scale_detail(changes: Sequence[tuple[str, int, int]]) -> str:
    """``replicas 1 -> 3, memory_mb 64 -> 128``."""
    return ", ".join(f"{k} {a} -> {b}" for k, a, b in changes)
