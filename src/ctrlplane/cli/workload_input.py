"""Reading ``-f FILE`` for ``up``, ``validate``, ``render``, ``plan`` and ``deploy``.

``FILE`` is a workload file or a Compose file (``-`` reads standard input). A file whose
``services`` is a mapping (``web: {image: ...}``) is a Compose file
(:mod:`ctrlplane.compose`); a list is a workload file (:mod:`ctrlplane.workload`).
Compose keys that cannot be honoured are returned as notes, which the commands print
on stderr (``note: services.web.restart: not honoured``) and put in their JSON.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem

__all__ = ["STDIN", "WorkloadInput", "read_input"]

STDIN = "-"
"""``-f -``: read the file from standard input."""

_INDEX = re.compile(r"^services\[(\d+)\]")


@dataclass
class WorkloadInput:
    """A workload read from ``-f``: its data, where it came from, and the Compose notes."""

    data: dict[str, Any]
    source: str
    """``workload file app.yaml``, ``Compose file compose.yaml`` or ``standard input``."""
    path: str
    compose: bool = False
    ignored: list[str] = field(default_factory=list)

    def request(self, *, instance_id: str | None = None, tenant: str = "") -> Any:
        """The validated ``ProvisionRequest`` (``InvalidSpec`` naming every problem; for a
        Compose file, paths name the Compose service: ``services.web.ports[0]``)."""
        from ctrlplane.workload import parse_workload

        data = dict(self.data)
        if tenant:
            data["tenant_id"] = tenant
        try:
            return parse_workload(data, instance_id=instance_id, source=self.source)
        except InvalidSpec as exc:
            if not self.compose:
                raise
            raise InvalidSpec(
                [Problem(self._compose_path(p.path), p.message) for p in exc.problems],
                subject=self.source,
            ) from None

    def _compose_path(self, path: str) -> str:
        match = _INDEX.match(path)
        if match is None:
            return path
        services = self.data.get("services", [])
        index = int(match.group(1))
        if index >= len(services):
            return path
        return f"services.{services[index]['name']}" + path[match.end() :]

    def notes(self) -> list[str]:
        """One ``note:`` line per Compose key not honoured."""
        return [f"note: {self.path}: {item}" for item in self.ignored]


def read_input(path: str) -> WorkloadInput:
    """Read and classify ``path`` (``-``: standard input); ``InvalidSpec`` for a file that
    cannot be read or parsed, or a Compose file whose structure is wrong."""
    from ctrlplane.compose import compose_to_workload, is_compose
    from ctrlplane.workload import parse_workload_text, read_workload_data

    if path == STDIN:
        text = sys.stdin.read()
        data = parse_workload_text(text, source="standard input")
        base, default_name, shown = Path.cwd(), "", "standard input"
    else:
        data = read_workload_data(path)
        file = Path(path)
        base, default_name, shown = file.parent, file.resolve().parent.name, path
    if not is_compose(data):
        source = "standard input" if path == STDIN else f"workload file {path}"
        return WorkloadInput(data=data, source=source, path=shown)
    source = "Compose file on standard input" if path == STDIN else f"Compose file {path}"
    try:
        compose = compose_to_workload(data, base=base, default_name=default_name)
    except InvalidSpec as exc:
        raise InvalidSpec(exc.problems, subject=source) from None
    return WorkloadInput(
        data=compose.data, source=source, path=shown, compose=True, ignored=compose.ignored
    )
