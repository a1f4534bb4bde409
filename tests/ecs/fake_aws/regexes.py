"""AWS model ``pattern`` traits (Java regular expressions) as Python patterns.

The models' patterns use a few Java constructs Python's ``re`` lacks: Unicode property
classes (``\\p{L}`` letters, ``\\p{Z}`` separators, ``\\p{N}`` numbers, ``\\p{P}``
punctuation, ``\\p{M}`` marks, ``\\p{Print}``), a ``-`` after a class shorthand inside a
set (``[\\w-_]``), and surrogate-pair ranges. :func:`compile_pattern` rewrites them to
Python's equivalents (each property as the closest set ``re`` has) and anchors the whole
pattern unless it anchors itself; a pattern it still cannot compile is reported as
``None`` (the caller then skips that one check and says so in its docs).
"""

from __future__ import annotations

import functools
import re

__all__ = ["compile_pattern"]

_PROPERTIES = {
    "L": r"^\W\d_",  # letters, as a negated set member; see _set_member
    "Z": r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    "N": r"\d",
    "P": r"!-/:-@\[-`{-~\u00a1-\u00bf",
    "M": r"\u0300-\u036f",
    "Print": r"\x20-\x7e\u00a0-\uffff",
}


def _rewrite(pattern: str) -> str:
    # \p{L} inside a set: Python has no letter class, so [\p{L}...] becomes
    # (?:[^\W\d_]|[...rest...]); outside a set it becomes [^\W\d_].
    out = pattern.replace(r"\w-", r"\w\-")
    out = re.sub(r"\\u(D[89AB][0-9A-F]{2})\\u(D[C-F][0-9A-F]{2})", "", out)
    out = re.sub(r"\\u[dD][89abAB][0-9a-fA-F]{2}-\\u[dD][b-fB-F][0-9a-fA-F]{2}", "", out)
    letters = r"\p{L}"
    if letters in out:
        sets = re.findall(r"\[[^\]]*\\p\{L\}[^\]]*\]", out)
        for found in sets:
            rest = found.replace(letters, "")
            rest_part = f"|{rest}" if rest != "[]" else ""
            out = out.replace(found, rf"(?:[^\W\d_]{rest_part})")
        out = out.replace(letters, r"[^\W\d_]")
    for name, members in _PROPERTIES.items():
        if name == "L":
            continue
        token = rf"\p{{{name}}}"
        inside = re.findall(r"\[[^\]]*" + re.escape(token) + r"[^\]]*\]", out)
        for found in inside:
            out = out.replace(found, found.replace(token, members))
        out = out.replace(token, f"[{members}]")
    return out


@functools.cache
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` as a compiled Python regex that must match a whole value (unless the
    pattern anchors itself with ``^``/``$``); ``None`` if it cannot be translated."""
    text = _rewrite(pattern)
    flags = ""
    if text.startswith("(?i)"):
        flags, text = "(?i)", text[4:]
    if not (text.startswith("^") or text.endswith("$")):
        text = f"(?:{text})\\Z"
    text = flags + text
    try:
        return re.compile(text)
    except re.error:
        return None
