"""Where the CLI finds the values of a workload's secrets.

A workload names its secrets by key (``secrets: [{key: db/password, type: env}]``); the
provider asks the CLI's resolver for each value while it creates or updates units
(``up``, ``deploy``, ``rollback``, ``scale``, ``start``, ``restart``). The resolver
tries, in this order, every source that is configured:

1. a dotenv file: ``--secrets-file FILE``, else ``[secrets] dotenv`` of ``ctrlplane.toml``
   (:class:`~ctrlplane.secrets.DotenvResolver`);
2. a directory of files: ``--secrets-dir DIR``, else ``[secrets] dir``
   (:class:`~ctrlplane.secrets.DirectoryResolver`: ``DIR/<tenant>/<instance>/<key>``,
   then ``DIR/<key>``);
3. environment variables: prefix ``--secrets-env-prefix``, else ``[secrets] env_prefix``,
   else ``CTRLPLANE_SECRET_`` (:class:`~ctrlplane.secrets.EnvResolver`:
   ``$CTRLPLANE_SECRET_DB_PASSWORD`` for ``db/password``); always tried last.

Paths in the config file are relative to the file's directory. A key found nowhere is
:class:`~ctrlplane.errors.SecretNotFound` naming every place looked in. Every value
resolved is also taught to :attr:`ChainResolver.redactor`, so what the CLI prints from
the workload (log lines of a failed deploy) is scrubbed of it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ctrlplane.errors import InvalidSpec, Problem, SecretNotFound

if TYPE_CHECKING:
    from ctrlplane.cli.context import CliState
    from ctrlplane.provider.redaction import Redactor
    from ctrlplane.provider.spec import SecretRef
    from ctrlplane.secrets import SecretResolver

__all__ = ["DEFAULT_ENV_PREFIX", "ChainResolver", "SecretSources"]

DEFAULT_ENV_PREFIX = "CTRLPLANE_SECRET_"
"""The prefix of secret variables when neither a flag nor the config file names one."""


class ChainResolver:
    """Tries each resolver in order; the first that has the key answers.

    Every value it hands out is taught to :attr:`redactor`.
    """

    def __init__(self, resolvers: Sequence[SecretResolver]) -> None:
        from ctrlplane.provider.redaction import Redactor

        self.resolvers = list(resolvers)
        self.redactor: Redactor = Redactor()

    def __repr__(self) -> str:
        return f"ChainResolver({', '.join(repr(r) for r in self.resolvers)})"

    async def resolve(self, ref: SecretRef, *, tenant_id: str, instance_id: str) -> bytes:
        looked: list[str] = []
        for resolver in self.resolvers:
            try:
                value = await resolver.resolve(ref, tenant_id=tenant_id, instance_id=instance_id)
            except SecretNotFound as exc:
                looked.append(str(exc).partition("(looked in ")[2].rstrip(")") or repr(resolver))
                continue
            self.redactor.add([value])
            return value
        raise SecretNotFound(ref.key, looked_in="; ".join(looked))


@dataclass(frozen=True)
class SecretSources:
    """The configured sources (see the module docs)."""

    dotenv: Path | None = None
    directory: Path | None = None
    env_prefix: str = DEFAULT_ENV_PREFIX

    @classmethod
    def choose(cls, state: CliState) -> SecretSources:
        """The flags of ``state``, else the ``[secrets]`` table of its config file."""
        config = state.config
        table = config.secrets
        base = config.path.parent if config.path is not None else Path.cwd()

        def from_file(key: str) -> Path | None:
            value = table.get(key)
            return (base / Path(value).expanduser()) if value else None

        dotenv = Path(state.secrets_file) if state.secrets_file else from_file("dotenv")
        directory = Path(state.secrets_dir) if state.secrets_dir else from_file("dir")
        prefix = state.secrets_env_prefix or table.get("env_prefix") or DEFAULT_ENV_PREFIX
        sources = cls(dotenv=dotenv, directory=directory, env_prefix=prefix)
        sources.check(config_file=str(config.path) if config.path else "")
        return sources

    def check(self, *, config_file: str = "") -> None:
        """Refuse a dotenv file that does not exist or does not parse, or a directory
        that does not exist (exit 2)."""
        problems = []
        if self.dotenv is not None and not self.dotenv.is_file():
            problems.append(Problem("secrets file", f"{self.dotenv} does not exist"))
        elif self.dotenv is not None:
            from ctrlplane.secrets import parse_dotenv

            try:
                parse_dotenv(self.dotenv.read_text(encoding="utf-8"), source=str(self.dotenv))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                problems.append(Problem("secrets file", str(exc)))
        if self.directory is not None and not self.directory.is_dir():
            problems.append(Problem("secrets dir", f"{self.directory} is not a directory"))
        if problems:
            subject = f"secret sources (config file {config_file})" if config_file else "option"
            raise InvalidSpec(problems, subject=subject)

    def resolver(self) -> ChainResolver:
        """The chain of resolvers, in the documented order."""
        from ctrlplane.secrets import DirectoryResolver, DotenvResolver, EnvResolver

        chain: list[SecretResolver] = []
        if self.dotenv is not None:
            chain.append(DotenvResolver(self.dotenv))
        if self.directory is not None:
            chain.append(DirectoryResolver(self.directory))
        chain.append(EnvResolver(self.env_prefix, os.environ))
        return ChainResolver(chain)

    def describe(self) -> list[str]:
        """Where values are looked for, in order (for ``doctor`` and errors)."""
        out = []
        if self.dotenv is not None:
            out.append(f"dotenv file {self.dotenv}")
        if self.directory is not None:
            out.append(f"directory {self.directory}")
        out.append(f"environment variables {self.env_prefix}<KEY>")
        return out
