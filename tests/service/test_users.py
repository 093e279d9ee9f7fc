"""Named users: the users file holds hashes only (mode 0600), tokens are shown once, names are checked, a
disabled or rotated-out token no longer matches, ADMIN_TOKEN is the built-in admin."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from spark.errors import InputError
from spark.service.users import UserDirectory, add_user, at_least, load_users, rotate_user, set_disabled


def test_add_stores_only_a_hash_with_mode_0600_and_finds_the_user_by_token(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    alice = add_user(path, "alice", "operator", 1_700_000_000_000)
    bob = add_user(path, "bob", "approver", 1_700_000_000_001)
    text = path.read_text()
    assert alice not in text and bob not in text and "sha256" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    users = UserDirectory(load_users(path), admin_token="root-token")
    assert users.find(alice).name == "alice" and users.find(bob.encode()).role == "approver"
    assert users.find("root-token").name == "admin" and users.find("root-token").role == "admin"
    assert users.find("nobody") is None and users.find("") is None


def test_disabled_and_rotated_tokens_stop_matching(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    token = add_user(path, "carol", "viewer", 0)
    set_disabled(path, "carol")
    assert UserDirectory(load_users(path)).find(token) is None
    assert not UserDirectory(load_users(path)).configured  # no admin token, nobody enabled
    fresh = rotate_user(path, "carol")  # a rotate enables again, with the new token only
    users = UserDirectory(load_users(path))
    assert users.find(token) is None and users.find(fresh).name == "carol"


@pytest.mark.parametrize("name", ["admin", "Alice", "1bob", "a" * 40, "a b", "x/y", ""])
def test_bad_or_reserved_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError):
        add_user(tmp_path / "users.toml", name, "viewer", 0)
    assert not (tmp_path / "users.toml").exists()


def test_a_taken_name_a_bad_role_and_a_damaged_file_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "dave", "admin", 0)
    with pytest.raises(InputError, match="exists already"):
        add_user(path, "dave", "viewer", 0)
    with pytest.raises(InputError, match="role must be one of"):
        add_user(path, "erin", "boss", 0)
    with pytest.raises(InputError, match="no user"):
        rotate_user(path, "frank")
    path.write_text('[users.gina]\nrole = "king"\nsha256 = "00"\n')
    with pytest.raises(InputError, match="gina"):
        load_users(path)


def test_each_role_includes_the_ones_before_it() -> None:
    assert at_least("admin", "viewer") and at_least("approver", "operator") and at_least("operator", "operator")
    assert not at_least("operator", "approver") and not at_least("viewer", "operator") and not at_least("x", "viewer")
