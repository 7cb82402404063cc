"""Attack: a third-party client reaching the server's own account and admin APIs with the
user's roles (RFC 9700 §2.3, audience- and privilege-restricted tokens). A client the user had
consented to for ``openid`` only got an access token for the server's own audience carrying the
user's ``admin`` role, and with it read the audit trail, listed and ended the user's
sessions, logged them out everywhere and changed their password; a client-credentials client
registered for no audience got the server's own audience too.

Now the account API accepts only first-party session tokens, the admin API wants its own
audience, the ``admin`` scope and the ``admin`` role, a third-party token carries roles only
with the ``roles`` scope, and a client registered for no audience gets no token for any of
the server's APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import httpx
import pytest

from ostiary.authn.client_settings import CLIENT_CREDENTIALS, ClientSettings
from tests.http._oauth import (
    API,
    ISSUER,
    basic,
    claims_of,
    code_flow_tokens,
    oauth_settings,
    service_client,
    userinfo,
    web_client,
)
from tests.http._server import NEW_PASSWORD, PASSWORD, Server, bearer, running

ADMIN_AUDIENCE: Final = f"{ISSUER}/admin"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Demo mode (for the demo API at /api): ``alice`` (role user) and ``admin``."""
    settings = oauth_settings(
        tmp_path, demo=True, demo_alice_password=PASSWORD, demo_admin_password=PASSWORD
    )
    async with running(settings) as srv:
        yield srv


async def own_apis(server: Server, token: str) -> dict[str, int]:
    """The status of every endpoint of the server's account and admin APIs, and of the demo
    API's admin route, for ``token``."""
    headers = bearer(token)
    client = server.client
    answers = {
        "GET /auth/me": await client.get("/auth/me", headers=headers),
        "GET /auth/sessions": await client.get("/auth/sessions", headers=headers),
        "GET /admin/audit": await client.get("/admin/audit", headers=headers),
        "GET /api/admin/stats": await client.get("/api/admin/stats", headers=headers),
        "DELETE /auth/sessions/x": await client.delete("/auth/sessions/x", headers=headers),
        "POST /auth/password": await client.post(
            "/auth/password",
            headers=headers,
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        ),
        "POST /auth/logout-all": await client.post("/auth/logout-all", headers=headers),
    }
    return {name: response.status_code for name, response in answers.items()}


def refused(statuses: dict[str, int]) -> bool:
    """Every endpoint answered 401: the token is not for any of them (its audience is not
    theirs), an ``invalid_token`` (RFC 6750 §3.1), before any scope or role is looked at."""
    return set(statuses.values()) == {401}


async def consented_token(server: Server, **client: Any) -> dict[str, Any]:
    web = await web_client(server, **client)
    return await code_flow_tokens(server, web, scope=client.get("scope_asked", "openid"))


async def make_alice_admin(server: Server) -> None:
    """The code flow signs in as ``alice``; make her an administrator too."""
    user = await server.services.accounts.get_by_username("alice")
    await server.services.accounts.add_role(user.id, "admin")


async def test_an_openid_only_client_reaches_none_of_the_servers_own_apis(
    server: Server,
) -> None:
    await make_alice_admin(server)
    tokens = await consented_token(server, scopes=("openid",))
    claims = claims_of(tokens["access_token"])

    assert claims["aud"] == f"{ISSUER}/oauth/userinfo" and claims["roles"] == []
    statuses = await own_apis(server, tokens["access_token"])
    assert refused(statuses), statuses
    assert (await userinfo(server, tokens["access_token"])).status_code == 200
    # Nothing above happened: alice's first-party login still works with her password.
    assert (await server.login("alice")).get("access_token")


async def test_a_client_for_an_api_gets_the_users_roles_only_with_the_roles_scope(
    server: Server,
) -> None:
    await make_alice_admin(server)
    plain = await consented_token(server, scopes=("openid",), audiences=(API,))
    assert claims_of(plain["access_token"])["roles"] == []
    assert refused(await own_apis(server, plain["access_token"]))

    server.client.cookies.clear()
    web = await web_client(server, "roles-app", scopes=("openid", "roles"), audiences=(API,))
    with_roles = await code_flow_tokens(server, web, scope="openid roles")
    claims = claims_of(with_roles["access_token"])
    assert sorted(claims["roles"]) == ["admin", "user"] and API in claims["aud"]
    assert refused(await own_apis(server, with_roles["access_token"]))


async def test_the_admin_api_wants_its_audience_the_admin_scope_and_the_admin_role(
    server: Server,
) -> None:
    ops = await web_client(server, "ops", scopes=("admin", "roles"), audiences=(ADMIN_AUDIENCE,))
    not_admin = await code_flow_tokens(server, ops, scope="admin roles")
    audit = await server.client.get("/admin/audit", headers=bearer(not_admin["access_token"]))
    assert audit.status_code == 403  # alice lacks the role

    await make_alice_admin(server)
    server.client.cookies.clear()
    no_roles = await code_flow_tokens(server, ops, scope="admin")
    audit = await server.client.get("/admin/audit", headers=bearer(no_roles["access_token"]))
    assert audit.status_code == 403  # the token carries no roles without the roles scope

    server.client.cookies.clear()
    admin = await code_flow_tokens(server, ops, scope="admin roles")
    audit = await server.client.get("/admin/audit", headers=bearer(admin["access_token"]))
    assert audit.status_code == 200
    # ... and nothing of the account API.
    me = await server.client.get("/auth/me", headers=bearer(admin["access_token"]))
    assert me.status_code == 401


async def test_a_service_registered_for_no_audience_gets_no_token(server: Server) -> None:
    settings = ClientSettings(
        name="Lost service",
        grant_types=frozenset({CLIENT_CREDENTIALS}),
        scopes=frozenset({"reports:read"}),
    )
    lost = await server.services.oauth.clients.create(settings, client_id="lost")
    answer = await server.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(lost)
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_target"
    assert "access_token" not in answer.text


async def test_a_service_token_reaches_none_of_the_servers_own_apis(server: Server) -> None:
    svc = await service_client(server)
    answer = await server.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(svc)
    )
    assert refused(await own_apis(server, answer.json()["access_token"]))


async def test_control_a_first_party_administrators_token_reaches_them_all(
    server: Server,
) -> None:
    token = (await server.login("admin"))["access_token"]
    headers = bearer(token)
    for path in ("/auth/me", "/auth/sessions", "/admin/audit", "/api/admin/stats"):
        answer: httpx.Response = await server.client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.text)
    user_token = (await server.login("alice"))["access_token"]
    audit = await server.client.get("/admin/audit", headers=bearer(user_token))
    assert audit.status_code == 401  # not an administrator: no admin audience at all
