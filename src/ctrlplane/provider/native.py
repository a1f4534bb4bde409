"""The one name for an engine's untyped objects.

Where a client library has typed models (lightkube's), a backend uses them; where it has
none (the Docker Engine API through aiodocker, Nomad's HTTP API), native objects are the
API's JSON, typed as :data:`JSON` everywhere instead of a local alias per module.
"""

from __future__ import annotations

from typing import Any

__all__ = ["JSON"]

JSON = dict[str, Any]
"""A JSON object of an engine's API (a container create body, a job, a manifest...)."""
