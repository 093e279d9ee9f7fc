"""Named users and their roles: the users file, and finding a user by token in constant time.

The file (``SPARK_USERS_FILE``, default ``<state dir>/users.toml``, mode 0600) holds, per user, a role, the sha256 of
the token, when it was made, and whether it is disabled; never a token. A token is printed once, when it is made
(`spark users add`, `rotate`). ``ADMIN_TOKEN`` is the built-in user ``admin`` (role admin); the name is reserved.

Roles include the ones before them: viewer (a name, no mutations), operator (runs, sweeps, data, change requests),
approver (decides change requests), admin (everything: deletes, live sessions, overrides).

A lookup hashes the presented token and compares it with every stored hash (`hmac.compare_digest` over bytes, no
early exit), so its time says nothing about which user, if any, it matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from spark.errors import InputError
from spark.service.evidence import write_bytes_atomic

__all__ = [
    "ADMIN",
    "ROLES",
    "Role",
    "User",
    "UserDirectory",
    "add_user",
    "at_least",
    "hash_token",
    "load_users",
    "rotate_user",
    "save_users",
    "set_disabled",
    "users_path",
]

Role = Literal["viewer", "operator", "approver", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "approver", "admin")
ADMIN = "admin"
_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def at_least(role: str, required: str) -> bool:
    """Whether ``role`` includes ``required`` (each role includes the ones before it in ROLES)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(required)  # type: ignore[arg-type]


def hash_token(token: str | bytes) -> str:
    data = token if isinstance(token, bytes) else token.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    name: str
    role: Role
    token_sha256: str
    created_at: int = 0
    disabled: bool = False


class UserDirectory:
    """The users of one server (a users file, plus ``admin`` when an ADMIN_TOKEN is set)."""

    def __init__(self, users: tuple[User, ...] = (), admin_token: str = "") -> None:
        self.users = users
        self._hashes = [(bytes.fromhex(u.token_sha256), u) for u in users if not u.disabled]
        if admin_token:
            self._hashes.append(
                (bytes.fromhex(hash_token(admin_token)), User(name=ADMIN, role="admin", token_sha256=""))
            )

    @property
    def configured(self) -> bool:
        """Somebody can mutate: an ADMIN_TOKEN or at least one enabled user."""
        return bool(self._hashes)

    def find(self, token: str | bytes) -> User | None:
        """The enabled user whose token this is, or None; every stored hash is compared (constant time)."""
        given = bytes.fromhex(hash_token(token))
        found: User | None = None
        for digest, user in self._hashes:
            if hmac.compare_digest(given, digest):
                found = user
        return found


def users_path(state_dir: Path, configured: str = "") -> Path:
    """``SPARK_USERS_FILE`` when set, else ``<state dir>/users.toml``."""
    return Path(configured) if configured else Path(state_dir) / "users.toml"


def load_users(path: Path) -> tuple[User, ...]:
    """The users in ``path`` (none when it does not exist). InputError naming the file on anything malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the users file: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    out = []
    for name, entry in (doc.get("users") or {}).items():
        if not _NAME.match(name) or name == ADMIN or not isinstance(entry, dict):
            raise InputError(f"{path}: user {name!r} is not a valid name (or is the reserved 'admin')")
        role, digest = entry.get("role"), entry.get("sha256")
        if role not in ROLES or not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise InputError(f"{path}: user {name!r} needs a role ({', '.join(ROLES)}) and a sha256")
        out.append(
            User(
                name=name,
                role=role,
                token_sha256=digest,
                created_at=int(entry.get("created", 0)),
                disabled=bool(entry.get("disabled", False)),
            )
        )
    return tuple(out)


def save_users(path: Path, users: tuple[User, ...]) -> None:
    """Write the users file atomically, mode 0600 (hashes only)."""
    lines = ["# Spark users: token hashes only (spark users add|list|disable|rotate). Mode 0600.", ""]
    for u in sorted(users, key=lambda u: u.name):
        lines += [
            f"[users.{u.name}]",
            f'role = "{u.role}"',
            f'sha256 = "{u.token_sha256}"',
            f"created = {u.created_at}",
            f"disabled = {'true' if u.disabled else 'false'}",
            "",
        ]
    write_bytes_atomic(path, "\n".join(lines).encode("utf-8"), mode=0o600)


def _check_name(name: str) -> None:
    if name == ADMIN:
        raise InputError("'admin' is the built-in user of ADMIN_TOKEN: choose another name", field="name")
    if not _NAME.match(name):
        raise InputError(
            f"a user name is a lower-case letter then up to 31 of a-z 0-9 _ . -; got {name!r}", field="name"
        )


def add_user(path: Path, name: str, role: str, now_ms: int) -> str:
    """Add a user; returns the new token (shown once, never stored). InputError for a taken or bad name/role."""
    _check_name(name)
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}; got {role!r}", field="role")
    users = load_users(path)
    if any(u.name == name for u in users):
        raise InputError(f"user {name!r} exists already (spark users rotate {name} gives a new token)", field="name")
    token = secrets.token_urlsafe(32)
    save_users(path, (*users, User(name=name, role=role, token_sha256=hash_token(token), created_at=now_ms)))
    return token


def _change(path: Path, name: str, **changes: object) -> tuple[User, ...]:
    users = load_users(path)
    if not any(u.name == name for u in users):
        raise InputError(f"no user {name!r} in {path}", field="name")
    return tuple(replace(u, **changes) if u.name == name else u for u in users)  # type: ignore[arg-type]


def set_disabled(path: Path, name: str, disabled: bool = True) -> None:
    save_users(path, _change(path, name, disabled=disabled))


def rotate_user(path: Path, name: str) -> str:
    """A new token for ``name`` (the old one stops working at the server's next reload); returns it."""
    token = secrets.token_urlsafe(32)
    save_users(path, _change(path, name, token_sha256=hash_token(token), disabled=False))
    return token
