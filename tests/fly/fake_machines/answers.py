"""Shapes of the fake's answers shared by its endpoint groups: an ``ErrorResponse`` and an
early refusal (raised by a lookup, answered by the endpoint wrapper)."""

from __future__ import annotations

from typing import Any

__all__ = ["NONCE_HEADER", "OWNER", "Answer", "Refused", "error"]

Answer = tuple[int, Any]
NONCE_HEADER = "fly-machine-lease-nonce"
OWNER = "ctrlplane-tests@example.com"


def error(code: int, message: str, **extra: str) -> Answer:
    return code, {"error": message, **extra}


class Refused(Exception):
    """A handler's early answer (the object is missing, leased, in the wrong state)."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer)
        self.answer = answer
