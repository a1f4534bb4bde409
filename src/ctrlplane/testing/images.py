"""Fake images: what a fake container does, keyed by image reference.

A :class:`FakeImage` describes the process a fake container runs, in order:

1. print ``stdout`` lines, then ``stderr`` lines;
2. if the service has ``command``/``args`` (and ``shell`` is true), run them with the
   fake shell (:mod:`ctrlplane.testing.shell`): their output goes to the logs; the
   process exits with the script's status, unless the script blocks (``sleep infinity``,
   ``exec sleep 3600``), in which case it keeps running;
3. otherwise, if ``exit_code`` is set, wait ``run_for`` seconds and exit with it
   (a run-to-completion job, e.g. an init); else keep running until stopped;
4. while running, print ``tick <n>`` every ``tick`` seconds (if ``tick`` > 0), and answer
   HTTP on every port of its service through ``http`` (if set).

``files`` seed the container's filesystem (config files, secret files and volumes are
added by the provider). Register images on a :class:`~ctrlplane.testing.FakeBackend`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["FakeImage", "HttpHandler", "HttpRequest", "serve_files"]


@dataclass(frozen=True)
class HttpRequest:
    """A GET request reaching a fake container: what a handler can look at."""

    path: str
    port: int
    service: str
    replica: int
    env: Mapping[str, str]
    read_file: Callable[[str], bytes | None]
    """Read a file of the container (``None`` if it does not exist)."""


HttpHandler = Callable[[HttpRequest], tuple[int, bytes]]
"""Answers a GET with ``(status, body)``."""


def serve_files(root: str = "/var/www") -> HttpHandler:
    """A handler serving the container's files under ``root`` (``index.html`` for ``/``)."""
    base = root.rstrip("/")

    def handle(req: HttpRequest) -> tuple[int, bytes]:
        path = req.path.split("?", 1)[0]
        if path.endswith("/"):
            path += "index.html"
        if ".." in path.split("/"):
            return 400, b"bad path\n"
        body = req.read_file(base + path)
        return (200, body) if body is not None else (404, b"not found\n")

    return handle


@dataclass(frozen=True)
class FakeImage:
    """The behaviour of a fake container started from image ``name`` (see module docs)."""

    name: str
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    exit_code: int | None = None
    run_for: float = 0.0
    tick: float = 0.0
    http: HttpHandler | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    shell: bool = True
    memory_mb: int = 8
    cpu_percent: float = 0.5

    @property
    def listens(self) -> bool:
        """Whether the process accepts connections on its service's ports."""
        return self.http is not None
