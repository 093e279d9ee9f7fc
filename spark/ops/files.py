"""Small file helpers for the operator tools: an atomic writer and a streaming sha256.

The atomic writer follows the evidence rule of DESIGN.md (temp file, fsync, rename, fsync the folder), so a crash
during a restore leaves either the old file or the new one, never half of each.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_chunks", "fsync_dir", "sha256_file", "sha256_stream"]

_CHUNK = 1 << 16


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable (no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_chunks(path: Path, chunks: Iterable[bytes], *, mtime: float | None = None) -> None:
    """Write ``chunks`` to ``path`` atomically: a temp file beside it, fsync, optional mtime, rename, fsync folder.

    The temp file is removed if anything fails; the folder must exist.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """Hex sha256 and byte count of everything left in ``stream``."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    """Hex sha256 and size of the file at ``path``."""
    with path.open("rb") as f:
        return sha256_stream(f)
