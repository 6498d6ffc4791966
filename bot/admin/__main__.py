"""`python -m bot.admin`: manage staff accounts of the /admin area.

    python -m bot.admin create-user EMAIL --role admin
    python -m bot.admin set-password EMAIL
    python -m bot.admin set-role EMAIL editor
    python -m bot.admin disable-user EMAIL | enable-user EMAIL
    python -m bot.admin list-users

Passwords come from the GUICHET_NEW_PASSWORD environment variable, or are
asked twice without echo. The database is the app's (GUICHET_DATA_DIR and
the settings file apply, as for `python -m bot`). Changing a password, a role
or disabling an account ends that user's open sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable

from bot.admin.users import Role, UserError, UserStore, check_password_policy
from bot.core.db import create_engine
from bot.schema import create_schema
from bot.settings import SettingsError, load_settings

PASSWORD_ENV = "GUICHET_NEW_PASSWORD"


class CliError(Exception):
    pass


def read_password(email: str = "") -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        try:
            password = getpass.getpass("New password (at least 12 characters): ")
            again = getpass.getpass("Repeat the password: ")
        except (EOFError, KeyboardInterrupt) as exc:
            raise CliError(
                f"no password given (set {PASSWORD_ENV} when not in a terminal)"
            ) from exc
        if password != again:
            raise CliError("the two passwords differ")
    try:
        check_password_policy(password, email)
    except UserError as exc:
        raise CliError(str(exc)) from exc
    return password


async def _with_store(action: Callable[[UserStore], Awaitable[str]]) -> str:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        await create_schema(engine)
        return await action(UserStore(engine))
    finally:
        await engine.dispose()


def _run(args: argparse.Namespace) -> str:
    command = args.command

    async def create(store: UserStore) -> str:
        user = await store.create(args.email, password, Role(args.role))
        return f"created {user.role.value} {user.email}"

    async def set_password(store: UserStore) -> str:
        await store.set_password(args.email, password)
        return f"password changed for {args.email.strip().lower()}; their sessions were closed"

    async def set_role(store: UserStore) -> str:
        await store.set_role(args.email, Role(args.role))
        return f"{args.email.strip().lower()} is now {args.role}; their sessions were closed"

    async def set_active(store: UserStore) -> str:
        active = command == "enable-user"
        await store.set_active(args.email, active)
        state = "enabled" if active else "disabled; their sessions were closed"
        return f"{args.email.strip().lower()} {state}"

    async def list_users(store: UserStore) -> str:
        users = await store.all()
        if not users:
            return "no staff user yet: create one with `python -m bot.admin create-user`"
        return "\n".join(
            f"{u.email}\t{u.role.value}\t{'active' if u.active else 'disabled'}" for u in users
        )

    password = ""
    if command in ("create-user", "set-password"):
        password = read_password(args.email)
    actions = {
        "create-user": create,
        "set-password": set_password,
        "set-role": set_role,
        "enable-user": set_active,
        "disable-user": set_active,
        "list-users": list_users,
    }
    return asyncio.run(_with_store(actions[command]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot.admin", description="Manage staff accounts of the /admin area."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    roles = [r.value for r in Role]
    create = commands.add_parser("create-user", help="create a staff account")
    create.add_argument("email")
    create.add_argument("--role", choices=roles, default=Role.EDITOR.value)
    commands.add_parser("set-password", help="change a password").add_argument("email")
    set_role = commands.add_parser("set-role", help="change a role")
    set_role.add_argument("email")
    set_role.add_argument("role", choices=roles)
    commands.add_parser("disable-user", help="block an account").add_argument("email")
    commands.add_parser("enable-user", help="unblock an account").add_argument("email")
    commands.add_parser("list-users", help="list accounts")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(_run(args))
    except SettingsError as exc:
        print(f"guichet admin: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except (CliError, UserError) as exc:
        print(f"guichet admin: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
