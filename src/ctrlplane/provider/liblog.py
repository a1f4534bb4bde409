"""The library's loggers: every record they emit is scrubbed of the secret values of the
operations running in the current task.

Use :func:`library_logger` for every logger of the library (``ctrlplane.*``). An
operation that knows secret values makes its scrubber active for its task with
:func:`scrubbing` (the :class:`~ctrlplane.provider.redaction.Redactor` does this); a
record logged meanwhile has its message and its formatted traceback scrubbed before any
handler sees it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import traceback
from collections.abc import Callable, Iterator

__all__ = ["library_logger", "scrubbing"]

Scrub = Callable[[str], str]

_ACTIVE: contextvars.ContextVar[tuple[Scrub, ...]] = contextvars.ContextVar(
    "ctrlplane_scrubbers", default=()
)


@contextlib.contextmanager
def scrubbing(scrub: Scrub) -> Iterator[None]:
    """Scrub the library's log records with ``scrub`` in the current task (and the tasks
    it starts) until the block ends."""
    token = _ACTIVE.set((*_ACTIVE.get(), scrub))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


class _ScrubbingFilter(logging.Filter):
    """Scrubs a record with the scrubbers active where it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrubbers = _ACTIVE.get()
        if not scrubbers:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        for scrub in scrubbers:
            message = scrub(message)
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
        record.msg, record.args = message, None
        return True


_FILTER = _ScrubbingFilter()


def library_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the scrubbing filter."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
