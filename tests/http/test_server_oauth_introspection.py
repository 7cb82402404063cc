"""``/oauth/revoke`` (RFC 7009), ``/oauth/introspect`` (RFC 7662) and ``/oauth/userinfo``
(OpenID Connect Core §5.3, answered as an RFC 6750 resource)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.clock import FrozenClock
from ostiary.storage import MemoryStorage
from ostiary.storage.records import ClientAuthMethod

from ._oauth import (
    API,
    ISSUER,
    alice_id,
    basic,
    claims_of,
    code_flow_tokens,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    oauth_settings,
    refresh,
    service_client,
    userinfo,
    web_client,
)
from ._server import NO_STORE, Server, oauth, running

BAD_CLIENT = oauth("invalid_client", "Client authentication failed.")
BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
INACTIVE = {"active": False}
CHALLENGE = 'Bearer realm="ostiary"'
INVALID = oauth("invalid_token", "The access token is invalid.")


async def web_tokens(server: Server) -> tuple[Registered, dict[str, Any]]:
    web = await web_client(server, first_party=True)
    return web, await code_flow_tokens(server, web)


async def introspect(server: Server, token: str, auth: tuple[str, str]) -> Any:
    response = await server.client.post("/oauth/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    assert {k: response.headers[k] for k in NO_STORE} == NO_STORE
    return response.json()


# --- introspection ----------------------------------------------------------------------------


async def test_introspecting_an_own_access_token(server: Server) -> None:
    web, tokens = await web_tokens(server)
    access = claims_of(tokens["access_token"])
    answer = await introspect(server, tokens["access_token"], basic(web))
    assert answer == {
        "active": True,
        "token_type": "Bearer",
        "scope": "openid profile",
        "client_id": "web",
        "sub": await alice_id(server),
        "aud": f"{ISSUER}/oauth/userinfo",
        "iss": ISSUER,
        "exp": access["exp"],
        "iat": access["iat"],
        "jti": access["jti"],
        "sid": access["sid"],
    }


async def test_a_resource_server_client_introspects_tokens_for_its_audience(
    server: Server,
) -> None:
    svc = await service_client(server, audiences=(API,))
    issued = await server.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(svc)
    )
    token = issued.json()["access_token"]
    api = await service_client(server, "api", audiences=(API,))
    answer = await introspect(server, token, basic(api))
    assert (answer["active"], answer["sub"], answer["aud"]) == (True, "svc", API)


async def test_a_foreign_access_token_is_inactive(server: Server) -> None:
    _, tokens = await web_tokens(server)
    other = await service_client(server, "other", audiences=(API,))
    assert await introspect(server, tokens["access_token"], basic(other)) == INACTIVE


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "x" * 9000, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ""],
    ids=["garbage", "three dots", "huge", "alg none", "empty"],
)
async def test_garbage_is_inactive_and_nothing_more(server: Server, token: str) -> None:
    svc = await service_client(server)
    if not token:
        response = await server.client.post(
            "/oauth/introspect", data={"token": ""}, auth=basic(svc)
        )
        assert (response.status_code, response.json()) == (
            400,
            oauth("invalid_request", "The token parameter is missing."),
        )
        return
    assert await introspect(server, token, basic(svc)) == INACTIVE


async def test_an_expired_access_token_is_inactive(server: Server) -> None:
    web, tokens = await web_tokens(server)
    auth = basic(web)
    server.clock.advance(900 + 30 + 1)
    assert await introspect(server, tokens["access_token"], auth) == INACTIVE


async def test_introspecting_a_refresh_token(server: Server) -> None:
    web, tokens = await web_tokens(server)
    auth = basic(web)
    answer = await introspect(server, tokens["refresh_token"], auth)
    assert set(answer) == {"active", "token_type", "scope", "client_id", "sub", "iat", "exp", "sid"}
    assert (answer["active"], answer["token_type"]) == (True, "refresh_token")
    assert (answer["client_id"], answer["scope"]) == ("web", "openid profile")
    assert answer["sid"] == claims_of(tokens["access_token"])["sid"]
    other = await service_client(server, "other")
    assert await introspect(server, tokens["refresh_token"], basic(other)) == INACTIVE


async def test_a_rotated_refresh_token_is_inactive(server: Server) -> None:
    web, tokens = await web_tokens(server)
    auth = basic(web)
    rotated = await server.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert rotated.status_code == 200
    assert await introspect(server, tokens["refresh_token"], auth) == INACTIVE


async def test_introspection_requires_client_authentication(server: Server) -> None:
    _, tokens = await web_tokens(server)
    data = {"token": tokens["access_token"]}
    for response in (
        await server.client.post("/oauth/introspect", data=data),
        await server.client.post("/oauth/introspect", data=data, auth=("web", "wrong")),
    ):
        assert (response.status_code, response.json()) == (401, BAD_CLIENT)
        assert response.headers["www-authenticate"] == 'Basic realm="ostiary"'


async def test_a_public_client_may_not_introspect(server: Server) -> None:
    spa = await web_client(server, "spa", auth_method=ClientAuthMethod.NONE, first_party=True)
    tokens = await code_flow_tokens(server, spa)
    response = await server.client.post(
        "/oauth/introspect", data={"token": tokens["access_token"], "client_id": "spa"}
    )
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)


async def test_introspection_takes_a_form(server: Server) -> None:
    svc = await service_client(server)
    response = await server.client.post("/oauth/introspect", json={"token": "x"}, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The request body must be application/x-www-form-urlencoded."),
    )


# --- revocation -------------------------------------------------------------------------------


async def revoke(server: Server, token: str, auth: tuple[str, str]) -> None:
    response = await server.client.post("/oauth/revoke", data={"token": token}, auth=auth)
    assert (response.status_code, response.content) == (200, b""), response.text
    assert {k: response.headers[k] for k in NO_STORE} == NO_STORE


@pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 9000])
async def test_revoking_an_unknown_token_is_200(server: Server, token: str) -> None:
    svc = await service_client(server)
    await revoke(server, token, basic(svc))


async def test_revoking_a_refresh_token_ends_its_family(server: Server) -> None:
    web, tokens = await web_tokens(server)
    auth = basic(web)
    await revoke(server, tokens["refresh_token"], auth)
    refreshed = await server.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)
    info = await userinfo(server, tokens["access_token"])
    assert (info.status_code, info.json()) == (401, INVALID)


async def test_revoking_an_access_token(server: Server) -> None:
    web, tokens = await web_tokens(server)
    auth = basic(web)
    await revoke(server, tokens["access_token"], auth)
    assert await introspect(server, tokens["access_token"], auth) == INACTIVE
    info = await userinfo(server, tokens["access_token"])
    assert (info.status_code, info.json()) == (401, INVALID)
    # Only that token: the refresh token still works.
    refreshed = await server.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert refreshed.status_code == 200


async def test_revoking_another_clients_token_changes_nothing(server: Server) -> None:
    web, tokens = await web_tokens(server)
    other = await service_client(server, "other")
    await revoke(server, tokens["refresh_token"], basic(other))
    await revoke(server, tokens["access_token"], basic(other))
    assert (await userinfo(server, tokens["access_token"])).status_code == 200
    assert (await refresh(server, web, tokens["refresh_token"])).status_code == 200


async def test_a_public_client_revokes_its_own_tokens(server: Server) -> None:
    spa = await web_client(server, "spa", auth_method=ClientAuthMethod.NONE, first_party=True)
    tokens = await code_flow_tokens(server, spa)
    response = await server.client.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": "spa"}
    )
    assert response.status_code == 200
    refreshed = await server.client.post(
        "/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "spa",
        },
    )
    assert (refreshed.status_code, refreshed.json()) == (400, BAD_GRANT)


async def test_revocation_requires_client_authentication(server: Server) -> None:
    web, tokens = await web_tokens(server)
    response = await server.client.post("/oauth/revoke", data={"token": tokens["refresh_token"]})
    assert (response.status_code, response.json()) == (401, BAD_CLIENT)
    assert (await refresh(server, web, tokens["refresh_token"])).status_code == 200


async def test_revocation_needs_the_token(server: Server) -> None:
    svc = await service_client(server)
    data = {"token_type_hint": "refresh_token"}
    response = await server.client.post("/oauth/revoke", data=data, auth=basic(svc))
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The token parameter is missing."),
    )


# --- userinfo ---------------------------------------------------------------------------------


async def test_userinfo_get_and_post(server: Server) -> None:
    _, tokens = await web_tokens(server)
    expected = {"sub": await alice_id(server), "preferred_username": "alice"}
    header = {"Authorization": f"Bearer {tokens['access_token']}"}
    for response in (
        await server.client.get("/oauth/userinfo", headers=header),
        await server.client.post("/oauth/userinfo", headers=header),
        await server.client.post("/oauth/userinfo", data={"access_token": tokens["access_token"]}),
    ):
        assert (response.status_code, response.json()) == (200, expected)
        assert response.headers["cache-control"] == "no-store"


async def test_userinfo_shows_only_what_the_scope_allows(server: Server) -> None:
    web = await web_client(server, first_party=True)
    tokens = await code_flow_tokens(server, web, scope="openid")
    response = await userinfo(server, tokens["access_token"])
    assert response.json() == {"sub": await alice_id(server)}


async def test_userinfo_refuses_a_token_for_another_api(server: Server) -> None:
    """A token for an API (here a service's) is not for UserInfo: RFC 6750 ``invalid_token``.
    Only a grant with ``openid`` gets UserInfo's audience."""
    svc = await service_client(server)
    issued = await server.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic(svc)
    )
    response = await userinfo(server, issued.json()["access_token"])
    description = "The token is not intended for this audience."
    assert (response.status_code, response.json()) == (
        401,
        {"error": "invalid_token", "error_description": description},
    )
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="ostiary", error="invalid_token", error_description="{description}"'
    )


async def test_userinfo_without_a_token_is_a_bare_challenge(server: Server) -> None:
    for response in (
        await server.client.get("/oauth/userinfo"),
        await server.client.post("/oauth/userinfo", data={"other": "x"}),
    ):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == CHALLENGE
        assert response.json() == {"error_description": "Bearer authentication is required."}


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
async def test_userinfo_with_a_bad_token_is_invalid_token(server: Server, token: str) -> None:
    response = await userinfo(server, token)
    assert (response.status_code, response.json()) == (401, INVALID)
    assert response.headers["www-authenticate"] == (
        'Bearer realm="ostiary", error="invalid_token", '
        'error_description="The access token is invalid."'
    )


async def test_an_id_token_is_not_an_access_token(server: Server) -> None:
    _, tokens = await web_tokens(server)
    response = await userinfo(server, tokens["id_token"])
    assert (response.status_code, response.json()) == (401, INVALID)


async def test_userinfo_refuses_a_token_in_the_query_or_sent_twice(server: Server) -> None:
    _, tokens = await web_tokens(server)
    token = tokens["access_token"]
    in_query = await server.client.get("/oauth/userinfo", params={"access_token": token})
    assert (in_query.status_code, in_query.json()["error"]) == (400, "invalid_request")
    twice = await server.client.post(
        "/oauth/userinfo",
        data={"access_token": token},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (twice.status_code, twice.json()) == (
        400,
        oauth("invalid_request", "Send the token once."),
    )


async def test_userinfo_refuses_a_repeated_form_parameter_as_a_resource(server: Server) -> None:
    # RFC 6750 §3.1: a malformed request is invalid_request with the Bearer challenge.
    _, tokens = await web_tokens(server)
    token = tokens["access_token"]
    response = await server.client.post(
        "/oauth/userinfo",
        content=f"access_token={token}&access_token={token}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_request", "The access_token parameter is repeated."),
    )
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="ostiary", error="invalid_request"'
    )


async def test_userinfo_of_a_disabled_user_is_invalid_token(server: Server) -> None:
    _, tokens = await web_tokens(server)
    await server.services.accounts.disable(await alice_id(server))
    response = await userinfo(server, tokens["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_a_revocation_made_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    # Two processes on one store; the background pull is far off, so only a pull on request
    # (as every other protected route does) can refuse the token.
    storage, clock = MemoryStorage(), FrozenClock(time.time())
    settings = oauth_settings(tmp_path, revocation_sync_seconds=60)
    async with (
        running(settings, storage=storage, clock=clock) as first,
        running(settings, storage=storage, clock=clock) as second,
    ):
        await first.add_user("alice")
        web = await web_client(first, first_party=True)
        tokens = await code_flow_tokens(first, web)
        logout = await first.client.get(
            "/oauth/logout", params={"id_token_hint": tokens["id_token"]}
        )
        assert logout.status_code == 200
        response = await userinfo(second, tokens["access_token"])
        assert (response.status_code, response.json()) == (401, INVALID)
        assert web.secret is not None
        answer = await second.client.post(
            "/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(web)
        )
        assert answer.json() == INACTIVE
