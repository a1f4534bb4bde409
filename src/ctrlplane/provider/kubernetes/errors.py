"""Translation of lightkube / httpx errors into :mod:`ctrlplane.errors` at the boundary.

Callers of the Kubernetes backend never see a lightkube or httpx exception: every call to
the API server runs inside :func:`translated`, which maps

- ``ApiError`` 401/403 -> :class:`PermissionDenied`; 404 -> :class:`InstanceNotFound` when an
  instance is named (else :class:`BackendError`); 422 -> :class:`InvalidSpec` (the server's
  causes become problems); any other status -> :class:`BackendError` with the status;
- connection, DNS, TLS and timeout errors -> :class:`BackendUnavailable`;
- lightkube's configuration errors -> :class:`BackendUnavailable` naming the kubeconfig.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx2 as httpx
from lightkube import ApiError, ConfigError

from ctrlplane.errors import (
    BackendError,
    BackendUnavailable,
    CtrlplaneError,
    InstanceNotFound,
    InvalidSpec,
    PermissionDenied,
    Problem,
)

__all__ = ["BACKEND", "is_not_found", "translate", "translated"]

BACKEND = "kubernetes"


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` is the API server's 404."""
    return isinstance(exc, ApiError) and exc.status.code == 404


def translate(exc: BaseException, what: str, *, instance_id: str = "") -> CtrlplaneError:
    """The ctrlplane error for a client-library exception raised while doing ``what``."""
    if isinstance(exc, ApiError):
        status = exc.status
        code = status.code or 0
        message = status.message or str(exc)
        if code in (401, 403):
            return PermissionDenied(f"{what}: {message}", backend=BACKEND, status=code)
        if code == 404 and instance_id:
            return InstanceNotFound(instance_id, provider=BACKEND)
        if code == 422:
            causes = status.details.causes if status.details and status.details.causes else []
            problems = [Problem(c.field or "", c.message or "") for c in causes]
            return InvalidSpec(problems or message, subject=f"Kubernetes object ({what})")
        return BackendError(f"{what}: {message}", backend=BACKEND, status=code)
    if isinstance(exc, ConfigError):
        return BackendUnavailable(f"{what}: Kubernetes configuration: {exc}", backend=BACKEND)
    if isinstance(exc, httpx.TimeoutException):
        return BackendUnavailable(f"{what}: the API server did not answer in time", backend=BACKEND)
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        cls = PermissionDenied if code in (401, 403) else BackendError
        return cls(f"{what}: HTTP {code} from the API server", backend=BACKEND, status=code)
    if isinstance(exc, httpx.HTTPError | OSError):
        return BackendUnavailable(f"{what}: cannot reach the API server: {exc}", backend=BACKEND)
    return BackendError(f"{what}: {type(exc).__name__}: {exc}", backend=BACKEND)


@contextlib.contextmanager
def translated(what: str, *, instance_id: str = "") -> Iterator[None]:
    """Run a block of API calls, translating client-library errors (ours pass through)."""
    try:
        yield
    except CtrlplaneError:
        raise
    except (ApiError, ConfigError, httpx.HTTPError, OSError) as exc:
        raise translate(exc, what, instance_id=instance_id) from exc
