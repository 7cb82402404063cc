"""A relying party that uses PyJWT (nothing of Ostiary's JOSE code) validates the Logout
Token Ostiary POSTs to its back-channel logout URI, as OpenID Connect Back-Channel Logout 1.0
§2.6 says: signature by a key of the OP's JWKS (fetched with ``jwt.PyJWKClient``), ``typ``
``logout+jwt`` (§2.4, §4.1), ``iss``, ``aud`` its client id, ``iat`` and ``exp``, the
back-channel logout event, ``sid`` and ``sub`` of its ID token, and no ``nonce``. The same
checks refuse the ID token the relying party got at sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import jwt
import pytest

from ostiary.authn.client_settings import ClientSettings
from tests._relying_party import LOGOUT_PATH, RelyingParty, running_relying_party
from tests.http._oauth import (
    AFTER_LOGOUT,
    CODE_FLOW,
    ISSUER,
    OIDC_SCOPES,
    REDIRECT,
    code_flow_tokens,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
)
from tests.http._server import Server
from tests.interop.support import JWKSServer

pytestmark = pytest.mark.interop

CLIENT_ID: Final = "rp"
EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"


class LogoutTokenRefused(Exception):
    """What the relying party answers 400 Bad Request for (§2.6, §2.8)."""


def validate_logout_token(token: str, jwks_url: str, algorithms: list[str]) -> dict[str, Any]:
    """§2.6, written as a relying party would with PyJWT."""
    signing_key = jwt.PyJWKClient(jwks_url, timeout=10).get_signing_key_from_jwt(token)
    if jwt.get_unverified_header(token).get("typ") != "logout+jwt":
        raise LogoutTokenRefused("not explicitly typed logout+jwt (§2.4, §4.1)")
    decoded: dict[str, Any] = jwt.decode_complete(
        token,
        signing_key.key,
        algorithms=algorithms,
        audience=CLIENT_ID,
        issuer=ISSUER,
        leeway=5,
        options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
    )
    claims: dict[str, Any] = decoded["payload"]
    if not isinstance(claims["events"], dict) or claims["events"].get(EVENT) != {}:
        raise LogoutTokenRefused("no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenRefused("a nonce: this is not a Logout Token")
    if "sid" not in claims and "sub" not in claims:
        raise LogoutTokenRefused("neither sid nor sub")
    return claims


@pytest.fixture
def rp() -> Iterator[tuple[RelyingParty, str]]:
    with running_relying_party() as running:
        yield running


async def test_pyjwt_validates_the_logout_token_of_an_rp_initiated_logout(
    server: Server, rp: tuple[RelyingParty, str], jwks_server: JWKSServer
) -> None:
    party, url = rp
    registered = await server.services.oauth.clients.create(
        ClientSettings(
            name="PyJWT relying party",
            grant_types=CODE_FLOW,
            redirect_uris=(REDIRECT,),
            post_logout_redirect_uris=(AFTER_LOGOUT,),
            scopes=OIDC_SCOPES,
            first_party=True,
            backchannel_logout_uri=f"{url}{LOGOUT_PATH}",
        ),
        client_id=CLIENT_ID,
    )
    tokens = await code_flow_tokens(server, registered)
    metadata = (await server.client.get("/.well-known/openid-configuration")).json()
    algorithms: list[str] = metadata["id_token_signing_alg_values_supported"]
    jwks_url = jwks_server.publish((await server.client.get("/.well-known/jwks.json")).json())
    id_token = jwt.decode(
        tokens["id_token"],
        jwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(tokens["id_token"]).key,
        algorithms=algorithms,
        audience=CLIENT_ID,
        issuer=ISSUER,
        leeway=5,
    )

    await server.client.get("/oauth/logout", params={"id_token_hint": tokens["id_token"]})
    await server.services.backchannel.drain()

    (received,) = party.received
    assert received.content_type == "application/x-www-form-urlencoded"
    claims = validate_logout_token(received.logout_token, jwks_url, algorithms)
    assert (claims["sid"], claims["sub"]) == (id_token["sid"], id_token["sub"])
    assert claims["iat"] <= claims["exp"] <= claims["iat"] + 120
    # Cross-JWT confusion (§4.1): the relying party's own ID token is no Logout Token.
    with pytest.raises(LogoutTokenRefused, match="logout\\+jwt"):
        validate_logout_token(tokens["id_token"], jwks_url, algorithms)
