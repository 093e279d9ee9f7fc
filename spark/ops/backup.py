"""Backups of evidence and audit logs: one tar.gz with a sha256 manifest, and a restore that trusts nothing.

Archive layout: ``evidence/<path under evidence_dir>``, ``audit/<path under audit_dir>``, then ``MANIFEST.json``
(``{"format": "spark-backup", "version": 1, "createdAt", "files": [{path, sha256, bytes, mtime}]}``).

Restore checks the whole archive before it writes anything: gzip and tar intact, every member a plain file with a
relative name under ``evidence/`` or ``audit/`` (no absolute paths, no ``..``, no links), members and manifest in
one-to-one agreement, every checksum right. Then each file is restored when missing, overwritten when it differs and
is not newer than its copy in the backup, and kept when it is newer (a run that moved on since the backup, or a
file damaged since) unless ``force``. Files are written atomically with the archived mtime. Restore never deletes
anything. A bad archive raises `spark.errors.InputError`, and then nothing has been written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from spark.errors import InputError
from spark.ops.files import atomic_write_chunks, fsync_dir, sha256_file, sha256_stream

__all__ = [
    "MANIFEST",
    "ROOTS",
    "BackupReport",
    "Entry",
    "RestoreReport",
    "create_backup",
    "default_backup_path",
    "restore_backup",
]

MANIFEST = "MANIFEST.json"
ROOTS = ("evidence", "audit")
_FORMAT, _VERSION = "spark-backup", 1
_SHA = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One file in a backup: its member name (``evidence/...`` or ``audit/...``), checksum, size and mtime."""

    path: str
    sha256: str
    bytes: int
    mtime: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupReport:
    path: Path
    files: int
    bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreReport:
    restored: list[str] = field(default_factory=list)  # were missing
    overwritten: list[str] = field(default_factory=list)  # differed (older on disk, or newer with force)
    unchanged: list[str] = field(default_factory=list)  # identical already
    kept: list[str] = field(default_factory=list)  # newer on disk, left alone (no force)


def default_backup_path(folder: Path = Path("backups"), now: datetime | None = None) -> Path:
    """``<folder>/spark-backup-<UTC date and time>.tar.gz`` (``backups/`` under the current folder by default):
    backups taken on the same day, or even within the same second (``-2``, ``-3``... then), get their own names."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"spark-backup-{stamp}.tar.gz"
    n = 1
    while path.exists() or path.is_symlink():
        n += 1
        path = folder / f"spark-backup-{stamp}-{n}.tar.gz"
    return path


def create_backup(evidence_dir: Path, audit_dir: Path, out: Path) -> BackupReport:
    """Archive every regular file under both folders into ``out`` (written atomically; never overwritten).

    Symlinks and temp files left by atomic writers (``.*.tmp``) are skipped. Each file is read once, hashed while
    it is copied, so a file that grows meanwhile (today's audit log) is archived consistently with its checksum.
    """
    if out.exists():
        raise InputError(f"{out} already exists: choose another --out")
    if not out.parent.is_dir():
        if out.parent.exists():
            raise InputError(f"{out.parent} is not a folder")
        out.parent.mkdir(parents=True)
    files = [
        (f"{root}/{rel}", path)
        for root, base in zip(ROOTS, (evidence_dir, audit_dir), strict=True)
        for rel, path in _walk(base, skip=out)
    ]
    if not files:
        raise InputError(f"nothing to back up: no files under {evidence_dir} or {audit_dir}")
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    entries: list[Entry] = []
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
                for name, path in files:
                    entry = _add_file(tar, name, path)
                    if entry is not None:
                        entries.append(entry)
                manifest = {
                    "format": _FORMAT,
                    "version": _VERSION,
                    "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "files": [_entry_json(e) for e in entries],
                }
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
            raw.flush()
            os.fsync(raw.fileno())
        os.chmod(tmp, 0o600)  # evidence and audit lines are not for everyone on the machine
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(out.parent)
    return BackupReport(path=out, files=len(entries), bytes=sum(e.bytes for e in entries))


def restore_backup(
    archive: Path,
    evidence_dir: Path,
    audit_dir: Path,
    *,
    force: bool = False,
    only: tuple[str, ...] = ROOTS,
    dry_run: bool = False,
) -> RestoreReport:
    """Verify ``archive`` completely, then write back the files of the ``only`` roots that are missing or differ.

    Raises InputError for a missing, damaged, tampered or unsafe archive (nothing written). With ``dry_run`` the
    report says what would happen and nothing is written.
    """
    bases = dict(zip(ROOTS, (evidence_dir, audit_dir), strict=True))
    if not archive.is_file():
        raise InputError(f"{archive}: no such backup file")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            entries = _verify(tar, archive)
            plan = _plan(entries, bases, only, force)
            report = RestoreReport()
            for action, entry, target in plan:
                if action in ("restored", "overwritten") and not dry_run:
                    _mkdirs(target.parent)
                    member = tar.extractfile(entry.path)
                    assert member is not None  # _verify checked it is a regular file
                    atomic_write_chunks(target, _checked_chunks(member, entry), mtime=entry.mtime)
                getattr(report, action).append(entry.path)
            return report
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, OSError) and not _is_archive_error(exc):
            raise
        raise InputError(f"{archive}: damaged or not a Spark backup ({exc})") from None


# -- backup helpers ---------------------------------------------------------------------------------------------


def _walk(base: Path, *, skip: Path) -> Iterator[tuple[str, Path]]:
    if not base.is_dir():
        return
    skip_abs = skip.resolve()
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not Path(dirpath, d).is_symlink())
        for name in filenames:
            path = Path(dirpath, name)
            if name.startswith(".") and name.endswith(".tmp"):
                continue
            if path.is_symlink() or not path.is_file() or path.resolve() == skip_abs:
                continue
            found.append((path.relative_to(base).as_posix(), path))
    yield from sorted(found)


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> Entry | None:
    try:
        src = path.open("rb")
    except FileNotFoundError:  # removed since the walk: nothing to keep
        return None
    with src, tempfile.SpooledTemporaryFile(max_size=8 << 20) as copy:
        st = os.fstat(src.fileno())
        digest, size = hashlib.sha256(), 0
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            copy.write(chunk)
            size += len(chunk)
        copy.seek(0)
        info = _tarinfo(name, size, st.st_mtime)
        tar.addfile(info, copy)
    return Entry(path=name, sha256=digest.hexdigest(), bytes=size, mtime=st.st_mtime)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_tarinfo(name, len(data), datetime.now(UTC).timestamp()), io.BytesIO(data))


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, mtime, 0o644, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _entry_json(e: Entry) -> dict[str, Any]:
    return {"path": e.path, "sha256": e.sha256, "bytes": e.bytes, "mtime": e.mtime}


# -- restore helpers --------------------------------------------------------------------------------------------


def _is_archive_error(exc: OSError) -> bool:
    """gzip reports a damaged stream as a plain OSError (BadGzipFile); real I/O errors carry an errno."""
    return exc.errno is None


def _verify(tar: tarfile.TarFile, archive: Path) -> list[Entry]:
    members: dict[str, tarfile.TarInfo] = {}
    for info in tar.getmembers():  # reads the whole stream: a truncated or corrupt gzip fails here
        name = info.name
        if not info.isreg():
            raise InputError(f"{archive}: member {name!r} is not a regular file (links and devices are refused)")
        _check_name(archive, name)
        if name in members:
            raise InputError(f"{archive}: member {name!r} appears twice")
        members[name] = info
    if MANIFEST not in members:
        raise InputError(f"{archive}: no {MANIFEST}: not a Spark backup")
    entries = _read_manifest(tar, archive)
    listed = {e.path for e in entries}
    stored = set(members) - {MANIFEST}
    if listed != stored:
        odd = sorted(listed ^ stored)[0]
        raise InputError(
            f"{archive}: member {odd!r} is {'missing' if odd in listed else 'not in the manifest'}: "
            "archive damaged or tampered"
        )
    for entry in entries:
        member = tar.extractfile(entry.path)
        assert member is not None
        digest, size = sha256_stream(member)
        if digest != entry.sha256 or size != entry.bytes:
            raise InputError(f"{archive}: checksum mismatch for {entry.path}: archive damaged or tampered")
    return entries


def _check_name(archive: Path, name: str) -> None:
    p = PurePosixPath(name)
    if name != MANIFEST and (
        p.is_absolute()
        or "\\" in name
        or any(part in ("", ".", "..") for part in name.split("/"))
        or len(p.parts) < 2
        or p.parts[0] not in ROOTS
    ):
        raise InputError(f"{archive}: unsafe member name {name!r} (absolute, '..', or outside evidence/ audit/)")


def _read_manifest(tar: tarfile.TarFile, archive: Path) -> list[Entry]:
    raw = tar.extractfile(MANIFEST)
    assert raw is not None
    try:
        doc = json.loads(raw.read())
        if doc.get("format") != _FORMAT or doc.get("version") != _VERSION:
            raise ValueError(f"format {doc.get('format')!r} version {doc.get('version')!r}")
        entries = []
        for item in doc["files"]:
            entry = Entry(
                path=str(item["path"]), sha256=str(item["sha256"]), bytes=int(item["bytes"]), mtime=float(item["mtime"])
            )
            if not _SHA.match(entry.sha256) or entry.bytes < 0:
                raise ValueError(f"bad entry for {entry.path!r}")
            entries.append(entry)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{archive}: unreadable {MANIFEST} ({exc})") from None
    return entries


def _plan(
    entries: list[Entry], bases: dict[str, Path], only: tuple[str, ...], force: bool
) -> list[tuple[str, Entry, Path]]:
    """(action, entry, target) per file of the selected roots; action names a `RestoreReport` list."""
    plan: list[tuple[str, Entry, Path]] = []
    for entry in entries:
        root, rel = entry.path.split("/", 1)
        if root not in only:
            continue
        target = bases[root].joinpath(*rel.split("/"))
        _refuse_links(bases[root], target)
        try:
            st = target.lstat()
        except FileNotFoundError:
            plan.append(("restored", entry, target))
            continue
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{target} exists and is not a regular file: nothing restored")
        if sha256_file(target) == (entry.sha256, entry.bytes):
            plan.append(("unchanged", entry, target))
            continue
        plan.append(("kept" if st.st_mtime > entry.mtime and not force else "overwritten", entry, target))
    return plan


def _refuse_links(base: Path, target: Path) -> None:
    """No folder between ``base`` and ``target`` may be a symlink: a restore never writes outside its roots."""
    current = base
    for part in target.relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            raise InputError(f"{current} is a symlink: nothing restored")


def _mkdirs(folder: Path) -> None:
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(folder.parent)


def _checked_chunks(stream: IO[bytes], entry: Entry) -> Iterator[bytes]:
    """The member's bytes; raises before the atomic rename if they no longer match the verified checksum."""
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        yield chunk
    if digest.hexdigest() != entry.sha256:
        raise InputError(f"{entry.path}: archive changed while restoring")
