"""DPoP at the token endpoint (RFC 9449 §5, §6.1, §10), every grant: an access token bound to
the proof's key, a public client's refresh family bound to it, a confidential client's not, a
code asked for with ``dpop_jkt`` redeemed only by that key, and a client registered with
``dpop_bound_access_tokens`` refused without a proof (§5.2)."""

from __future__ import annotations

import secrets

import pytest

from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, REFRESH_TOKEN
from ostiary.errors import InvalidDPoPProof, InvalidGrant, InvalidRequest
from ostiary.grants.base import IssuedTokens, OAuthParams
from ostiary.jose import JWK
from ostiary.jose.dpop import make_proof
from ostiary.jose.inspect import inspect_compact
from ostiary.storage.records import User
from ostiary.tokens.dpop_binding import ProofRequest
from tests.unit.grants._server import (
    CHALLENGE,
    ISSUER,
    ORDERS,
    REDIRECT,
    VERIFIER,
    OAuthServer,
    basic,
)

TOKEN_URL = f"{ISSUER}/oauth/token"
KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("EdDSA")


def offered(server: OAuthServer, key: JWK = KEY) -> ProofRequest:
    proof = make_proof(
        key,
        method="POST",
        url=TOKEN_URL,
        jti=secrets.token_urlsafe(12),
        iat=int(server.clock.now()),
    )
    return ProofRequest((proof,), "POST", TOKEN_URL)


@pytest.fixture
async def alice(server: OAuthServer) -> User:
    return await server.add_user()


@pytest.fixture
async def public_app(server: OAuthServer) -> Registered:
    return await server.add_web_app("spa", public=True, audiences=frozenset({ORDERS}))


@pytest.fixture
async def web(server: OAuthServer) -> Registered:
    return await server.add_web_app(audiences=frozenset({ORDERS}))


async def code_exchange(
    server: OAuthServer,
    client: Registered,
    user: User,
    *,
    dpop: ProofRequest | None,
    dpop_jkt: str | None = None,
) -> IssuedTokens:
    params = {
        "client_id": client.client.id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid orders:read",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    if dpop_jkt is not None:
        params["dpop_jkt"] = dpop_jkt
    checked = server.authorizations.check(params, (), client.client, REDIRECT)
    await server.sign_in(user, "bs_1")
    code = await server.authorizations.issue_code(
        checked, user, auth_time=server.clock.now(), browser_session_id="bs_1"
    )
    request = OAuthParams(
        {
            "grant_type": AUTHORIZATION_CODE,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        }
    )
    return await server.endpoint.exchange(basic(client), request, dpop=dpop)


async def refresh(
    server: OAuthServer, client: Registered, token: str | None, *, dpop: ProofRequest | None
) -> IssuedTokens:
    assert token is not None
    request = OAuthParams({"grant_type": REFRESH_TOKEN, "refresh_token": token})
    return await server.endpoint.exchange(basic(client), request, dpop=dpop)


def cnf_of(issued: IssuedTokens) -> object:
    """The token's ``cnf``, read without verification: a resource server would verify a bound
    token only with a proof (the toolkit's tests show that)."""
    return inspect_compact(issued.access.token)[1].get("cnf")


# --- client credentials ------------------------------------------------------------------------


async def test_client_credentials_with_a_proof_give_a_bound_dpop_token(
    server: OAuthServer,
) -> None:
    service = await server.add_service()
    request = OAuthParams({"grant_type": CLIENT_CREDENTIALS})
    issued = await server.endpoint.exchange(basic(service), request, dpop=offered(server))
    assert issued.body()["token_type"] == "DPoP"
    assert issued.dpop_jkt == KEY.thumbprint()
    assert cnf_of(issued) == {"jkt": KEY.thumbprint()}


async def test_without_a_proof_the_token_is_a_bearer_token(server: OAuthServer) -> None:
    service = await server.add_service()
    issued = await server.endpoint.exchange(
        basic(service), OAuthParams({"grant_type": CLIENT_CREDENTIALS})
    )
    assert issued.body()["token_type"] == "Bearer"
    assert cnf_of(issued) is None


async def test_a_client_registered_for_dpop_is_refused_without_a_proof(
    server: OAuthServer,
) -> None:
    """RFC 9449 §5.2 ``dpop_bound_access_tokens``."""
    service = await server.add_service()
    await server.clients.set_dpop_bound_access_tokens(service.client.id, True)
    request = OAuthParams({"grant_type": CLIENT_CREDENTIALS})
    with pytest.raises(InvalidDPoPProof) as refused:
        await server.endpoint.exchange(basic(service), request)
    assert refused.value.reason == "required"
    issued = await server.endpoint.exchange(basic(service), request, dpop=offered(server))
    assert issued.token_type == "DPoP"


async def test_an_invalid_proof_is_refused_before_anything_is_issued(
    server: OAuthServer,
) -> None:
    service = await server.add_service()
    stale = offered(server)
    server.clock.advance(3600)
    with pytest.raises(InvalidDPoPProof) as refused:
        await server.endpoint.exchange(
            basic(service), OAuthParams({"grant_type": CLIENT_CREDENTIALS}), dpop=stale
        )
    assert refused.value.reason == "expired"


# --- authorization code and refresh ------------------------------------------------------------


async def test_a_public_clients_refresh_family_is_bound_to_the_key(
    server: OAuthServer, public_app: Registered, alice: User
) -> None:
    issued = await code_exchange(server, public_app, alice, dpop=offered(server))
    assert issued.token_type == "DPoP"
    assert cnf_of(issued) == {"jkt": KEY.thumbprint()}
    found = await server.refresh.find(issued.refresh_token or "")
    assert found is not None and found[1].dpop_jkt == KEY.thumbprint()
    # RFC 9449 §5: a refresh needs a proof by that key; refused ones leave the token usable.
    with pytest.raises(InvalidDPoPProof) as missing:
        await refresh(server, public_app, issued.refresh_token, dpop=None)
    assert missing.value.reason == "missing"
    with pytest.raises(InvalidDPoPProof) as other:
        await refresh(server, public_app, issued.refresh_token, dpop=offered(server, OTHER_KEY))
    assert other.value.reason == "key_mismatch"
    renewed = await refresh(server, public_app, issued.refresh_token, dpop=offered(server))
    assert renewed.token_type == "DPoP"
    assert cnf_of(renewed) == {"jkt": KEY.thumbprint()}


async def test_a_confidential_clients_refresh_token_is_not_bound(
    server: OAuthServer, web: Registered, alice: User
) -> None:
    """RFC 9449 §5: not bound (the client authenticates), but the new access token is bound to
    the key of the proof sent with the refresh, whichever it is, or to none."""
    issued = await code_exchange(server, web, alice, dpop=offered(server))
    assert cnf_of(issued) == {"jkt": KEY.thumbprint()}
    found = await server.refresh.find(issued.refresh_token or "")
    assert found is not None and found[1].dpop_jkt is None
    renewed = await refresh(server, web, issued.refresh_token, dpop=offered(server, OTHER_KEY))
    assert cnf_of(renewed) == {"jkt": OTHER_KEY.thumbprint()}
    plain = await refresh(server, web, renewed.refresh_token, dpop=None)
    assert plain.token_type == "Bearer"
    assert cnf_of(plain) is None


async def test_an_unbound_family_refreshed_with_a_proof_gets_a_bound_access_token(
    server: OAuthServer, public_app: Registered, alice: User
) -> None:
    issued = await code_exchange(server, public_app, alice, dpop=None)
    assert issued.token_type == "Bearer"
    renewed = await refresh(server, public_app, issued.refresh_token, dpop=offered(server))
    assert cnf_of(renewed) == {"jkt": KEY.thumbprint()}
    found = await server.refresh.find(renewed.refresh_token or "")
    assert found is not None and found[1].dpop_jkt is None


async def test_a_code_bound_by_dpop_jkt_wants_a_proof_by_that_key(
    server: OAuthServer, public_app: Registered, alice: User
) -> None:
    """RFC 9449 §10."""
    with pytest.raises(InvalidDPoPProof) as missing:
        await code_exchange(server, public_app, alice, dpop=None, dpop_jkt=KEY.thumbprint())
    assert missing.value.reason == "missing"
    with pytest.raises(InvalidDPoPProof) as other:
        await code_exchange(
            server,
            public_app,
            alice,
            dpop=offered(server, OTHER_KEY),
            dpop_jkt=KEY.thumbprint(),
        )
    assert other.value.reason == "key_mismatch"
    issued = await code_exchange(
        server, public_app, alice, dpop=offered(server), dpop_jkt=KEY.thumbprint()
    )
    assert cnf_of(issued) == {"jkt": KEY.thumbprint()}


async def test_a_refused_code_stays_spent(
    server: OAuthServer, public_app: Registered, alice: User
) -> None:
    """Like a wrong PKCE verifier: whoever presented the code without the key used it up."""
    params = {
        "client_id": public_app.client.id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "dpop_jkt": KEY.thumbprint(),
    }
    checked = server.authorizations.check(params, (), public_app.client, REDIRECT)
    await server.sign_in(alice, "bs_1")
    code = await server.authorizations.issue_code(
        checked, alice, auth_time=server.clock.now(), browser_session_id="bs_1"
    )
    request = OAuthParams(
        {
            "grant_type": AUTHORIZATION_CODE,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": VERIFIER,
        }
    )
    with pytest.raises(InvalidDPoPProof):
        await server.endpoint.exchange(basic(public_app), request, dpop=None)
    with pytest.raises(InvalidGrant):
        await server.endpoint.exchange(basic(public_app), request, dpop=offered(server))


async def test_a_malformed_dpop_jkt_is_refused_at_the_authorization_endpoint(
    server: OAuthServer, web: Registered
) -> None:
    params = {
        "client_id": web.client.id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "dpop_jkt": "not a thumbprint",
    }
    with pytest.raises(InvalidRequest, match="dpop_jkt"):
        server.authorizations.check(params, (), web.client, REDIRECT)
