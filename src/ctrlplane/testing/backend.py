"""The fake engine: the in-memory "Docker daemon" that fake provider objects talk to.

One :class:`FakeBackend` holds every instance, container, log line, release history and
armed fault. Provider objects (:class:`~ctrlplane.testing.FakeProvider`) hold nothing, so
a fresh provider on the same backend manages what another one created, exactly as a
new process would with a real engine. Tests can also look inside: :meth:`observe`,
:meth:`leftovers`, :meth:`http_get`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from ctrlplane.errors import BackendUnavailable
from ctrlplane.provider.results import LogRecord
from ctrlplane.testing.faults import Faults
from ctrlplane.testing.images import FakeImage, HttpRequest
from ctrlplane.testing.leases import MemoryLeaseStore
from ctrlplane.testing.records import FakeContainer, InstanceRecord, Unit

__all__ = ["FakeBackend", "parse_endpoint_url"]

GENERIC_IMAGE = FakeImage(name="*")
"""What an unregistered image does when the backend accepts any image: idles, runs commands."""


def parse_endpoint_url(url: str) -> tuple[str, str, int]:
    """``fake://<service>.<instance>:<port>`` -> (instance, service, port); ValueError if not."""
    if not url.startswith("fake://"):
        raise ValueError(f"not a fake endpoint URL: {url!r}")
    host, _, port = url.removeprefix("fake://").partition(":")
    service, _, instance = host.partition(".")
    if not (service and instance and port.isdigit()):
        raise ValueError(f"not a fake endpoint URL: {url!r}")
    return instance, service, int(port)


class FakeBackend:
    """In-memory engine shared by fake providers.

    ``images`` are the registered :class:`FakeImage` behaviours. With ``any_image`` (the
    default) an unregistered image reference runs a generic image (idle, runs its
    service's command with the fake shell); with ``any_image=False`` it is missing, as
    an image absent from the registry. ``host_memory_mb`` is the limit reported for a
    container without a memory limit.
    """

    def __init__(
        self,
        images: Iterable[FakeImage] = (),
        *,
        any_image: bool = True,
        host_memory_mb: int = 4096,
    ) -> None:
        self.images: dict[str, FakeImage] = {}
        for image in images:
            self.add_image(image)
        self.any_image = any_image
        self.host_memory_mb = host_memory_mb
        self.faults = Faults()
        self.instances: dict[str, InstanceRecord] = {}
        self.staged: dict[str, list[Unit]] = {}
        """Units started but not yet serving (a blue-green deploy's new set), per instance."""
        self.leases = MemoryLeaseStore(self._check_up)
        """The instances' operation leases (see :mod:`ctrlplane.provider.leases`)."""
        self._last = datetime.now(UTC)
        self._rr = itertools.count()

    def __repr__(self) -> str:
        return f"FakeBackend(<{len(self.instances)} instances, {len(self.images)} images>)"

    # images

    def add_image(self, image: FakeImage, *aliases: str) -> None:
        """Register ``image`` under its name (and ``aliases``); replaces an earlier one."""
        for name in (image.name, *aliases):
            self.images[name] = image

    def image(self, ref: str) -> FakeImage | None:
        """The behaviour of image ``ref``, or ``None`` if it is missing."""
        if self.faults.image_missing(ref):
            return None
        found = self.images.get(ref)
        if found is None and self.any_image:
            return GENERIC_IMAGE
        return found

    # time and availability

    def now(self) -> datetime:
        """The engine's clock: wall time, strictly increasing (so log order is total)."""
        now = datetime.now(UTC)
        if now <= self._last:
            now = self._last + timedelta(microseconds=1)
        self._last = now
        return now

    def _check_up(self) -> None:
        if self.faults.unavailable:
            raise BackendUnavailable("the fake backend is unavailable (fault injected)")

    # logs

    def emit(
        self,
        container: FakeContainer,
        text: bytes | str,
        stream: Literal["stdout", "stderr"] = "stdout",
    ) -> None:
        """Append the lines of ``text`` to a container's log."""
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        for line in text.splitlines():
            container.logs.append(
                LogRecord(
                    time=self.now(),
                    service=container.service,
                    replica=container.replica,
                    stream=stream,
                    line=line,
                )
            )

    def catch_up(self, container: FakeContainer) -> None:
        """Write the ``tick <n>`` lines a ticking container printed up to now."""
        tick = container.image.tick
        if tick <= 0 or not container.running or container.started_at is None:
            return
        elapsed = (self.now() - container.started_at).total_seconds()
        due = int(elapsed / tick)
        while container.ticks < due:
            container.ticks += 1
            container.logs.append(
                LogRecord(
                    time=container.started_at + timedelta(seconds=container.ticks * tick),
                    service=container.service,
                    replica=container.replica,
                    line=f"tick {container.ticks}",
                )
            )

    # simulated events, for tests

    def crash(
        self,
        instance_id: str,
        service: str,
        *,
        exit_code: int = 1,
        replica: int | None = None,
        restart: bool = False,
    ) -> None:
        """Make ``service``'s running containers (of one replica, or all) exit ``exit_code``.

        With ``restart``, the engine restarts them at once, as a restart policy would: they
        keep running and their ``restarts`` count goes up. ``KeyError`` if no such instance.
        """
        record = self.instances[instance_id]
        for c in record.containers(service):
            if not c.running or (replica is not None and c.replica != replica):
                continue
            self.emit(c, f"process exited with code {exit_code} (crash simulated)", "stderr")
            if restart:
                c.restarts += 1
                continue
            if c.process is not None:
                c.process.cancel()
                c.process = None
            c.state, c.exit_code = "exited", exit_code

    # inspection, for tests

    def observe(self, instance_id: str, *, serving_only: bool = False) -> list[FakeContainer]:
        """The running containers of ``instance_id`` (empty if none or no instance).

        Includes units a blue-green deploy started but does not route to yet, unless
        ``serving_only``.
        """
        record = self.instances.get(instance_id)
        if record is None:
            return []
        found = [c for c in record.containers() if c.running]
        if not serving_only:
            staged = self.staged.get(instance_id, [])
            found += [c for unit in staged for c in unit.containers.values() if c.running]
        return found

    def leftovers(self, instance_id: str) -> list[str]:
        """Everything the backend still holds for ``instance_id`` (empty once it is gone)."""
        found: list[str] = []
        record = self.instances.get(instance_id)
        if record is not None:
            found.append(f"instance {instance_id}")
            found += [f"container {c.container_id} ({c.service})" for c in record.containers()]
            found += [f"volume {name}" for name in record.volumes]
        for unit in self.staged.get(instance_id, []):
            found += [f"staged container {c.container_id}" for c in unit.containers.values()]
        return found

    def http_get(self, url: str, path: str = "/") -> tuple[int, bytes]:
        """GET ``path`` from a fake endpoint URL (``Endpoint.url`` of a fake instance).

        Requests are spread over the running replicas that serve the port. Raises
        ``ConnectionRefusedError`` when nothing listens there, like a real socket.
        """
        instance_id, service, port = parse_endpoint_url(url)
        targets = [
            c
            for c in self.observe(instance_id, serving_only=True)
            if c.service == service and port in c.ports and c.image.http is not None
        ]
        if not targets:
            raise ConnectionRefusedError(f"nothing listens on {url}")
        target = targets[next(self._rr) % len(targets)]
        handler = target.image.http
        assert handler is not None
        return handler(
            HttpRequest(
                path=path,
                port=port,
                service=service,
                replica=target.replica,
                env=dict(target.env),
                read_file=target.files.read,
            )
        )
