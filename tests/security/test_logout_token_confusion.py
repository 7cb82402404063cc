"""Attack: a Logout Token replayed as another token (OpenID Connect Back-Channel Logout 1.0
§4.1 "Cross-JWT Confusion", RFC 8725 §3.11). Ostiary signs Logout Tokens with its ID-token
keys and POSTs them to relying parties, which may leak them; one must never pass as an access
token (at the server or with ``TokenVerifier``) nor as the ID token of an ``id_token_hint``,
even with the access tokens' key and the right audience and subject: its ``typ`` is
``logout+jwt``."""

from __future__ import annotations

import pytest

from ostiary.errors import WrongTokenType
from ostiary.jose import JWK, JWKSet
from ostiary.resource import TokenVerifier
from ostiary.tokens.id_token import read_id_token_hint
from ostiary.tokens.logout_token import LogoutTokenIssuer
from tests.http._oauth import (
    ISSUER,
    claims_of,
    code_flow_tokens,
    form_action,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    web_client,
)
from tests.http._server import Server, bearer


def forged(server: Server, *, audience: str, subject: str, sid: str | None, key: JWK) -> str:
    """A Logout Token as the server makes them, but with ``key`` and ``audience``."""
    issuer = LogoutTokenIssuer(lambda: key, issuer=ISSUER, clock=server.clock)
    return issuer.issue(client_id=audience, subject=subject, session_id=sid)


async def test_a_logout_token_is_no_access_token_at_the_server(server: Server) -> None:
    tokens = await code_flow_tokens(server, await web_client(server, first_party=True))
    subject = claims_of(tokens["access_token"])["sub"]
    access_key = server.services.keys.signing_key()  # the access tokens' own key
    audiences = server.services.audiences
    for audience, path in [
        (audiences.userinfo, "/oauth/userinfo"),
        (audiences.account, "/auth/me"),
    ]:
        token = forged(server, audience=audience, subject=subject, sid=None, key=access_key)
        response = await server.client.get(path, headers=bearer(token))
        assert response.status_code == 401, path
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_logout_token_is_no_access_token_for_a_token_verifier(server: Server) -> None:
    key = server.services.keys.signing_key()
    token = forged(server, audience="https://api.example.com", subject="usr_x", sid=None, key=key)
    verifier = TokenVerifier(
        issuer=ISSUER, audience="https://api.example.com", keys=[key.public()], clock=server.clock
    )
    with pytest.raises(WrongTokenType):
        await verifier.verify(token)


async def test_a_logout_token_is_no_id_token_hint(server: Server) -> None:
    """With a real ID token of this browser's session, /oauth/logout ends it at once; a
    Logout Token naming the same client, user and session identifies nobody, so the user is
    asked to confirm."""
    tokens = await code_flow_tokens(server, await web_client(server, first_party=True))
    id_token = claims_of(tokens["id_token"])
    id_key = server.services.id_keys.signing_key()
    token = forged(server, audience="web", subject=id_token["sub"], sid=id_token["sid"], key=id_key)
    hint = read_id_token_hint(
        token, JWKSet([id_key.public()]), issuer=ISSUER, leeway=0, clock=server.clock
    )
    assert hint is None
    page = await server.client.get("/oauth/logout", params={"id_token_hint": token})
    assert form_action(page) == "/oauth/logout"  # the confirmation form: nothing ended yet
