"""Nomad's validation errors as text: nested ``go-multierror`` lists.

Nomad validates a job level by level (job, task group, task, service, check...) and
wraps each level's errors in a multierror, prefixed with where they come from: e.g.
``1 error occurred:\\n\\t* Task group unit validation failed: 1 error occurred:\\n\\t* Task
group count can't be negative\\n\\n\\n\\n``. A problem is a path of frames (the prefixes,
``""`` for a bare nested list) and a message; :func:`render` nests them as Nomad does.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["Frames", "render"]

Frames = tuple[str, ...]


def _list(errors: Sequence[str]) -> str:
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


def _errors(problems: Sequence[tuple[Frames, str]]) -> list[str]:
    """The error texts of one level: leaves, and nested levels in first-seen order."""
    out: list[str] = []
    nested: dict[str, list[tuple[Frames, str]]] = {}
    order: list[str | int] = []
    for frames, message in problems:
        if not frames:
            order.append(len(out))
            out.append(message)
            continue
        if frames[0] not in nested:
            nested[frames[0]] = []
            order.append(frames[0])
        nested[frames[0]].append((frames[1:], message))
    texts: list[str] = []
    for item in order:
        if isinstance(item, int):
            texts.append(out[item])
            continue
        inner = _list(_errors(nested[item]))
        texts.append(f"{item}: {inner}" if item else inner)
    return texts


def render(problems: Sequence[tuple[Frames, str]]) -> str:
    """The agent's error text for ``problems`` (each: its frames, its message)."""
    return _list(_errors(problems))
