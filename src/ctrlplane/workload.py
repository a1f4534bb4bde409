"""Workload files: a ``ProvisionRequest`` written by people, in YAML or JSON.

A workload file is a provision request without (or with an optional) ``instance_id``::

    name: hello
    kind: deployment            # or stateful_set; default deployment
    labels: {team: web}
    services:
      - name: web
        image: ctrlplane-example/web:latest
        ports: [{container: 8080}]
        health_check: {path: /, port: 8080, interval: 5s, timeout: 2}

Durations may be Go strings (``1m30s``) or plain numbers of **seconds** (unlike the
wire format, where numbers are nanoseconds). :func:`load_workload` reports every
problem at once, each with its field path, as :class:`~ctrlplane.errors.InvalidSpec`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ctrlplane.errors import InvalidSpec, Problem
from ctrlplane.ids import INSTANCE_PREFIX, new_id
from ctrlplane.provider._wire import HUMAN_CONTEXT
from ctrlplane.provider.spec import ProvisionRequest
from ctrlplane.provider.validation import request_problems

__all__ = [
    "MAX_DEPTH",
    "load_workload",
    "parse_workload",
    "parse_workload_text",
    "read_workload_data",
]

MAX_DEPTH = 32
"""How deeply a workload file may nest mappings and lists (a real one nests about 5)."""


def _too_deep(data: object, limit: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests containers more than ``limit`` levels (iterative)."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def read_workload_data(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON workload file into a mapping (no validation of its fields)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidSpec(
            f"cannot read {file}: {exc.strerror or exc}", subject="workload file"
        ) from None
    except UnicodeDecodeError as exc:
        raise InvalidSpec(
            f"{file} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8",
            subject="workload file",
        ) from None
    return parse_workload_text(text, source=str(file), json_text=file.suffix == ".json")


def parse_workload_text(text: str, *, source: str, json_text: bool = False) -> dict[str, Any]:
    """YAML (or, with ``json_text``, JSON) workload text into a mapping; ``source`` names
    it in errors. Bad syntax or nesting deeper than :data:`MAX_DEPTH` is ``InvalidSpec``."""
    file = source
    try:
        data = json.loads(text) if json_text else yaml.safe_load(text)
    except RecursionError:
        raise InvalidSpec(
            f"{file} nests deeper than {MAX_DEPTH} levels", subject="workload file"
        ) from None
    except (ValueError, yaml.YAMLError) as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidSpec(
            f"{file} is not valid YAML/JSON{where}: {reason}", subject="workload file"
        ) from None
    if not isinstance(data, dict):
        raise InvalidSpec(
            f"{file} must hold a mapping with 'name' and 'services'", subject="workload file"
        )
    if _too_deep(data):
        raise InvalidSpec(f"{file} nests deeper than {MAX_DEPTH} levels", subject="workload file")
    return data


def parse_workload(
    data: Mapping[str, Any], *, instance_id: str | None = None, source: str = "workload"
) -> ProvisionRequest:
    """Build and validate a request from workload data.

    ``instance_id`` (or the file's own) is used when given; otherwise a new ``inst_`` ID
    is minted. Raises :class:`InvalidSpec` with every structural and semantic problem.
    """
    body = dict(data)
    if instance_id is not None:
        body["instance_id"] = instance_id
    body.setdefault("instance_id", new_id(INSTANCE_PREFIX))
    try:
        req = ProvisionRequest.model_validate(body, context=HUMAN_CONTEXT)
    except InvalidSpec as exc:
        raise InvalidSpec(exc.problems, subject=source) from None
    problems: list[Problem] = request_problems(req)
    if problems:
        raise InvalidSpec(problems, subject=source)
    return req


def load_workload(path: str | Path, *, instance_id: str | None = None) -> ProvisionRequest:
    """Read, parse and validate a workload file (see the module docs for the format)."""
    return parse_workload(
        read_workload_data(path), instance_id=instance_id, source=f"workload file {path}"
    )
