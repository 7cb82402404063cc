"""Demo mode: the users ``alice`` (role ``user``) and ``admin`` (role ``admin``), created on
first start with random passwords printed once (or the ones in
``OSTIARY_DEMO_ALICE_PASSWORD`` / ``OSTIARY_DEMO_ADMIN_PASSWORD``), and the curl walkthrough.

Passwords go to the console, never to a log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr

from ostiary.authn import Accounts
from ostiary.errors import NotFound
from ostiary.settings import Settings


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    role: str
    env: str
    #: The password if it was made up now: printed this once, then never again.
    password: str | None
    created: bool
    #: The password came from ``env`` (then the walkthrough reads it from there too).
    from_env: bool = False


DEMO_USERS: Final = (("alice", "user"), ("admin", "admin"))


async def seed_demo_users(accounts: Accounts, settings: Settings) -> list[DemoUser]:
    """Create the demo users that do not exist yet; keep the others as they are."""
    seeded = []
    given = {"alice": settings.demo_alice_password, "admin": settings.demo_admin_password}
    for username, role in DEMO_USERS:
        env = f"OSTIARY_DEMO_{username.upper()}_PASSWORD"
        try:
            await accounts.get_by_username(username)
        except NotFound:
            pass
        else:
            seeded.append(
                DemoUser(
                    username, role, env, None, created=False, from_env=given[username] is not None
                )
            )
            continue
        secret: SecretStr | None = given[username]
        made_up = secrets.token_urlsafe(12) if secret is None else None
        password = made_up if made_up is not None else _value(secret)
        await accounts.create(username, password, roles=(role,))
        seeded.append(
            DemoUser(username, role, env, made_up, created=True, from_env=made_up is None)
        )
    return seeded


def _value(secret: SecretStr | None) -> str:
    assert secret is not None
    return secret.get_secret_value()


def describe_users(users: list[DemoUser]) -> str:
    lines = ["Demo users:"]
    for user in users:
        if user.password is not None:
            how = f"password {user.password}   (shown this once: note it)"
        elif user.created:
            how = f"password from {user.env}"
        else:
            how = "exists already; its password was printed at the first start"
        lines.append(f"  {user.username:<6} role {user.role:<6} {how}")
    return "\n".join(lines)


def alice_password_line(users: list[DemoUser]) -> str:
    alice = next(u for u in users if u.username == "alice")
    if alice.password is not None:
        return f"export ALICE_PASSWORD='{alice.password}'"
    if alice.from_env:
        return f'export ALICE_PASSWORD="${alice.env}"'
    return "export ALICE_PASSWORD='...'   # the one printed at the first start"
