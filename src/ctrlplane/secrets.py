"""Secret resolution: turning a :class:`SecretRef` into its value at provision/deploy time.

Specs carry only references (a key and a type). A provider asks its
:class:`SecretResolver` for each value while it creates the workload, hands the value to
the one service that references it, and forgets it. Values are ``bytes``; the resolvers
here return :class:`SecretBytes`, whose ``repr``/``str`` never show the content, so a
value that slips into a log line or an exception prints as ``<secret: 12 bytes>``.

Vault keys are ``<tenant>/<instance>/<key>`` as in the Go package (:func:`vault_key`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from ctrlplane.errors import InvalidSpec, SecretNotFound
from ctrlplane.provider.spec import SecretRef

__all__ = [
    "DirectoryResolver",
    "DotenvResolver",
    "EnvResolver",
    "MappingResolver",
    "SecretBytes",
    "SecretResolver",
    "env_var_name",
    "parse_dotenv",
    "vault_key",
]


class SecretBytes(bytes):
    """``bytes`` whose ``repr`` and ``str`` hide the content (``<secret: N bytes>``)."""

    def __repr__(self) -> str:
        return f"<secret: {len(self)} bytes>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)


def vault_key(tenant_id: str, instance_id: str, key: str) -> str:
    """The full vault key of a secret: ``<tenant>/<instance>/<key>``."""
    return f"{tenant_id}/{instance_id}/{key}"


@runtime_checkable
class SecretResolver(Protocol):
    """Resolves secret references to values. Implementations must not log values.

    ``resolve`` raises :class:`~ctrlplane.errors.SecretNotFound` (naming the key) when
    there is no value; it may raise :class:`~ctrlplane.errors.BackendUnavailable` when
    its store cannot be reached.
    """

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        """The value of ``ref`` for this tenant and instance."""
        ...


def _as_bytes(value: bytes | str) -> SecretBytes:
    return SecretBytes(value.encode() if isinstance(value, str) else value)


class MappingResolver:
    """In-memory values keyed by full vault key (tried first) or by bare secret key."""

    def __init__(self, values: Mapping[str, bytes | str]) -> None:
        self._values = {k: _as_bytes(v) for k, v in values.items()}

    def __repr__(self) -> str:
        return f"MappingResolver(<{len(self._values)} secrets>)"

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        for candidate in (vault_key(tenant_id, instance_id, ref.key), ref.key):
            if candidate in self._values:
                return self._values[candidate]
        raise SecretNotFound(ref.key, looked_in="the in-memory mapping")


def env_var_name(prefix: str, key: str) -> str:
    """The variable :class:`EnvResolver` reads for ``key``: prefix + upper-cased key, ``_`` for
    every character that is not a letter or digit (``db/password`` -> ``..._DB_PASSWORD``)."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", key).upper()


class EnvResolver:
    """Values from environment variables named ``prefix + KEY`` (see :func:`env_var_name`).

    The tenant- and instance-specific variable (``prefix + TENANT_INSTANCE_KEY``) is tried
    first, then the bare-key one.
    """

    def __init__(
        self, prefix: str = "CTRLPLANE_SECRET_", environ: Mapping[str, str] | None = None
    ) -> None:
        self._prefix = prefix
        self._environ = environ if environ is not None else os.environ

    def __repr__(self) -> str:
        return f"EnvResolver(prefix={self._prefix!r})"

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        names = [
            env_var_name(self._prefix, vault_key(tenant_id, instance_id, ref.key)),
            env_var_name(self._prefix, ref.key),
        ]
        for name in names:
            value = self._environ.get(name)
            if value is not None:
                return _as_bytes(value)
        raise SecretNotFound(ref.key, looked_in=" or ".join(f"${n}" for n in names))


class DirectoryResolver:
    """Values from files: ``root/<tenant>/<instance>/<key>`` first, then ``root/<key>``.

    Keys may contain ``/`` (sub-directories) but never escape ``root``.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"DirectoryResolver({str(self._root)!r})"

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        candidates = []
        if tenant_id and instance_id:
            candidates.append(vault_key(tenant_id, instance_id, ref.key))
        candidates.append(ref.key)
        for relative in candidates:
            path = (self._root / relative).resolve()
            if not path.is_relative_to(self._root):
                raise SecretNotFound(ref.key, looked_in=f"{self._root} (key escapes the root)")
            if path.is_file():
                return _as_bytes(path.read_bytes())
        raise SecretNotFound(ref.key, looked_in=str(self._root))


class DotenvResolver:
    """Values from a dotenv file: ``KEY=VALUE`` lines (``#`` comments, blank lines and an
    ``export`` prefix allowed; values in single quotes are literal, in double quotes
    ``\\n``, ``\\t``, ``\\"`` and ``\\\\`` are unescaped; an unquoted value ends at `` #``).

    A reference's value is the line named, first match wins: the full vault key
    (``acme/inst_.../db/password``), the bare key (``db/password``), then their variable
    forms (:func:`env_var_name` with no prefix: ``ACME_INST_..._DB_PASSWORD``,
    ``DB_PASSWORD``). The file is read at each resolution (never cached) and values are
    never logged; a line that is not ``KEY=VALUE`` is an error naming its line number.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)

    def __repr__(self) -> str:
        return f"DotenvResolver({str(self._path)!r})"

    def _values(self) -> dict[str, str]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretNotFound("*", looked_in=f"{self._path}: {exc.strerror or exc}") from None
        try:
            return parse_dotenv(text, source=str(self._path))
        except ValueError as exc:
            raise InvalidSpec(str(exc), subject="secrets file") from None

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        values = self._values()
        full = vault_key(tenant_id, instance_id, ref.key)
        for name in (full, ref.key, env_var_name("", full), env_var_name("", ref.key)):
            if name in values:
                return _as_bytes(values[name])
        raise SecretNotFound(ref.key, looked_in=str(self._path))


_DOTENV_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse_dotenv(text: str, *, source: str = "dotenv file") -> dict[str, str]:
    """``KEY=VALUE`` lines into a mapping (see :class:`DotenvResolver` for the syntax).

    A malformed line raises ``ValueError`` naming ``source`` and the line number, never
    the line itself (it may hold a secret).
    """
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key or any(c.isspace() for c in key):
            raise ValueError(f"{source} line {number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unescape(value[1:-1])
        else:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def _unescape(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            nxt = next(chars, "")
            out.append(_DOTENV_ESCAPES.get(nxt, "\\" + nxt))
        else:
            out.append(char)
    return "".join(out)
