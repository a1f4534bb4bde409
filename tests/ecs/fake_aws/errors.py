"""The one error type of the fake AWS services: what a handler raises to answer an error.

A service answers an error as the JSON protocol does: an HTTP status (400 for the
caller's mistakes, 403 for credentials, 500 for the fake's own faults) and a body naming
the error code (``__type``) and its ``message``; botocore turns it into a ``ClientError``
whose ``Error.Code`` is the code.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AwsError"]


class AwsError(Exception):
    """An error answer: ``code`` (``ClientException``, ``ResourceNotFoundException``...),
    ``message``, HTTP ``status``, and extra members of the error shape (``fields``)."""

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields
