"""The workloads the Docker benchmarks provision, as ``ProvisionRequest`` objects.

- :func:`web_request` is the 3-service workload of issue 17 (B1, B2): an init writing
  ``index.html`` to a volume, an httpd main serving that volume on a published port,
  and a sidecar sharing the main's network namespace. :mod:`bench.by_hand` builds the
  same workload with aiodocker, the docker CLI and docker-compose.
- :func:`idle_request` is one long-lived service (B3's 200 instances, B5's exec target).
- :func:`log_request` prints a given number of lines, then an end marker, then idles (B4).

busybox ``sh`` as PID 1 ignores SIGTERM, so every long-lived command traps it: a
graceful stop takes milliseconds, for every contender alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.engines import IMAGE
from ctrlplane.provider import ProvisionRequest

__all__ = [
    "IDLE_SCRIPT",
    "INIT_SCRIPT",
    "LOG_END",
    "MAIN_SCRIPT",
    "PAGE",
    "idle_request",
    "log_request",
    "web_request",
]

TRAP = "trap 'exit 0' TERM; "
PAGE = "hello from the ctrlplane bench"
INIT_SCRIPT = f"echo '{PAGE}' > /www/index.html"
MAIN_SCRIPT = f"{TRAP}httpd -f -p 8080 -h /www & wait"
IDLE_SCRIPT = f"{TRAP}while true; do sleep 1 & wait; done"
LOG_END = "bench-log-end"
LOG_PAD = "the quick brown fox jumps over the lazy dog 0123456789"


def _request(
    instance_id: str,
    services: list[dict[str, Any]],
    *,
    tenant: str,
    labels: Mapping[str, str],
    name: str,
    kind: str = "deployment",
) -> ProvisionRequest:
    return ProvisionRequest.model_validate(
        {
            "instance_id": instance_id,
            "tenant_id": tenant,
            "name": name,
            "kind": kind,
            "labels": dict(labels),
            "services": services,
        }
    )


def web_request(
    instance_id: str, *, tenant: str, labels: Mapping[str, str], name: str = "bench-web"
) -> ProvisionRequest:
    """The 3-service workload (see the module docstring)."""
    www = {"name": "www", "mount_path": "/www"}
    return _request(
        instance_id,
        [
            {
                "name": "init",
                "image": IMAGE,
                "role": "init",
                "command": ["sh", "-c", INIT_SCRIPT],
                "volumes": [www],
            },
            {
                "name": "web",
                "image": IMAGE,
                "command": ["sh", "-c", MAIN_SCRIPT],
                "ports": [{"container": 8080}],
                "volumes": [www],
            },
            {
                "name": "side",
                "image": IMAGE,
                "role": "sidecar",
                "command": ["sh", "-c", IDLE_SCRIPT],
            },
        ],
        tenant=tenant,
        labels=labels,
        name=name,
    )


def idle_request(
    instance_id: str, *, tenant: str, labels: Mapping[str, str], name: str
) -> ProvisionRequest:
    """One idle long-lived service, nothing published."""
    return _request(
        instance_id,
        [{"name": "app", "image": IMAGE, "command": ["sh", "-c", IDLE_SCRIPT]}],
        tenant=tenant,
        labels=labels,
        name=name,
    )


def log_request(
    instance_id: str, *, tenant: str, labels: Mapping[str, str], lines: int
) -> ProvisionRequest:
    """A service printing ``lines`` numbered lines of ~65 bytes, then :data:`LOG_END`,
    then idling."""
    script = (
        f"{TRAP}seq 1 {int(lines)} | sed 's/$/ {LOG_PAD}/'; echo {LOG_END}; "
        "while true; do sleep 1 & wait; done"
    )
    return _request(
        instance_id,
        [{"name": "log", "image": IMAGE, "command": ["sh", "-c", script]}],
        tenant=tenant,
        labels=labels,
        name="bench-logs",
    )
