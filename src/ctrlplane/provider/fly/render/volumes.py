"""Volumes -> ``CreateVolumeRequest`` bodies (pure).

A ``persistent`` volume of a service is one Fly volume per replica
(:func:`~.names.volume_name`), in the replica's region, attached to that replica's
Machine of the service (a Fly volume attaches to one Machine at a time). ``size_mb``
rounds up to whole GB (0: ``FlyConfig.volume_size_gb``).
"""

from __future__ import annotations

import math
from typing import Any

from ctrlplane.provider.fly.config import FlyConfig
from ctrlplane.provider.fly.render.names import volume_name
from ctrlplane.provider.spec import VolumeSpec

__all__ = ["size_gb", "volume_body"]


def size_gb(volume: VolumeSpec, config: FlyConfig) -> int:
    """The volume's size in GB."""
    if volume.size_mb <= 0:
        return config.volume_size_gb
    return max(1, math.ceil(volume.size_mb / 1024))


def volume_body(volume: VolumeSpec, replica: int, region: str, config: FlyConfig) -> dict[str, Any]:
    """The ``CreateVolumeRequest`` of ``volume`` for ``replica``."""
    return {
        "name": volume_name(volume.name, replica),
        "region": region,
        "size_gb": size_gb(volume, config),
        "encrypted": True,
    }
