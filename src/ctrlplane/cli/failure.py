"""How an error is shown: ``error: <what failed and what to do>``, then its details.

A failed deploy or rollback (:class:`~ctrlplane.errors.DeployFailed`) says its reason
once (the progress lines before it say only ``FAILED``), then the failing probe's
evidence (the last unhealthy probe result: kind, target, attempt, what it observed), then
any notes the command added (the last log lines of the failing new unit, already
redacted by :class:`~ctrlplane.cli.progress.ProgressView`).
"""

from __future__ import annotations

from ctrlplane.errors import CtrlplaneError, DeployFailed

__all__ = ["error_lines"]


def _evidence_line(item: object) -> str:
    from ctrlplane.provider.health import ProbeResult

    if isinstance(item, ProbeResult):
        return (
            f"  failing probe: {item.kind} {item.target} of {item.service}[{item.replica}], "
            f"attempt {item.attempt}: {item.observed}"
        )
    return f"  evidence: {item}"


def error_lines(exc: CtrlplaneError) -> str:
    """The text printed for ``exc`` on standard error (see the module docs)."""
    lines = [f"error: {exc}"]
    if isinstance(exc, DeployFailed) and exc.evidence:
        failing = [e for e in exc.evidence if not getattr(e, "healthy", False)]
        lines.append(_evidence_line((failing or exc.evidence)[-1]))
    lines += list(getattr(exc, "__notes__", []))
    return "\n".join(lines)
