"""The server's pid file: ``<state dir>/spark.pid``, JSON ``{"pid", "url", "startedAt"}``, mode 0644.

`spark serve` claims it once its socket is bound and releases it on exit; `spark status` and `spark reload` read it
to find the server. One live server per state dir: a claim is refused while the file names a live `spark serve`
process. A file left by a server that was killed is stale (its pid is gone, or is now some other program, or is
the caller itself, as a restarted container's pid 1 would be) and is replaced. Written atomically (temp file,
fsync, link or rename, fsync the folder), so a reader sees a whole file or none.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spark.errors import InputError
from spark.ops.files import fsync_dir

__all__ = [
    "PID_FILE",
    "AlreadyServing",
    "PidFileError",
    "ServerInfo",
    "already_serving",
    "claim",
    "is_spark_server",
    "live_owner",
    "pid_path",
    "read_pid_file",
    "release",
]

PID_FILE = "spark.pid"


class PidFileError(InputError):
    """The pid file exists but cannot be read as one (not JSON, wrong fields)."""


class AlreadyServing(InputError):
    """A live `spark serve` owns the pid file: a second server on the same state dir is refused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo:
    """What the pid file says: the server's process id, its base URL and when it started (epoch ms)."""

    pid: int
    url: str
    started_at: int

    def to_wire(self) -> dict[str, Any]:
        return {"pid": self.pid, "url": self.url, "startedAt": self.started_at}

    @classmethod
    def from_wire(cls, doc: Any) -> ServerInfo:
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        pid, url, started_at = doc.get("pid"), doc.get("url"), doc.get("startedAt")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError(f"bad pid {pid!r}")
        if not isinstance(url, str) or not url:
            raise ValueError(f"bad url {url!r}")
        if not isinstance(started_at, int) or isinstance(started_at, bool):
            raise ValueError(f"bad startedAt {started_at!r}")
        return cls(pid=pid, url=url, started_at=started_at)


def pid_path(state_dir: Path) -> Path:
    return state_dir / PID_FILE


def read_pid_file(path: Path) -> ServerInfo | None:
    """The pid file's contents; None when there is none. Raises PidFileError when it cannot be parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PidFileError(f"cannot read the pid file {path}: {exc}") from None
    try:
        return ServerInfo.from_wire(json.loads(text))
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise PidFileError(f"the pid file {path} is damaged: {exc}") from None


def is_spark_server(pid: int) -> bool:
    """True when ``pid`` is a live `spark serve` process other than this one.

    Liveness by signal 0 (a process of another user counts as alive); identity by its command line in /proc, where
    there is one (a zombie has an empty one: not a server any more). Without /proc a live pid is trusted.
    """
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return False
    args = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    names = {Path(a).name for a in args}
    return bool(names & {"spark", "spark.cli"}) and "serve" in args


def live_owner(path: Path) -> ServerInfo | None:
    """The live server the pid file names, or None (no file, a damaged one, or a stale one)."""
    try:
        info = read_pid_file(path)
    except PidFileError:
        return None
    return info if info is not None and is_spark_server(info.pid) else None


def claim(path: Path, info: ServerInfo) -> None:
    """Write ``info`` as the pid file (creating the state dir), replacing a missing, damaged or stale one.

    Raises AlreadyServing, and leaves the file alone, when it names another live server. The new file is linked
    into place only if none exists, so two servers starting at once cannot both think they own it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(info.to_wire()) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            owner = live_owner(path)
            if owner is not None:
                raise AlreadyServing(already_serving(path, owner)) from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def already_serving(path: Path, owner: ServerInfo) -> str:
    """The one line `spark serve` prints when it refuses to start beside ``owner``."""
    return (
        f"a Spark server (pid {owner.pid}) already serves {owner.url} from {path.parent}; "
        "stop it first, or give this one its own SPARK_STATE_DIR"
    )


def release(path: Path, pid: int) -> None:
    """Remove the pid file if it still names ``pid`` (a server never removes another server's file)."""
    try:
        info = read_pid_file(path)
    except PidFileError:
        return
    if info is not None and info.pid == pid:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
