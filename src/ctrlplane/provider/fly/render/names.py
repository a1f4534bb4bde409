"""Names of what the backend creates on Fly (pure): apps, Machines, volumes, app secrets.

- An instance's app: ``FlyConfig.app`` when set, else ``<app_prefix><suffix>`` where the
  suffix is the instance ID's TypeID suffix (``inst_01h4...`` -> ``ctrlplane-01h4...``);
  app names are global on Fly, lowercase letters, digits and dashes, at most 63.
- Machines: ``<service>-<replica>`` (a blue-green set adds its generation,
  ``web-0-g2``), ``<service>-<replica>-init`` for run-once inits, ``ctrlplane-control``
  for the instance's control Machine. Names only help people: identity is in metadata.
- Volumes: ``<volume>_<replica>`` (Fly volume names: lowercase letters, digits and
  ``_``, at most 30).
- App secrets: ``CP_<KEY>_<digest>``, the digest over the instance ID and the key, so
  keys that sanitise alike never collide; file secrets (base64 values) end in ``_FILE``.
"""

from __future__ import annotations

import hashlib
import re

from ctrlplane.provider.fly.config import FlyConfig

__all__ = [
    "CONTROL_NAME",
    "app_name",
    "init_machine_name",
    "machine_name",
    "secret_name",
    "volume_name",
]

CONTROL_NAME = "ctrlplane-control"
"""The name of every instance's control Machine."""


def _digest(*parts: str, size: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:size]


def app_name(config: FlyConfig, instance_id: str) -> str:
    """The app of ``instance_id`` (see the module docs)."""
    if config.app:
        return config.app
    suffix = instance_id.rpartition("_")[2].lower()
    suffix = re.sub(r"[^a-z0-9-]", "-", suffix).strip("-") or _digest(instance_id)
    name = f"{config.app_prefix}{suffix}"
    if len(name) > 63:
        name = f"{name[:54]}-{_digest(instance_id)}"
    return name


def machine_name(service: str, replica: int, generation: int = 0) -> str:
    """``<service>-<replica>`` (``-g<n>`` for the ``n``-th blue-green set)."""
    base = f"{service}-{replica}"
    return f"{base}-g{generation}" if generation else base


def init_machine_name(service: str, replica: int) -> str:
    """The run-once Machine of init ``service`` for ``replica``."""
    return f"{service}-{replica}-init"


def volume_name(volume: str, replica: int) -> str:
    """The Fly volume holding ctrlplane volume ``volume`` for ``replica``."""
    base = re.sub(r"[^a-z0-9_]", "_", volume.lower())[:24]
    return f"{base}_{replica}"


def secret_name(instance_id: str, key: str, *, file: bool = False) -> str:
    """The app secret that holds secret ``key`` of ``instance_id`` (base64 for files)."""
    readable = re.sub(r"[^A-Z0-9]", "_", key.upper()).strip("_")[:40]
    name = f"CP_{readable}_{_digest(instance_id, key).upper()}"
    return f"{name}_FILE" if file else name
