"""Rendering the two template shapes the provider writes, as Nomad's template runner would.

- Literal content: the template's delimiters do not occur in it, so it renders as is.
- A Variable lookup: ``L with nomadVar "PATH" R L .KEY R L end R`` (``L``/``R`` the
  delimiters), possibly several per template (env templates, one per line).

Anything else that uses the delimiters fails, like a template the fake cannot evaluate.
A task may read only the Variables its workload identity grants: ``nomad/jobs/<job>``,
``nomad/jobs/<job>/<group>`` and ``nomad/jobs/<job>/<group>/<task>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["TemplateError", "allowed_paths", "interpolate", "render"]


class TemplateError(Exception):
    """A template could not be rendered (the task fails, as with ``Template failed``)."""


def allowed_paths(job: str, group: str, task: str) -> set[str]:
    """Variable paths a task may read through ``nomadVar``."""
    base = f"nomad/jobs/{job}"
    return {base, f"{base}/{group}", f"{base}/{group}/{task}"}


def render(
    tmpl: Mapping[str, Any],
    lookup: Callable[[str], Mapping[str, str] | None],
    allowed: set[str],
) -> str:
    """The rendered text of ``tmpl`` (an ``api.Template`` object)."""
    text = str(tmpl.get("EmbeddedTmpl", ""))
    left = str(tmpl.get("LeftDelim") or "{{")
    right = str(tmpl.get("RightDelim") or "}}")
    if left not in text and right not in text:
        return text
    lq, rq = re.escape(left), re.escape(right)
    pattern = re.compile(
        rf'{lq}\s*with nomadVar "([^"]+)"\s*{rq}'
        rf"{lq}\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*{rq}"
        rf"{lq}\s*end\s*{rq}"
    )

    def value(match: re.Match[str]) -> str:
        path, key = match.group(1), match.group(2)
        if path not in allowed:
            raise TemplateError(f"nomadVar {path!r}: Permission denied")
        items = lookup(path)
        if items is None:
            raise TemplateError(f"nomadVar {path!r}: variable not found")
        return items.get(key, "")

    rest = pattern.sub("", text)
    if left in rest or right in rest:
        raise TemplateError("template uses syntax the fake agent does not evaluate")
    return pattern.sub(value, text)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``${NAME}`` replaced by the task environment's value, as Nomad interpolates driver
    config; an unknown name stays as written (Nomad leaves it too)."""
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}", lambda m: env.get(m.group(1), m.group(0)), text
    )
