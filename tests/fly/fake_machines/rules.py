"""What the Machines API refuses in a well-typed body (the Swagger file cannot say it).

Each function returns the problems of a request (empty: fine), answered as a 400 with
``{"error": ...}``. The rules are Fly's documented ones: Machine sizes (``guest``), the
restart policies, checks of type ``tcp``/``http`` with a port, service protocols, files
with exactly one of ``raw_value``/``secret_name`` at an absolute path, at most one volume
mount, and app and volume names.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from .records import FakeApp, FakeVolume

__all__ = ["APP_NAME", "VOLUME_NAME", "config_problems", "guest_problems"]

JSON = dict[str, Any]
APP_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
VOLUME_NAME = re.compile(r"^[a-z0-9_]{1,30}$")
_CPUS = (1, 2, 4, 8, 16)


def guest_problems(guest: JSON | None) -> list[str]:
    """Fly's Machine sizes: 1-16 CPUs (powers of two), memory in multiples of 256 MB, at
    least 256 MB; a shared CPU has at most 2048 MB, a performance CPU 2048-8192 MB."""
    if not guest:
        return []
    kind = guest.get("cpu_kind", "shared")
    cpus = int(guest.get("cpus", 1))
    memory = int(guest.get("memory_mb", 256))
    problems = []
    if kind not in ("shared", "performance"):
        problems.append(f"guest.cpu_kind {kind!r} is not shared or performance")
    if cpus not in _CPUS:
        problems.append(f"guest.cpus {cpus} is not one of {list(_CPUS)}")
    if memory < 256 or memory % 256:
        problems.append(f"guest.memory_mb {memory}: memory must be a multiple of 256 MB (min 256)")
    elif kind == "shared" and memory > cpus * 2048:
        problems.append(
            f"guest.memory_mb {memory} is more than {cpus * 2048} MB for {cpus} shared CPUs"
        )
    elif kind == "performance" and not cpus * 2048 <= memory <= cpus * 8192:
        problems.append(f"guest.memory_mb {memory} does not fit {cpus} performance CPUs")
    return problems


def config_problems(
    config: JSON,
    app: FakeApp,
    region: str,
    image_known: Callable[[str], bool],
    machine_id: str = "",
) -> list[str]:
    """Problems of a Machine configuration for a Machine of ``app`` in ``region``."""
    problems: list[str] = []
    image = str(config.get("image") or "")
    if not image:
        problems.append("config.image is required")
    elif not image_known(image):
        problems.append(f"failed to resolve image {image!r}: manifest unknown")
    problems += guest_problems(config.get("guest"))
    for name, check in (config.get("checks") or {}).items():
        if check.get("type") not in ("tcp", "http"):
            problems.append(f"checks.{name}.type must be tcp or http")
        if not check.get("port"):
            problems.append(f"checks.{name}.port is required")
    for i, service in enumerate(config.get("services") or []):
        if service.get("protocol", "tcp") not in ("tcp", "udp"):
            problems.append(f"services[{i}].protocol must be tcp or udp")
        if not 1 <= int(service.get("internal_port", 0)) <= 65535:
            problems.append(f"services[{i}].internal_port must be 1-65535")
    for i, item in enumerate(config.get("files") or []):
        if not str(item.get("guest_path", "")).startswith("/"):
            problems.append(f"files[{i}].guest_path must be an absolute path")
        if bool(item.get("raw_value")) == bool(item.get("secret_name")):
            problems.append(f"files[{i}]: exactly one of raw_value or secret_name must be set")
        if item.get("raw_value"):
            try:
                base64.b64decode(item["raw_value"], validate=True)
            except (binascii.Error, ValueError):
                problems.append(f"files[{i}].raw_value must be base64")
    mounts = config.get("mounts") or []
    if len(mounts) > 1:
        problems.append("a Machine mounts at most one volume")
    for mount in mounts:
        volume: FakeVolume | None = app.volumes.get(str(mount.get("volume", "")))
        if volume is None:
            problems.append(f"volume {mount.get('volume')!r} not found")
        elif volume.region != region:
            problems.append(
                f"volume {volume.id} is in region {volume.region}, the Machine in {region}"
            )
        elif volume.attached_machine_id and volume.attached_machine_id != machine_id:
            problems.append(f"volume {volume.id} is attached to {volume.attached_machine_id}")
        if not str(mount.get("path", "")).startswith("/"):
            problems.append("mounts[].path must be an absolute path")
    for i, proc in enumerate(config.get("processes") or []):
        for j, secret in enumerate(proc.get("secrets") or []):
            if not secret.get("env_var"):
                problems.append(f"processes[{i}].secrets[{j}].env_var is required")
    for key in config.get("metadata") or {}:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", key):
            problems.append(f"metadata key {key!r} is not valid")
    return problems
