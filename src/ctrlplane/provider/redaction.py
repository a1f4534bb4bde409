"""The one redactor: an instance's secret values never leave a provider in a text.

Container output reaches callers in several places: probe evidence (an exec probe's
output), log excerpts quoted in errors (an init's or a crashed canary's last lines),
progress events, status messages. Every such text passes through a :class:`Redactor`
built from the instance's resolved secret values before it leaves the provider, in one
place for every backend: :class:`~ctrlplane.provider.operations.Operation` scrubs the
errors, events and results of an operation with it, and while it is active
(:meth:`Redactor.active`) the library's loggers (:func:`ctrlplane.provider.liblog.library_logger`)
scrub their records with it.

What is replaced (by :data:`MASK`): each value as text, its stripped form, each of its
lines, and its base64 forms (standard and URL-safe, with and without padding), and its
JSON-escaped form. Values (and forms) shorter than :data:`MIN_LENGTH` characters are not
replaced: they would shred every text and hide nothing (document such secrets as weak).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator

from ctrlplane.errors import CtrlplaneError, DeployFailed
from ctrlplane.provider.events import (
    ProbeObserved,
    ProgressEvent,
    RolledBack,
    StepFinished,
    StepStarted,
    Subscriber,
    emit,
)
from ctrlplane.provider.health import ProbeResult
from ctrlplane.provider.liblog import scrubbing
from ctrlplane.provider.results import InstanceStatus

__all__ = ["MASK", "MIN_LENGTH", "Redactor"]

MASK = "[redacted]"
MIN_LENGTH = 4


def _forms(value: bytes) -> set[str]:
    """Every text form of ``value`` that output could show."""
    text = value.decode(errors="replace")
    if len(text.strip()) < MIN_LENGTH:
        return set()
    forms = {text, text.strip()}
    forms.update(line.strip() for line in text.splitlines())
    for encoded in (base64.b64encode(value), base64.urlsafe_b64encode(value)):
        shown = encoded.decode()
        forms.update({shown, shown.rstrip("=")})
    forms.add(json.dumps(text)[1:-1])
    return {f for f in forms if len(f) >= MIN_LENGTH}


class Redactor:
    """Replaces known secret values in texts; add values as they are resolved."""

    def __init__(self, values: Iterable[bytes | str] = ()) -> None:
        self._needles: list[str] = []
        self.add(values)

    def add(self, values: Iterable[bytes | str]) -> None:
        """Learn more secret values (bytes or text)."""
        found = set(self._needles)
        for value in values:
            found |= _forms(value.encode() if isinstance(value, str) else bytes(value))
        self._needles = sorted(found, key=len, reverse=True)  # longest first

    def __bool__(self) -> bool:
        return bool(self._needles)

    def text(self, text: str) -> str:
        """``text`` with every known value replaced by :data:`MASK`."""
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def probe(self, result: ProbeResult) -> ProbeResult:
        """A probe result whose observation is redacted."""
        observed = self.text(result.observed)
        return (
            result
            if observed == result.observed
            else result.model_copy(update={"observed": observed})
        )

    def event(self, event: ProgressEvent) -> ProgressEvent:
        """A progress event whose free texts are redacted."""
        if isinstance(event, StepStarted | StepFinished):
            return event.model_copy(update={"detail": self.text(event.detail)})
        if isinstance(event, RolledBack):
            return event.model_copy(update={"reason": self.text(event.reason)})
        if isinstance(event, ProbeObserved):
            return event.model_copy(update={"result": self.probe(event.result)})
        return event

    def subscriber(
        self, events: Subscriber | None
    ) -> Callable[[ProgressEvent], Awaitable[None]] | None:
        """``events`` receiving redacted events (``None`` stays ``None``)."""
        if events is None:
            return None

        async def redacted(event: ProgressEvent) -> None:
            await emit(events, self.event(event))

        return redacted

    def status(self, status: InstanceStatus) -> InstanceStatus:
        """A status whose instance and service messages are redacted."""
        services = {
            name: svc.model_copy(update={"message": self.text(svc.message)})
            for name, svc in (status.services or {}).items()
        }
        return status.model_copy(
            update={"message": self.text(status.message), "services": services or status.services}
        )

    def error(self, exc: BaseException) -> BaseException:
        """Scrub ``exc`` in place (its message, our errors' text fields, a
        ``DeployFailed``'s evidence, notes) and the exceptions chained to it; returns it."""
        for err in _chain(exc):
            self._scrub(err)
        return exc

    def _scrub(self, err: BaseException) -> None:
        if isinstance(err, CtrlplaneError):
            for name in ("message", "reason", "detail"):
                value = getattr(err, name, None)
                if isinstance(value, str):
                    setattr(err, name, self.text(value))
            if isinstance(err, DeployFailed):
                err.evidence = [
                    self.probe(e) if isinstance(e, ProbeResult) else e for e in err.evidence
                ]
        err.args = tuple(self.text(a) if isinstance(a, str) else a for a in err.args)
        notes = getattr(err, "__notes__", None)
        if isinstance(notes, list):
            notes[:] = [self.text(n) if isinstance(n, str) else n for n in notes]

    @contextlib.contextmanager
    def active(self) -> Iterator[Redactor]:
        """Make this redactor scrub the library's log records in the current task."""
        with scrubbing(self.text):
            yield self


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions chained to it and the members of exception groups, each
    once (chains can form cycles through groups)."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        err = stack.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        yield err
        if isinstance(err, BaseExceptionGroup):
            stack.extend(err.exceptions)
        for linked in (err.__cause__, err.__context__):
            if linked is not None:
                stack.append(linked)
