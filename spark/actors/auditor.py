"""The auditor: the only writer of ``logs/audit/backtest_YYYYMMDD.log`` (one file per UTC day).

One compact JSON line per mutation attempt: ``{timestamp, action, ip, user, id, payload, success}`` plus ``error``
on failure. The file is opened O_APPEND, each line goes out in one ``os.write``, and the file is fsynced before any
caller of that line is answered; lines waiting together share one fsync (group commit). Creating a day's file fsyncs
the folder too. At start-up a torn last line (a crash in the middle of a write) is cut off. If a batch cannot be
written whole (a failed or short write, a failed fsync: a full disk, a file size limit), every file it touched is cut
back to its size before the batch, so no partial line is left for the next one to be glued onto and no line of a
refused mutation stays; a cut that fails itself is retried before anything else is appended to that file. The
callers of that batch get Unavailable (503): the mutation must then not happen. The admin token is never written:
should it appear anywhere in a line, it is replaced. A string a client sent that UTF-8 cannot encode (a lone
surrogate) is written out as its escape text (``\\ud800``), so every line is valid UTF-8 and valid JSON.

All blocking file work runs in a worker thread (``trio.to_thread``), one batch at a time (``threads=False`` writes
inline: deterministic under a mock clock in tests).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio

from spark.actors.messages import AuditLine
from spark.errors import Unavailable
from spark.logs import fields

__all__ = ["AUDIT_RETRY_S", "BATCH_MAX", "audit_line", "audit_path", "iso_utc", "repair", "run"]

log = logging.getLogger(__name__)

AUDIT_RETRY_S = 30  # Retry-After when the audit log cannot be written
BATCH_MAX = 256  # lines that may share one fsync
REDACTED = "[redacted]"


def iso_utc(ts: datetime) -> str:
    """``2025-10-08T12:00:00.123Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def audit_path(folder: Path, ts: datetime) -> Path:
    return folder / f"backtest_{ts.astimezone(UTC):%Y%m%d}.log"


async def run(
    *,
    inbox: trio.MemoryReceiveChannel,
    folder: Path,
    secret: Callable[[], str] = lambda: "",
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    threads: bool = True,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``inbox`` (AuditLine) until it closes. ``secret`` returns the admin token to keep out of the log;
    ``clock`` gives the wall-clock timestamp of each line. Repairs torn lines in ``folder`` before it is ready."""
    writer = _Writer(folder)
    try:
        await _blocking(threads, repair, folder)
    except OSError as exc:  # the folder is unusable now; each line will fail with Unavailable until it is fixed
        log.error("cannot check the audit folder %s: %s", folder, exc)
    async with inbox:
        task_status.started()
        try:
            async for first in inbox:
                batch = [first]
                while len(batch) < BATCH_MAX:
                    try:
                        batch.append(inbox.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await _write_batch(writer, batch, secret(), clock, threads)
        finally:
            writer.close()


async def _blocking(threads: bool, fn: Callable[..., Any], *args: Any) -> Any:
    if threads:
        return await trio.to_thread.run_sync(fn, *args)
    return fn(*args)


async def _write_batch(
    writer: _Writer, batch: list[AuditLine], secret: str, clock: Callable[[], datetime], threads: bool
) -> None:
    lines: list[tuple[Path, bytes]] = []
    for message in batch:
        ts = clock()
        text = audit_line({"timestamp": iso_utc(ts), **message.entry}, secret)
        lines.append((audit_path(writer.folder, ts), text.encode() + b"\n"))
    try:
        await _blocking(threads, writer.write, lines)
    except OSError as exc:
        log.error(
            "cannot write the audit log: %s",
            exc,
            extra=fields(
                event="audit_failed",
                error=str(exc),
                actions=[message.entry.get("action") for message in batch],
                lines=len(batch),
            ),
        )
        writer.close()
        error = Unavailable(
            f"the audit log cannot be written ({exc.strerror or exc}); nothing was changed", retry_after=AUDIT_RETRY_S
        )
        for message in batch:
            message.reply.fail(error)
        return
    for message in batch:
        message.reply.set(None)


def audit_line(entry: dict[str, Any], secret: str = "") -> str:
    """One compact JSON line. Wherever ``secret`` appears inside a value a client could have chosen (payload, id,
    ip, error), it is replaced; names and structure stay intact. A payload that cannot be serialised (too deep, say) is
    recorded as a short note instead, never allowed to stop the auditor."""
    try:
        text = _dumps(entry)
    except (TypeError, ValueError, RecursionError) as exc:
        entry = {**entry, "payload": f"[payload not loggable: {type(exc).__name__}]"}
        text = _dumps(entry)
    if secret and secret in text:
        text = _dumps({key: value if key in _FIXED else _scrub(value, secret) for key, value in entry.items()})
    return text


_FIXED = ("timestamp", "action", "user", "success")  # set by the service, never by a client


_SURROGATE = re.compile("[\ud800-\udfff]")


def _dumps(entry: dict[str, Any]) -> str:
    text = json.dumps(entry, separators=(",", ":"), default=str)
    if "\\ud" not in text:  # no character outside the BMP, and no lone surrogate
        return text
    raw = json.dumps(entry, separators=(",", ":"), default=str, ensure_ascii=False)
    if not _SURROGATE.search(raw):  # pairs only: characters outside the BMP, already well escaped
        return text
    return _SURROGATE.sub(lambda found: f"\\\\u{ord(found.group()):04x}", raw)


def _scrub(value: Any, secret: str) -> Any:
    """``value`` with ``secret`` replaced in every string inside it (keys included). Only called on values that
    serialised already, so the depth is bounded."""
    if isinstance(value, str):
        return value.replace(secret, REDACTED)
    if isinstance(value, dict):
        return {_scrub(str(key), secret): _scrub(item, secret) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item, secret) for item in value]
    return value


class _Writer:
    """The open day file; reopened when the day changes or the file on disk is no longer the one held open.

    ``_cut`` holds, per file, the size it must be cut back to before anything else is appended (a batch that
    failed and whose own cut failed too)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path: Path | None = None
        self.fd: int | None = None
        self._cut: dict[Path, int] = {}

    def write(self, lines: list[tuple[Path, bytes]]) -> None:
        """Append and fsync every line, or leave each file as it was before this batch and raise OSError."""
        before: dict[Path, int] = {}
        try:
            dirty: int | None = None
            for path, data in lines:
                fd = self._open(path)
                if path not in before:
                    before[path] = size = os.lseek(fd, 0, os.SEEK_END)
                    cut = self._cut.get(path)
                    if cut is not None and cut < size:  # an earlier failed batch is still there: cut it off first
                        os.ftruncate(fd, cut)
                        before[path] = cut
                    self._cut.pop(path, None)
                if dirty is not None and dirty != fd:
                    os.fsync(dirty)
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {path} ({written} of {len(data)} bytes)")
                dirty = fd
            if dirty is not None:
                os.fsync(dirty)
        except OSError:
            self._undo(before)
            raise

    def _undo(self, before: dict[Path, int]) -> None:
        """Cut each file back to its size before the failed batch; a cut that fails is kept for the next batch."""
        for path, size in before.items():
            try:
                if self.fd is not None and self.path == path:
                    os.ftruncate(self.fd, size)
                    os.fsync(self.fd)
                else:
                    os.truncate(path, size)
            except OSError as exc:
                log.error("audit log %s: cannot cut a failed write back to %d bytes: %s", path, size, exc)
                self._cut[path] = size
            else:
                log.warning("audit log %s: a failed write was cut back to %d bytes", path, size)

    def _open(self, path: Path) -> int:
        if self.fd is not None and self.path == path and self._same_file():
            return self.fd
        self.close()
        created = not path.exists()
        if created:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.fd, self.path = fd, path
        if created:
            _fsync_dir(path.parent)
        return fd

    def _same_file(self) -> bool:
        assert self.fd is not None and self.path is not None
        try:
            on_disk = os.stat(self.path)
        except OSError:
            return False
        held = os.fstat(self.fd)
        return (on_disk.st_dev, on_disk.st_ino) == (held.st_dev, held.st_ino)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = self.path = None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def repair(folder: Path) -> list[Path]:
    """Cut a torn (unterminated) last line off every audit file in ``folder``; returns the files repaired."""
    repaired: list[Path] = []
    if not folder.is_dir():
        return repaired
    for path in sorted(folder.glob("backtest_*.log")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("r+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                continue
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                continue
            keep = _last_newline_end(fh, size)
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("audit log %s: cut a torn last line (%d bytes)", path, size - keep)
        repaired.append(path)
    return repaired


def _last_newline_end(fh: Any, size: int) -> int:
    """The offset just after the last newline before ``size`` (0 if none), reading backwards in blocks."""
    end = size
    block = 65536
    while end > 0:
        start = max(0, end - block)
        fh.seek(start)
        chunk = fh.read(end - start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0
