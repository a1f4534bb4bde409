"""What a service gets at creation besides its spec, in the form the engine takes it
(pure, no I/O): secret env variables, files delivered as a tar archive, pull credentials.

Secret files (``file`` and ``tls`` secrets) and config files are written into a created
container with the engine's archive API before it starts: nothing is bind-mounted from
the caller's machine, so delivery works with a remote engine, and the values never
appear in labels, the command line or the container's configuration. Resolving the
values (through the :class:`~ctrlplane.secrets.SecretResolver`) is I/O and lives in
:mod:`ctrlplane.provider.docker.materials`.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ctrlplane.provider.docker.config import DockerConfig
from ctrlplane.registry_logins import registry_host

__all__ = [
    "CONFIG_MODE",
    "SECRET_MODE",
    "FileEntry",
    "ServiceMaterials",
    "build_tar",
    "read_tar_file",
    "redact",
    "registry_auth",
]

SECRET_MODE = 0o400
CONFIG_MODE = 0o444


@dataclass(frozen=True, slots=True)
class FileEntry:
    """A file to write at absolute ``path`` with ``mode`` (owned by root)."""

    path: str
    data: bytes
    mode: int

    def __repr__(self) -> str:  # never show the content
        return f"FileEntry({self.path!r}, <{len(self.data)} bytes>, mode={self.mode:o})"


@dataclass(frozen=True, slots=True)
class ServiceMaterials:
    """Secret env vars, files to write, and pull credentials of one service.

    ``repr`` shows names and paths only, never values.
    """

    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    files: tuple[FileEntry, ...] = ()
    pull_auth: Mapping[str, str] | None = field(default=None, repr=False)

    def secret_values(self) -> list[str]:
        """Resolved secret values (env, secret files, pull password), for redacting output."""
        values = list(self.env.values())
        values += [f.data.decode("utf-8", "replace") for f in self.files if f.mode == SECRET_MODE]
        if self.pull_auth:
            values.append(self.pull_auth.get("password", ""))
        return [v for v in values if v]

    def __repr__(self) -> str:
        return (
            f"ServiceMaterials(env={sorted(self.env)}, files={[f.path for f in self.files]}, "
            f"pull_auth={'set' if self.pull_auth else 'none'})"
        )


def registry_auth(config: DockerConfig, image: str) -> dict[str, str] | None:
    """Configured pull credentials for ``image``'s registry, if any."""
    host = registry_host(image)
    cred = config.registry_auth.get(host)
    if cred is None:
        return None
    return {
        "username": cred.username,
        "password": cred.password.get_secret_value(),
        "serveraddress": cred.serveraddress or host,
    }


def redact(text: str, secrets: Mapping[str, ServiceMaterials]) -> str:
    """``text`` with every resolved secret value of ``secrets`` replaced by a marker
    (container output quoted in errors may print a secret)."""
    values = sorted({v for m in secrets.values() for v in m.secret_values()}, key=len)
    for value in reversed(values):
        text = text.replace(value, "<redacted>")
        stripped = value.strip()
        if stripped and stripped != value:
            text = text.replace(stripped, "<redacted>")
    return text


def build_tar(files: Iterable[FileEntry]) -> bytes:
    """A tar archive, to extract at ``/``, holding ``files`` and their parent directories."""
    buf = io.BytesIO()
    now = time.time()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            rel = posixpath.normpath(entry.path).lstrip("/")
            parent = posixpath.dirname(rel)
            chain: list[str] = []
            while parent and parent not in dirs:
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for d in reversed(chain):
                info = tarfile.TarInfo(d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = int(now)
                tar.addfile(info)
                dirs.add(d)
            info = tarfile.TarInfo(rel)
            info.size = len(entry.data)
            info.mode = entry.mode
            info.mtime = int(now)
            tar.addfile(info, io.BytesIO(entry.data))
    return buf.getvalue()


def read_tar_file(tar: tarfile.TarFile) -> tuple[bytes, int] | None:
    """Content and mode of the first regular file in ``tar`` (what the engine's archive
    of one file path holds: the inverse of :func:`build_tar` for one file); ``None`` if
    it holds no regular file."""
    for member in tar.getmembers():
        if member.isfile():
            handle = tar.extractfile(member)
            if handle is None:
                return None
            return handle.read(), member.mode
    return None
