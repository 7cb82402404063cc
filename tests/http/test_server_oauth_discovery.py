"""``/.well-known/openid-configuration`` (OpenID Connect Discovery §3) and
``/.well-known/oauth-authorization-server`` (RFC 8414 §3): one document whose every endpoint
is a real one of this server, advertising only what it does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ._oauth import (
    ISSUER,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
)
from ._server import Server, running, settings_for

OPENID = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


@pytest.fixture
async def metadata(server: Server) -> dict[str, Any]:
    response = await server.client.get(OPENID)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_both_documents_are_the_same_and_cacheable(server: Server) -> None:
    openid, rfc8414 = await server.client.get(OPENID), await server.client.get(RFC8414)
    assert openid.json() == rfc8414.json()
    for response in (openid, rfc8414):
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "public, max-age=300"


async def test_the_issuer_is_the_one_in_the_tokens(metadata: dict[str, Any]) -> None:
    # RFC 8414 §3.3 / Discovery §4.3: identical to the issuer the server signs with.
    assert metadata["issuer"] == ISSUER


async def test_the_endpoints_are_the_servers(metadata: dict[str, Any]) -> None:
    assert {k: v for k, v in metadata.items() if k.endswith(("_endpoint", "_uri"))} == {
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "userinfo_endpoint": f"{ISSUER}/oauth/userinfo",
        "jwks_uri": f"{ISSUER}/.well-known/jwks.json",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "introspection_endpoint": f"{ISSUER}/oauth/introspect",
        "end_session_endpoint": f"{ISSUER}/oauth/logout",
    }


@pytest.mark.parametrize(
    ("name", "method", "status"),
    [
        ("authorization_endpoint", "GET", 400),  # no client_id: the error page
        ("token_endpoint", "POST", 400),  # not a form
        ("userinfo_endpoint", "GET", 401),
        ("jwks_uri", "GET", 200),
        ("revocation_endpoint", "POST", 400),
        ("introspection_endpoint", "POST", 400),
        ("end_session_endpoint", "GET", 200),
    ],
)
async def test_every_advertised_endpoint_answers(
    server: Server, metadata: dict[str, Any], name: str, method: str, status: int
) -> None:
    response = await server.client.request(method, metadata[name])
    assert response.status_code == status, (name, response.text[:200])


async def test_only_what_the_server_does_is_advertised(metadata: dict[str, Any]) -> None:
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["response_modes_supported"] == ["query"]
    assert metadata["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert metadata["subject_types_supported"] == ["public"]
    assert sorted(metadata["token_endpoint_auth_methods_supported"]) == [
        "client_secret_basic",
        "client_secret_post",
        "none",
        "private_key_jwt",
    ]
    assert "none" not in metadata["introspection_endpoint_auth_methods_supported"]
    assert not any(
        a.startswith("HS") for a in metadata["token_endpoint_auth_signing_alg_values_supported"]
    )
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False
    assert {"openid", "profile"} <= set(metadata["scopes_supported"])


async def test_id_tokens_are_rs256_by_default_with_keys_of_their_own(
    server: Server, metadata: dict[str, Any]
) -> None:
    """OpenID Connect Discovery §3: RS256 MUST be listed (Core §15.1: every client knows it);
    access tokens keep the server's ES256 keys."""
    jwks = (await server.client.get(metadata["jwks_uri"])).json()
    algs = sorted(key["alg"] for key in jwks["keys"])
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert algs == ["ES256", "RS256"]


async def test_id_tokens_share_the_access_keys_when_the_algorithms_agree(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, signing_alg="RS256", id_token_signing_alg="RS256")
    async with running(settings) as server:
        metadata = (await server.client.get("/.well-known/openid-configuration")).json()
        jwks = (await server.client.get("/.well-known/jwks.json")).json()
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert [key["alg"] for key in jwks["keys"]] == ["RS256"]
