"""Demo mode: the users ``alice`` (role ``user``) and ``admin`` (role ``admin``), created on
first start with random passwords printed once (or the ones in
``OSTIARY_DEMO_ALICE_PASSWORD`` / ``OSTIARY_DEMO_ADMIN_PASSWORD``), and the curl walkthrough;
two OAuth clients: ``demo-service``, a service account (client credentials, its secret printed
once or taken from ``OSTIARY_DEMO_SERVICE_SECRET``), and ``demo-web``, a public web app
(authorization code with PKCE) whose redirect URIs are those of ``examples/sso``.

Passwords and secrets go to the console, never to a log.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from pydantic import SecretStr

from ostiary.authn import Accounts
from ostiary.authn.client_registry import ClientRegistry, hash_secret
from ostiary.authn.client_settings import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    REFRESH_TOKEN,
    ClientSettings,
)
from ostiary.errors import NotFound
from ostiary.settings import Settings
from ostiary.storage.records import ClientAuthMethod


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
            how = (
                "exists already; its password was printed at the first start "
                f"(a new one: {reset_password_command(user.username)})"
            )
        lines.append(f"  {user.username:<6} role {user.role:<6} {how}")
    return "\n".join(lines)


def alice_password_line(users: list[DemoUser]) -> str:
    alice = next(u for u in users if u.username == "alice")
    if alice.password is not None:
        return f"export ALICE_PASSWORD='{alice.password}'"
    if alice.from_env:
        return f'export ALICE_PASSWORD="${alice.env}"'
    return (
        "export ALICE_PASSWORD='...'   # the one printed at the first start, "
        f"or a new one: {reset_password_command('alice')}"
    )


def reset_password_command(username: str) -> str:
    """How to give a demo user a new password once the printed one is lost (from the folder
    where ``make run`` ran, the command uses the demo's database)."""
    return f"ostiary users set-password {username}"


SERVICE_CLIENT: Final = "demo-service"
WEB_CLIENT: Final = "demo-web"
#: A public app like ``demo-web`` registered with RFC 9449 §5.2 ``dpop_bound_access_tokens``:
#: the token endpoint refuses its requests without a DPoP proof.
DPOP_CLIENT: Final = "demo-dpop"
#: Where the example relying parties of ``examples/sso`` listen.
WEB_APPS: Final = ("http://127.0.0.1:8001", "http://127.0.0.1:8002")


@dataclass(frozen=True, slots=True)
class DemoClients:
    #: The service account's secret if it was made up now: printed this once.
    service_secret: str | None
    from_env: bool


async def seed_demo_clients(clients: ClientRegistry, settings: Settings) -> DemoClients:
    """Register the demo clients that do not exist yet. A ``OSTIARY_DEMO_SERVICE_SECRET``
    given later replaces the service account's secret, so that scripts can rely on it."""
    given = settings.demo_service_secret
    service = await clients.get(SERVICE_CLIENT)
    made_up: str | None = None
    if service is None:
        registered = await clients.create(
            ClientSettings(
                name="Demo service account",
                auth_method=ClientAuthMethod.CLIENT_SECRET_BASIC,
                grant_types=frozenset({CLIENT_CREDENTIALS}),
                scopes=frozenset({"reports:read"}),
                audiences=frozenset({settings.audience}),
            ),
            client_id=SERVICE_CLIENT,
        )
        made_up = registered.secret
    if given is not None:
        service = await clients.get(SERVICE_CLIENT)
        if service is not None and service.secret_hash != hash_secret(given.get_secret_value()):
            await clients.set_secret(SERVICE_CLIENT, given.get_secret_value())
        made_up = None
    await _audience_of_today(clients, settings)
    if await clients.get(WEB_CLIENT) is None:
        await clients.create(
            ClientSettings(
                name="Demo web app",
                auth_method=ClientAuthMethod.NONE,
                grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
                redirect_uris=tuple(f"{app}/callback" for app in WEB_APPS),
                post_logout_redirect_uris=tuple(f"{app}/" for app in WEB_APPS),
                scopes=frozenset({"openid", "profile"}),
                audiences=frozenset({settings.audience}),
            ),
            client_id=WEB_CLIENT,
        )
    if await clients.get(DPOP_CLIENT) is None:
        await clients.create(
            ClientSettings(
                name="Demo DPoP app",
                auth_method=ClientAuthMethod.NONE,
                grant_types=frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
                redirect_uris=tuple(f"{app}/callback" for app in WEB_APPS),
                scopes=frozenset({"openid", "profile"}),
                audiences=frozenset({settings.audience}),
                dpop_bound_access_tokens=True,
            ),
            client_id=DPOP_CLIENT,
        )
    return DemoClients(made_up, from_env=given is not None)


async def _audience_of_today(clients: ClientRegistry, settings: Settings) -> None:
    """A demo database made before OSTIARY_AUDIENCE became the demo API's own audience holds
    demo clients registered for another: register them for today's, so that the README's
    steps work on it too."""
    wanted = frozenset({settings.audience})
    for client_id in (SERVICE_CLIENT, WEB_CLIENT, DPOP_CLIENT):
        client = await clients.get(client_id)
        if client is not None and client.audiences != wanted:
            await clients.set_audiences(client_id, wanted)


def describe_clients(clients: DemoClients) -> str:
    if clients.service_secret is not None:
        how = f"secret {clients.service_secret}   (shown this once: note it)"
    elif clients.from_env:
        how = "secret from OSTIARY_DEMO_SERVICE_SECRET"
    else:
        how = (
            "exists already; its secret was printed at the first start (a new one: "
            f"ostiary clients rotate-secret {SERVICE_CLIENT}, or restart with "
            "OSTIARY_DEMO_SERVICE_SECRET set)"
        )
    return "\n".join(
        [
            "Demo OAuth clients:",
            f"  {SERVICE_CLIENT:<12} client credentials, scope reports:read   {how}",
            f"  {WEB_CLIENT:<12} public web app (authorization code + PKCE) for examples/sso",
            f"  {DPOP_CLIENT:<12} the same, with DPoP required (RFC 9449): tokens bound to a key",
            "",
            "For the README's service-account steps (client credentials):",
            "",
            f"  {service_secret_line(clients)}",
        ]
    )


def service_secret_line(clients: DemoClients) -> str:
    """The line that sets ``$SERVICE_SECRET``, which the README's client-credentials steps
    read, as ``alice_password_line`` sets ``$ALICE_PASSWORD``."""
    if clients.service_secret is not None:
        return f"export SERVICE_SECRET='{clients.service_secret}'"
    if clients.from_env:
        return 'export SERVICE_SECRET="$OSTIARY_DEMO_SERVICE_SECRET"'
    return "export SERVICE_SECRET='...'   # the one printed at the first start"
