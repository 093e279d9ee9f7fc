"""A live session's evidence: ``evidence/live/<id>/``, durable as it goes.

    session.json   the session document (status, market, strategy, params, options, feed state, the source's state
                   to reopen it, the override if any), rewritten atomically on every status or feed change
    candles.csv    every candle of the series (warm-up included), in Spark's CSV layout, appended and fsynced
    fills.jsonl    every fill, one JSON object a line (wire names), appended and fsynced after its candle
    corrections.jsonl  every correction of a candle by the exchange (its reconciliation), one a line: ``{ts, at,
                   ours, exchange, applied, reason}`` (``ours``/``exchange`` as ``[open, high, low, close, volume]``)

Candles go first and fills after, so after a crash the fills file lags the candles by at most one step; a resumed
session re-runs the engine over the recorded candles and appends the fills that are missing (`missing_fills`). A
line cut short by a crash (no newline at the end) is not part of the record: readers skip it and the next append
truncates it first. A correction that was applied rewrites ``candles.csv`` with the exchange's row in place
(`replace_candles`, atomic) and then appends its line; one that was kept (it would have changed a fill already made,
`spark.market.paper`) only appends its line. So ``candles.csv`` is always the series the session's fills come from,
and a backtest over it reproduces the session's fills and trades exactly; ``corrections.jsonl`` says where that
series still holds our own candle rather than the exchange's, and why.

Every function blocks (file I/O): call them from a worker thread. Ids are checked before a path is built.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from spark.ids import SESSION_ID, check_session_id
from spark.market.replay import HEADER, read_candle_rows, write_row
from spark.market.source import LiveCandle

__all__ = [
    "STATUSES",
    "append_candles",
    "append_correction",
    "append_fills",
    "create_session",
    "list_sessions",
    "missing_fills",
    "read_candles",
    "read_corrections",
    "read_doc",
    "read_fills",
    "replace_candles",
    "session_dir",
    "write_doc",
]

log = logging.getLogger(__name__)

STATUSES = ("running", "stopped", "failed")
CORRECTIONS = "corrections.jsonl"  # a session recorded before corrections were has none: read as empty


def session_dir(evidence_dir: Path, session_id: str) -> Path:
    return Path(evidence_dir) / "live" / check_session_id(session_id)


def create_session(evidence_dir: Path, doc: dict[str, Any]) -> Path:
    """Make the session's folder with its document and empty logs; FileExistsError if the id is taken."""
    folder = session_dir(evidence_dir, doc["id"])
    folder.parent.mkdir(parents=True, exist_ok=True)
    text = _json(doc)  # an unwritable document fails before anything exists
    folder.mkdir()
    try:
        _write_atomic(folder / "candles.csv", HEADER + "\n")
        _write_atomic(folder / "fills.jsonl", "")
        _write_atomic(folder / CORRECTIONS, "")
        _write_atomic(folder / "session.json", text)
        _fsync_dir(folder.parent)
    except BaseException:
        for name in ("candles.csv", "fills.jsonl", CORRECTIONS, "session.json"):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()
        raise
    return folder


def write_doc(evidence_dir: Path, doc: dict[str, Any]) -> None:
    _write_atomic(session_dir(evidence_dir, doc["id"]) / "session.json", _json(doc))


def read_doc(evidence_dir: Path, session_id: str) -> dict[str, Any]:
    return json.loads((session_dir(evidence_dir, session_id) / "session.json").read_text(encoding="utf-8"))


def list_sessions(evidence_dir: Path) -> list[dict[str, Any]]:
    """Every session document under ``evidence/live/``, oldest first; an unreadable one is logged and skipped."""
    root = Path(evidence_dir) / "live"
    if not root.is_dir():
        return []
    docs = []
    for folder in sorted(root.iterdir()):
        if not SESSION_ID.fullmatch(folder.name) or folder.is_symlink():
            continue
        try:
            docs.append(read_doc(evidence_dir, folder.name))
        except (OSError, ValueError) as exc:
            log.error("live session %s: unreadable session.json (%s); left as it is", folder.name, exc)
    return docs


def append_candles(evidence_dir: Path, session_id: str, candles: Iterable[LiveCandle]) -> None:
    _append(session_dir(evidence_dir, session_id) / "candles.csv", "".join(write_row(c) for c in candles))


def append_fills(evidence_dir: Path, session_id: str, fills: Iterable[dict[str, Any]]) -> None:
    _append(session_dir(evidence_dir, session_id) / "fills.jsonl", "".join(_json(f) for f in fills))


def replace_candles(evidence_dir: Path, session_id: str, candles: Iterable[LiveCandle]) -> None:
    """``candles.csv`` rewritten at once (temp file, fsync, rename) with ``candles`` in place of the rows of the same
    ``ts``; a row the file lacks is not added."""
    by_ts = {c.ts: c for c in candles}
    rows = read_candles(evidence_dir, session_id)
    text = HEADER + "\n" + "".join(write_row(by_ts.get(r.ts, r)) for r in rows)
    _write_atomic(session_dir(evidence_dir, session_id) / "candles.csv", text)


def append_correction(evidence_dir: Path, session_id: str, record: dict[str, Any]) -> None:
    path = session_dir(evidence_dir, session_id) / CORRECTIONS
    if not path.exists():
        _write_atomic(path, "")
    _append(path, _json(record))


def read_corrections(evidence_dir: Path, session_id: str) -> list[dict[str, Any]]:
    path = session_dir(evidence_dir, session_id) / CORRECTIONS
    return _read_lines(path) if path.exists() else []


def read_candles(evidence_dir: Path, session_id: str) -> list[LiveCandle]:
    path = session_dir(evidence_dir, session_id) / "candles.csv"
    _cut_partial(path)
    return read_candle_rows(path)


def read_fills(evidence_dir: Path, session_id: str) -> list[dict[str, Any]]:
    return _read_lines(session_dir(evidence_dir, session_id) / "fills.jsonl")


def missing_fills(recorded: list[dict[str, Any]], derived: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The derived fills the record lacks (it lags by at most one step); ValueError if the record disagrees."""
    if derived[: len(recorded)] != recorded:
        raise ValueError("the recorded fills differ from a re-run over the recorded candles")
    return derived[len(recorded) :]


# --- plumbing -----------------------------------------------------------------------------------------------


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"


def _read_lines(path: Path) -> list[dict[str, Any]]:
    _cut_partial(path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _append(path: Path, text: str) -> None:
    if not text:
        return
    _cut_partial(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
    try:
        data = text.encode("utf-8")
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_partial(path: Path) -> None:
    """Truncate a last line without its newline (a write a crash cut short)."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(max(0, size - 65_536))
        tail = handle.read()
        if tail.endswith(b"\n"):
            return
        keep = size - len(tail) + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
