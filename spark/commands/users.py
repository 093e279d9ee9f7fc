"""``spark users add|list|disable|enable|rotate``: the named users of this folder's server, and their roles.

The users file is ``SPARK_USERS_FILE`` (default ``<state dir>/users.toml``, mode 0600); it holds token hashes only.
A token is printed once, by ``add`` and ``rotate``: keep it, it cannot be shown again. A running server reads the
file at start-up and at every ``spark reload``. ``ADMIN_TOKEN`` stays the built-in user ``admin``.
"""

from __future__ import annotations

import argparse
import sys

from spark.config import load_settings
from spark.ids import wall_ms
from spark.ops.control import iso_ms

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "users",
        help="add, list, disable or rotate the named users of the server (token once)",
        description=__doc__.split("\n\n")[0],
    )
    actions = p.add_subparsers(dest="users_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user and print its token (once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("viewer", "operator", "approver", "admin"))
    actions.add_parser("list", help="the users: name, role, made, disabled")
    for name, text in (
        ("disable", "stop a user's token working"),
        ("enable", "let a disabled user's token work"),
        ("rotate", "give a user a new token (printed once; the old one stops working)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from spark.service import users  # the evidence writer it uses loads numpy: only for this command

    settings = load_settings()
    path = users.users_path(settings.state_dir, settings.users_file)
    if args.users_action == "add":
        token = users.add_user(path, args.name, args.role, wall_ms())
        print(f"user {args.name} ({args.role}) added to {path}; its token (shown once, keep it):", file=sys.stderr)
        print(token)
    elif args.users_action == "rotate":
        token = users.rotate_user(path, args.name)
        print(
            f"user {args.name} has a new token (shown once; run `spark reload` for a running server):", file=sys.stderr
        )
        print(token)
    elif args.users_action in ("disable", "enable"):
        users.set_disabled(path, args.name, args.users_action == "disable")
        print(f"user {args.name} {args.users_action}d (run `spark reload` for a running server)", file=sys.stderr)
    else:
        listed = users.load_users(path)
        if not listed:
            print(f"no users in {path} (ADMIN_TOKEN is the built-in user admin)", file=sys.stderr)
        for u in listed:
            state = "disabled" if u.disabled else "enabled"
            made = iso_ms(u.created_at) if u.created_at else "-"
            print(f"{u.name:<24} {u.role:<9} {state:<9} made {made}")
    return 0
