"""Files delivered into containers as tar archives (pure functions, no I/O).

Secret files (``file`` and ``tls`` secrets) and config files are written into a created
container with the engine's archive API before it starts: nothing is bind-mounted from
the caller's machine, so delivery works with a remote engine, and the values never
appear in labels, the command line or the container's configuration.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["FileEntry", "build_tar", "read_tar_file"]

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
    """Content and mode of the first regular file in ``tar`` (what a GET archive of one
    file path returns); ``None`` if it holds no regular file."""
    for member in tar.getmembers():
        if member.isfile():
            handle = tar.extractfile(member)
            if handle is None:
                return None
            return handle.read(), member.mode
    return None
