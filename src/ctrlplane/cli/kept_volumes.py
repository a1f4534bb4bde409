"""What ``down --keep-volumes`` kept, so that the next ``up`` of the same file uses it.

A backend names an instance's volumes after its instance ID, and keeps them on
deprovision when asked (a ``keep_volumes`` config field), to be used again by a later
provision of the same ID. ``up -f FILE`` without ``--instance-id`` would mint a new ID,
so, like ``docker compose down`` then ``up``, the CLI remembers the ID on this machine:

- ``down --keep-volumes`` records the instance's ID under (provider name, tenant,
  workload name) in ``$XDG_STATE_HOME/ctrlplane/kept-volumes.json``;
- ``up`` of a workload of that name, when no instance of it runs, provisions that ID
  again (its kept volumes hold the data) and forgets the record once it is up;
- a plain ``down`` of that ID forgets it too (its volumes are gone).

The record is local to the machine that ran ``down``: elsewhere, ``up --instance-id ID``
finds the same volumes. The file is replaced atomically; an unreadable file is empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ctrlplane.cli.config import user_state_dir

__all__ = ["KeptVolumes"]

FILE_NAME = "kept-volumes.json"


@dataclass(frozen=True)
class KeptVolumes:
    """The kept-volume records of one provider (by its name in the CLI)."""

    provider: str
    path: Path

    @classmethod
    def of(cls, provider: str, environ: Mapping[str, str] | None = None) -> KeptVolumes:
        """The records of ``provider`` in this user's state directory."""
        env = os.environ if environ is None else environ
        return cls(provider, user_state_dir(env) / FILE_NAME)

    def _key(self, tenant: str, name: str) -> str:
        return json.dumps([self.provider, tenant, name])

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".kept-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def remember(self, tenant: str, name: str, instance_id: str) -> None:
        """``down --keep-volumes`` kept the volumes of ``instance_id``, which ran the
        workload ``name`` in ``tenant`` (an unnamed workload is not remembered: ``up``
        finds instances by name)."""
        if not name:
            return
        data = self._read()
        data[self._key(tenant, name)] = instance_id
        self._write(data)

    def find(self, tenant: str, name: str) -> str | None:
        """The instance ID whose volumes were kept for workload ``name`` in ``tenant``."""
        if not name:
            return None
        return self._read().get(self._key(tenant, name))

    def forget(self, instance_id: str) -> None:
        """Drop every record of ``instance_id`` (provisioned again, or removed)."""
        data = self._read()
        left = {k: v for k, v in data.items() if v != instance_id}
        if left != data:
            self._write(left)
