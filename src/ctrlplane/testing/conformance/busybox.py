"""Ready-made service builders for harnesses whose backend runs busybox-based images.

Mix :class:`BusyboxServices` into a :class:`ConformanceHarness` subclass (before it) and
the four builders and ``image()`` are done: they return ``ServiceSpec``s whose commands
are busybox ``sh`` scripts (``httpd``, ``sleep``, ``echo``), trap SIGTERM so stops are
prompt, and use ``image_repository:<version>`` as the image. The backend must have those
references, e.g. ``docker tag ctrlplane-example/busybox:latest
ctrlplane-conformance/busybox:1`` (and 2, 3, 4).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from ctrlplane.provider.spec import PortSpec, ServiceSpec

__all__ = ["BusyboxServices", "exit_script", "http_script", "idle_script", "log_script"]

_IDLE = "while true; do sleep 1 & wait $!; done"


def idle_script() -> str:
    """Run until SIGTERM (then exit 0 at once)."""
    return f"trap 'exit 0' TERM; {_IDLE}"


def http_script(port: int, root: str = "/tmp/www") -> str:
    """Serve ``$MESSAGE`` on ``/`` and ``/healthz`` (absent when ``$HEALTHY`` is 0) from
    the directory ``root``; crash as the harness contract says for ``CRASH_MARKER`` and
    ``CRASH_AFTER`` (see :mod:`ctrlplane.testing.conformance.harness`)."""
    www = shlex.quote(root)
    crash = 'eval "echo crashing: \\$$CRASH_PRINT"; exit 3'
    return (
        "trap 'kill $pid 2>/dev/null; exit 0' TERM; "
        f'if [ -n "$CRASH_MARKER" ] && [ -f "$CRASH_MARKER" ]; then {crash}; fi; '
        'if [ -n "$CRASH_MARKER" ]; then touch "$CRASH_MARKER"; fi; '
        f"mkdir -p {www} && printf '%s' \"$MESSAGE\" > {www}/index.html; "
        f'if [ "$HEALTHY" != 0 ]; then echo ok > {www}/healthz; '
        f"else rm -f {www}/healthz; fi; "
        f"httpd -f -p {int(port)} -h {www} & pid=$!; "
        'if [ -n "$CRASH_AFTER" ]; then sleep "$CRASH_AFTER" & wait $!; kill $pid; '
        f"{crash}; fi; "
        "wait $pid"
    )


def log_script(lines: Sequence[str], stderr_lines: Sequence[str], tick: float | None) -> str:
    """Print the lines, then tick every ``tick`` seconds (or idle)."""
    parts = ["trap 'exit 0' TERM"]
    parts += [f"echo {shlex.quote(line)}" for line in lines]
    parts += [f"echo {shlex.quote(line)} >&2" for line in stderr_lines]
    if tick:
        parts.append(
            f'i=0; while true; do sleep {tick:g} & wait $!; i=$((i+1)); echo "tick $i"; done'
        )
    else:
        parts.append(_IDLE)
    return "; ".join(parts)


def exit_script(lines: Sequence[str], delay: float, code: int) -> str:
    """Print the lines, sleep ``delay`` seconds (if any), exit ``code``."""
    parts = [f"echo {shlex.quote(line)}" for line in lines]
    if delay > 0:
        parts.append(f"sleep {delay:g}")
    parts.append(f"exit {int(code)}")
    return "; ".join(parts)


class BusyboxServices:
    """The conformance service builders for busybox images (a harness mixin)."""

    image_repository: str = "ctrlplane-conformance/busybox"
    log_tick: float = 0.5
    www_root: str = "/tmp/www"
    """Where the http service writes the files it serves (in its own container's /tmp;
    a harness that runs the scripts on a shared file system sets one per run)."""

    def image(self, version: int = 1) -> str:
        """``image_repository:<version>``."""
        return f"{self.image_repository}:{version}"

    def _sh(
        self, name: str, script: str, version: int, env: Mapping[str, str] | None
    ) -> ServiceSpec:
        return ServiceSpec(
            name=name, image=self.image(version), command=["sh", "-c", script], env=dict(env or {})
        )

    def http_service(
        self, name: str, *, port: int, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        """busybox ``httpd`` serving ``$MESSAGE`` and ``/healthz`` on ``port``."""
        spec = self._sh(name, http_script(port, self.www_root), version, env)
        return spec.model_copy(update={"ports": [PortSpec(container=port)]})

    def log_service(
        self,
        name: str,
        *,
        lines: Sequence[str] = (),
        stderr_lines: Sequence[str] = (),
        tick: bool = False,
        version: int = 1,
    ) -> ServiceSpec:
        """Prints the lines, then ticks every ``log_tick`` seconds (or idles)."""
        script = log_script(lines, stderr_lines, self.log_tick if tick else None)
        return self._sh(name, script, version, None)

    def exit_service(
        self,
        name: str,
        *,
        code: int,
        lines: Sequence[str] = (),
        delay: float = 0.0,
        version: int = 1,
    ) -> ServiceSpec:
        """Prints the lines, sleeps ``delay`` seconds, exits ``code``."""
        return self._sh(name, exit_script(lines, delay, code), version, None)

    def idle_service(
        self, name: str, *, env: Mapping[str, str] | None = None, version: int = 1
    ) -> ServiceSpec:
        """Runs until stopped; prints nothing."""
        return self._sh(name, idle_script(), version, env)
