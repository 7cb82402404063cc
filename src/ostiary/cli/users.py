"""``ostiary users``: accounts, for the operator. Passwords come from a prompt or stdin,
never from the command line (where ``ps`` and shell history would keep them)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ostiary.authn import Accounts
from ostiary.cli import audit
from ostiary.cli._command_setup import iso, operator_settings, with_storage
from ostiary.cli._options import Limit, Offset
from ostiary.cli._output import USAGE, fail, note, print_json
from ostiary.clock import SYSTEM_CLOCK
from ostiary.storage import Storage
from ostiary.storage.records import User

if TYPE_CHECKING:
    from ostiary.settings import Settings

#: Far above the password policy's 1,024 bytes; bounds what is read from stdin.
MAX_STDIN_CHARS: Final = 4096

app = typer.Typer(help="User accounts.", no_args_is_help=True)
Username = Annotated[
    str, typer.Argument(metavar="USERNAME", help="The username (or email).", show_default=False)
]
Role = Annotated[
    str, typer.Argument(metavar="ROLE", help="A role name, e.g. admin.", show_default=False)
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin, not a prompt."
    ),
]


@app.command()
def create(
    username: Username,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", metavar="ROLE", help="A role; repeatable. Default: user."),
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create a user (whether or not self-registration is open)."""
    settings = operator_settings()
    password = read_password(password_stdin)
    roles = role or ["user"]

    async def work(storage: Storage) -> User:
        accounts = _accounts(settings, storage)
        user = await accounts.create(username, password, roles=roles)
        await audit.record(
            storage, "user.create", subject=user.id, data={"roles": ",".join(sorted(roles))}
        )
        return user

    print_json(describe_user(with_storage(settings, work)))


@app.command("list")
def list_users(offset: Offset = 0, limit: Limit = 100) -> None:
    """List users, oldest first."""
    settings = operator_settings()

    async def work(storage: Storage) -> list[dict[str, Any]]:
        users = await storage.users.list(offset=offset, limit=limit)
        return [describe_user(u) for u in users]

    print_json(with_storage(settings, work))


@app.command("add-role")
def add_role(username: Username, role: Role) -> None:
    """Give a user a role (in tokens issued from the next login or refresh). A role the user
    has already is left as it is: nothing changes and nothing is recorded."""

    def change(accounts: Accounts, user: User) -> Awaitable[User] | None:
        if role in user.roles:
            note(f"User {user.username} has the role {role} already; nothing changed")
            return None
        return accounts.add_role(user.id, role)

    _change(username, change, kind="user.role_add", data={"role": role})


@app.command("remove-role")
def remove_role(username: Username, role: Role) -> None:
    """Take a role away (its scopes leave the user's tokens at the next refresh). A role the
    user does not have is an error (exit 1): nothing changes and nothing is recorded."""

    def change(accounts: Accounts, user: User) -> Awaitable[User]:
        if role not in user.roles:
            fail(f"User {user.username} does not have the role {role}")
        return accounts.remove_role(user.id, role)

    _change(username, change, kind="user.role_remove", data={"role": role})


@app.command()
def disable(username: Username) -> None:
    """Refuse the user's logins, end every session, refuse every access token issued so far."""
    settings = operator_settings()

    async def work(storage: Storage) -> User:
        accounts = _accounts(settings, storage)
        user = await accounts.disable((await accounts.get_by_username(username)).id)
        await _end_all_sessions(settings, storage, user)
        await audit.record(storage, "user.disable", subject=user.id)
        return user

    print_json(describe_user(with_storage(settings, work)))


@app.command()
def enable(username: Username) -> None:
    """Allow a disabled user to log in again."""
    _change(username, lambda accounts, user: accounts.enable(user.id), kind="user.enable")


@app.command("set-password")
def set_password(username: Username, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; every session of the user ends."""
    settings = operator_settings()
    password = read_password(password_stdin)

    async def work(storage: Storage) -> User:
        accounts = _accounts(settings, storage)
        user = await accounts.get_by_username(username)
        user = await accounts.set_password(user.id, password)
        await _end_all_sessions(settings, storage, user)
        await audit.record(storage, "user.password", subject=user.id)
        return user

    print_json(describe_user(with_storage(settings, work)))


# --- helpers -------------------------------------------------------------------------------


def read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline(MAX_STDIN_CHARS + 1)
        password = line.removesuffix("\n").removesuffix("\r")
        if len(line) > MAX_STDIN_CHARS:
            fail(f"the password on stdin is longer than {MAX_STDIN_CHARS} characters")
    elif not sys.stdin.isatty():
        # getpass would read it all the same, echoed, with a GetPassWarning: say what works.
        fail(
            "standard input is not a terminal: add --password-stdin to read the password from it",
            code=USAGE,
        )
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if not password:
        fail("the password is empty")
    return password


def describe_user(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "roles": sorted(user.roles),
        "disabled": user.disabled,
        "created_at": iso(user.created_at),
    }


def _accounts(settings: Settings, storage: Storage) -> Accounts:
    from ostiary.wiring import accounts

    return accounts(settings, storage, clock=SYSTEM_CLOCK)


def _change(
    username: str,
    change: Callable[[Accounts, User], Awaitable[User] | None],
    *,
    kind: str,
    data: Mapping[str, str] | None = None,
) -> None:
    """Look the user up, apply ``change(accounts, user)`` (a coroutine, or None when there is
    nothing to change), record it in the audit trail as ``kind``, print the user."""
    settings = operator_settings()

    async def work(storage: Storage) -> User:
        accounts = _accounts(settings, storage)
        user = await accounts.get_by_username(username)
        changing = change(accounts, user)
        if changing is None:
            return user
        changed = await changing
        await audit.record(storage, kind, subject=user.id, data=data)
        return changed

    print_json(describe_user(with_storage(settings, work)))


async def _end_all_sessions(settings: Settings, storage: Storage, user: User) -> None:
    """End every session of the user (refresh families, signed-in browsers) and publish a
    "not before" for their access tokens; running servers refuse them within
    ``revocation_sync_seconds``."""
    from ostiary.wiring import cli_lifecycle

    await cli_lifecycle(settings, storage).end_user_sessions(user.id)
