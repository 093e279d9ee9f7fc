"""The data directory (``SPARK_DATA_DIR``): the CSV files a run may read, listed with what they hold, and uploads
stored there atomically.

- `DataLibrary.list` describes every file the csv feed can open (a ``*.csv`` name, not hidden, a regular file right
  inside the folder, symlinks only to files beside it), sorted by name. Each file is parsed once per (inode, mtime,
  size), so a list does not re-read unchanged files; one that does not parse is listed with its error. Blocking:
  callers on the event loop run it in a thread.
- `check_upload_name` and `upload_name_from_filename`: the only names an upload may take (plain
  ``[A-Za-z0-9._-]``, ``.csv``), from a name the client gave or derived from a browser's file name.
- `stage_upload` parses the bytes into Candles first (`summarise`; a bad file is a DataError naming its line, and
  nothing is written), then writes them to a hidden temp file in the folder (fsync). `StagedUpload.commit` puts it
  in place (a hard link, so an existing name is never overwritten unless ``replace``; then the old file is kept
  aside until `close`), `undo` takes the commit back (the audit could not be written), `close` removes what is
  left. No reader ever sees a half-written file under a listed name.

Parsing is CPU work that holds the GIL (a 1,000,000-row file for a second or more), so the HTTP layer hands big
files to a worker process: `DataLibrary` takes the ``describe`` function it calls for a file that changed, and
`stage_upload` the ``summarise`` function; the defaults parse in the calling thread. Both are module-level
functions of plain arguments, so they run in another process as they are.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spark.engine.candles import Candles
from spark.errors import Conflict, DataError, ParamError, SparkError
from spark.service.datafiles import load_candles

__all__ = [
    "MAX_FILES",
    "DataLibrary",
    "StagedUpload",
    "check_upload_name",
    "describe_candles",
    "describe_file",
    "stage_upload",
    "summarise",
    "upload_name_from_filename",
]

MAX_FILES = 1000  # listed at most (by name); "total" counts them all
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.csv")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_TEMP_PREFIX = ".upload-"
_STALE_S = 3600.0  # a temp file this old was left by a crash: removed by the next upload
Describe = Callable[[Path, str, os.stat_result], dict[str, Any]]
_NOT_READ = {
    "bars": None,
    "timeframe": None,
    "start": None,
    "end": None,
    "symbol": None,
    "format": None,
    "delimiter": None,
    "volume": None,
}


def check_upload_name(name: str, field_name: str = "name") -> str:
    """``name`` if an upload may be stored under it; ParamError naming ``field_name`` otherwise."""
    if not _NAME.fullmatch(name):
        raise ParamError(
            f"{field_name} must be a plain file name: a letter or digit, then letters, digits and ._- , ending in "
            f".csv, at most 100 characters; got {name[:60]!r}",
            field=field_name,
        )
    return name


def upload_name_from_filename(filename: str) -> str:
    """A safe name from a browser's file name: its last path part, other characters turned into ``_``, a ``.csv``
    suffix of any case kept as ``.csv``. ParamError (field ``file``) when it is not a .csv file or nothing is left."""
    base = re.split(r"[\\/]", filename)[-1].strip()
    stem, dot, suffix = base.rpartition(".")
    if not dot or suffix.lower() != "csv":
        raise ParamError(f"the uploaded file must be a .csv file, got {base[:60]!r}", field="file")
    safe = _UNSAFE.sub("_", stem).lstrip("._-")[:96]
    if not safe:
        raise ParamError(f"no usable file name in {base[:60]!r}; give one with ?name=", field="file")
    return check_upload_name(safe + ".csv", "file")


def describe_candles(candles: Candles) -> dict[str, Any]:
    """What a list shows of a file's candles: bars, timeframe, first and last bar (epoch ms), symbol, layout."""
    source = candles.source
    return {
        "bars": len(candles),
        "timeframe": candles.timeframe,
        "start": int(candles.timestamp[0]),
        "end": int(candles.timestamp[-1]),
        "symbol": candles.symbol,
        "format": source.get("format"),
        "delimiter": source.get("delimiter"),
        "volume": source.get("volume"),
        "error": None,
    }


def _file_fields(name: str, st: os.stat_result) -> dict[str, Any]:
    return {"name": name, "bytes": st.st_size, "modifiedAt": st.st_mtime_ns // 1_000_000}


def _parse(name: str, raw: bytes) -> Candles:
    buffer = io.BytesIO(raw)
    buffer.name = name  # messages name the file, never the folder
    return load_candles(buffer)


def summarise(name: str, content: bytes) -> dict[str, Any]:
    """`describe_candles` of an upload's bytes read as the file ``name``; DataError naming the line if they do not
    parse."""
    return describe_candles(_parse(name, content))


def describe_file(path: Path, name: str, st: os.stat_result) -> dict[str, Any]:
    """A file's description under ``name`` (``st``: its stat, the cache key's); never raises: a file that cannot be
    read or parsed has its ``error`` and nulls."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return {**_file_fields(name, st), **_NOT_READ, "error": f"{name}: cannot read: {exc.strerror or exc}"}
    try:
        summary = describe_candles(_parse(name, raw))
    except DataError as exc:
        summary = {**_NOT_READ, "error": exc.message}
    return {**_file_fields(name, st), **summary}


def _readable(root: Path) -> list[tuple[str, Path]]:
    """(name, real path) of the files the csv feed would open, by name."""
    try:
        entries = sorted(entry.name for entry in os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name in entries:
        if not name.endswith(".csv") or name.startswith(".") or any(c in name for c in "\\:\0"):
            continue
        real = Path(os.path.realpath(root / name))
        if real.parent == root and real.is_file():
            found.append((name, real))
    return found


class DataLibrary:
    """Describes the files of a data directory, caching each description by (inode, mtime, size)."""

    def __init__(self, *, max_files: int = MAX_FILES, describe: Describe = describe_file) -> None:
        self._max_files = max_files
        self._describe = describe
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
        self._lock = threading.Lock()  # one list at a time: a second waits and finds the cache warm
        self.parsed = 0  # files parsed so far (what the cache saves is visible)

    def list(self, data_dir: Path) -> dict[str, Any]:
        """``{"files": [description...], "total": n}``; at most ``max_files`` are described, by name."""
        root = Path(os.path.realpath(data_dir))
        with self._lock:
            readable = _readable(root)
            cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}
            files = []
            for name, real in readable[: self._max_files]:
                try:
                    st = real.stat()
                except OSError:
                    continue  # gone meanwhile
                key = (st.st_ino, st.st_mtime_ns, st.st_size)
                cached = self._cache.get(f"{name}\0{real}")
                if cached is not None and cached[0] == key:
                    description = cached[1]
                else:
                    description = self._describe(real, name, st)
                    self.parsed += 1
                cache[f"{name}\0{real}"] = (key, description)
                files.append(description)
            self._cache = cache
        return {"files": files, "total": len(readable)}


@dataclass(kw_only=True)
class StagedUpload:
    """A validated upload in a temp file of the data directory, not yet under its name. Blocking methods."""

    root: Path
    name: str
    replace: bool
    temp: Path
    summary: dict[str, Any]
    backup: Path | None = None
    committed: bool = field(default=False)

    @property
    def path(self) -> Path:
        return self.root / self.name

    def commit(self) -> dict[str, Any]:
        """Put the file under its name and return its description; Conflict when the name is taken (and not
        ``replace``) or is a folder."""
        final = self.path
        try:
            if self.replace:
                if os.path.lexists(final) and not final.is_dir():
                    backup = self.root / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.bak"
                    os.link(final, backup, follow_symlinks=False)
                    self.backup = backup
                os.replace(self.temp, final)
            else:
                os.link(self.temp, final)
                self.temp.unlink()
        except FileExistsError:
            raise Conflict(
                f"a data file named {self.name!r} exists; add ?replace=true to overwrite it", field="name"
            ) from None
        except IsADirectoryError:
            raise Conflict(f"{self.name!r} is a folder in the data directory", field="name") from None
        except OSError as exc:
            raise SparkError(f"cannot store the upload in the data directory: {exc.strerror or exc}") from None
        self.committed = True
        _sync_dir(self.root)
        return {**_file_fields(self.name, final.stat()), **self.summary}

    def undo(self) -> None:
        """Take a commit back: the old file returns under the name (or the name goes away)."""
        if not self.committed:
            return
        if self.backup is not None:
            os.replace(self.backup, self.path)
            self.backup = None
        else:
            self.path.unlink(missing_ok=True)
        self.committed = False
        _sync_dir(self.root)

    def close(self) -> None:
        """Remove the temp file and the kept-aside old file, whatever happened."""
        for path in (self.temp, self.backup):
            if path is not None:
                path.unlink(missing_ok=True)
        self.backup = None


def stage_upload(
    data_dir: Path,
    name: str,
    content: bytes,
    *,
    replace: bool = False,
    summarise: Callable[[str, bytes], dict[str, Any]] = summarise,
) -> StagedUpload:
    """Validate ``content`` as candles (``summarise``) and write it to a temp file beside its final name ``name``.

    Raises ParamError (a bad name), Conflict (the name is taken and not ``replace``: checked before parsing, and
    again by `StagedUpload.commit`), DataError (the file does not parse; nothing written) or SparkError (the folder
    cannot be written)."""
    check_upload_name(name)
    root = Path(os.path.realpath(data_dir))
    if not replace and os.path.lexists(root / name):
        raise Conflict(f"a data file named {name!r} exists; add ?replace=true to overwrite it", field="name")
    summary = summarise(name, content)
    try:
        root.mkdir(parents=True, exist_ok=True)
        _sweep_stale(root)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".tmp", dir=root)
    except OSError as exc:
        raise SparkError(f"cannot write to the data directory: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise SparkError(f"cannot write to the data directory: {exc.strerror or exc}") from None
    return StagedUpload(root=root, name=name, replace=replace, temp=Path(temp), summary=summary)


def _sweep_stale(root: Path) -> None:
    cutoff = time.time() - _STALE_S
    for entry in os.scandir(root):
        if entry.name.startswith(_TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass


def _sync_dir(root: Path) -> None:
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
