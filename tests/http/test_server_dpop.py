"""DPoP (RFC 9449) at ``POST /oauth/token`` for every grant, black-box: access tokens bound to
the proof's key (``cnf.jkt``, §6.1) with ``token_type: DPoP`` (§5), a public client's refresh
tokens bound to it (§5), a code bound by ``dpop_jkt`` (§10), clients registered with
``dpop_bound_access_tokens`` (§5.2), server nonces (§8), discovery (§5.1), introspection
(§6.2) and the audit trail."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.audit import AuditTrail
from ostiary.authn.client_registry import Registered
from ostiary.authn.client_settings import AUTHORIZATION_CODE, ClientSettings
from ostiary.jose import JWK
from ostiary.jose.dpop import DEFAULT_DPOP_ALGORITHMS
from ostiary.server.demo import DPOP_CLIENT
from ostiary.storage.records import ClientAuthMethod

from ._dpop import TOKEN_PATH, dpop, proof
from ._oauth import (
    OIDC_SCOPES,
    REDIRECT,
    Pkce,
    authorization_code,
    authorize_query,
    basic,
    claims_of,
    oauth_server,
    oauth_server_fixture,  # noqa: F401 (the server fixture)
    oauth_settings,
    service_client,
    web_client,
)
from ._server import NO_STORE, Server, oauth, running, settings_for

KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("ES256")
JKT = KEY.thumbprint()
CC = {"grant_type": "client_credentials"}
NEEDS_PROOF = oauth("invalid_dpop_proof", "This client must send a DPoP proof.")
REFRESH_NEEDS_KEY = oauth(
    "invalid_dpop_proof", "The refresh token is bound to a DPoP key: send a proof signed by it."
)
REFRESH_OTHER_KEY = oauth(
    "invalid_dpop_proof", "The DPoP proof is not signed by the key the refresh token is bound to."
)
USE_NONCE = oauth("use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")


async def token(
    server: Server,
    data: dict[str, str],
    *,
    auth: tuple[str, str] | None = None,
    key: JWK | None = None,
    nonce: str | None = None,
) -> httpx.Response:
    """A token request, with a fresh proof by ``key`` if given."""
    headers = dpop(proof(server, key, nonce=nonce)) if key is not None else {}
    if auth is None:
        return await server.client.post(TOKEN_PATH, data=data, headers=headers)
    return await server.client.post(TOKEN_PATH, data=data, auth=auth, headers=headers)


async def spa(server: Server, **changes: Any) -> Registered:
    return await web_client(server, "spa", auth_method=ClientAuthMethod.NONE, **changes)


async def code_flow(
    server: Server, client: Registered, *, key: JWK | None, **query: str
) -> httpx.Response:
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query(client.client.id, pkce, **query))
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pkce.verifier,
    }
    if client.secret is None:
        data["client_id"] = client.client.id
        return await token(server, data, key=key)
    return await token(server, data, auth=basic(client), key=key)


async def refresh(
    server: Server, client: Registered, refresh_token: str, *, key: JWK | None
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client.secret is None:
        return await token(server, {**data, "client_id": client.client.id}, key=key)
    return await token(server, data, auth=basic(client), key=key)


# --- client credentials ------------------------------------------------------------------------


async def test_a_proof_gets_a_dpop_bound_access_token(server: Server) -> None:
    svc = await service_client(server)
    response = await token(server, CC, auth=basic(svc), key=KEY)
    assert response.status_code == 200, response.text
    assert {k: response.headers[k] for k in NO_STORE} == NO_STORE
    assert "dpop-nonce" not in response.headers  # nonces are off by default
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": JKT}


async def test_without_a_proof_the_token_is_bearer_as_before(server: Server) -> None:
    svc = await service_client(server)
    body = (await token(server, CC, auth=basic(svc))).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])


async def test_an_invalid_proof_is_a_400_invalid_dpop_proof(server: Server) -> None:
    svc = await service_client(server)
    response = await server.client.post(
        TOKEN_PATH, data=CC, auth=basic(svc), headers=dpop("not.a.proof")
    )
    assert (response.status_code, response.json()) == (
        400,
        oauth("invalid_dpop_proof", "The DPoP proof is invalid."),
    )
    assert {k: response.headers[k] for k in NO_STORE} == NO_STORE


async def test_a_client_registered_for_dpop_is_refused_without_a_proof(server: Server) -> None:
    svc = await service_client(server)
    await server.services.oauth.clients.set_dpop_bound_access_tokens("svc", True)
    refused = await token(server, CC, auth=basic(svc))
    assert (refused.status_code, refused.json()) == (400, NEEDS_PROOF)
    issued = await token(server, CC, auth=basic(svc), key=KEY)
    assert issued.json()["token_type"] == "DPoP"


async def test_dpop_bound_access_tokens_can_be_set_at_registration(server: Server) -> None:
    registered = await spa(server)
    assert not registered.client.dpop_bound_access_tokens
    created = await server.services.oauth.clients.create(
        ClientSettings(
            name="Required",
            auth_method=ClientAuthMethod.NONE,
            grant_types=frozenset({AUTHORIZATION_CODE}),
            redirect_uris=(REDIRECT,),
            scopes=OIDC_SCOPES,
            dpop_bound_access_tokens=True,
        ),
        client_id="required",
    )
    assert created.client.dpop_bound_access_tokens
    response = await code_flow(server, created, key=None)
    assert (response.status_code, response.json()) == (400, NEEDS_PROOF)


# --- authorization code and refresh ------------------------------------------------------------


async def test_a_public_clients_refresh_token_is_bound_to_the_key(server: Server) -> None:
    app = await spa(server)
    issued = await code_flow(server, app, key=KEY)
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": JKT}
    missing = await refresh(server, app, tokens["refresh_token"], key=None)
    assert (missing.status_code, missing.json()) == (400, REFRESH_NEEDS_KEY)
    other = await refresh(server, app, tokens["refresh_token"], key=OTHER_KEY)
    assert (other.status_code, other.json()) == (400, REFRESH_OTHER_KEY)
    # The refused attempts left the token usable: no reuse detection, no revoked session.
    renewed = await refresh(server, app, tokens["refresh_token"], key=KEY)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert claims_of(renewed.json()["access_token"])["cnf"] == {"jkt": JKT}
    again = await refresh(server, app, renewed.json()["refresh_token"], key=KEY)
    assert again.status_code == 200, again.text


async def test_a_confidential_clients_refresh_token_is_not_bound(server: Server) -> None:
    """RFC 9449 §5: the new access token is bound to the key of the refresh's own proof."""
    web = await web_client(server)
    tokens = (await code_flow(server, web, key=KEY)).json()
    assert tokens["token_type"] == "DPoP"
    renewed = await refresh(server, web, tokens["refresh_token"], key=OTHER_KEY)
    assert renewed.status_code == 200, renewed.text
    assert claims_of(renewed.json()["access_token"])["cnf"] == {"jkt": OTHER_KEY.thumbprint()}
    plain = await refresh(server, web, renewed.json()["refresh_token"], key=None)
    assert plain.json()["token_type"] == "Bearer"


async def test_dpop_jkt_binds_the_code_to_the_key(server: Server) -> None:
    """RFC 9449 §10: the code is redeemed only with a proof by the key ``dpop_jkt`` names."""
    app = await spa(server)
    response = await code_flow(server, app, key=KEY, dpop_jkt=JKT)
    assert response.status_code == 200, response.text
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": JKT}


async def test_a_malformed_dpop_jkt_goes_back_to_the_client(server: Server) -> None:
    app = await spa(server)
    query = authorize_query(app.client.id, Pkce.new(), dpop_jkt="x")
    response = await server.client.get("/oauth/authorize", params=query)
    assert response.status_code == 303
    location = httpx.URL(response.headers["location"])
    assert location.params["error"] == "invalid_request"
    assert "dpop_jkt" in location.params["error_description"]


# --- nonces (RFC 9449 §8) ----------------------------------------------------------------------


@pytest.fixture
async def nonce_server(tmp_path: Path) -> Any:
    async with running(oauth_settings(tmp_path, dpop_nonces=True)) as srv:
        await srv.add_user("alice")
        yield srv


async def test_with_nonces_on_a_proof_without_one_gets_use_dpop_nonce(
    nonce_server: Server,
) -> None:
    server = nonce_server
    svc = await service_client(server)
    first = await token(server, CC, auth=basic(svc), key=KEY)
    assert (first.status_code, first.json()) == (400, USE_NONCE)
    nonce = first.headers["dpop-nonce"]
    second = await token(server, CC, auth=basic(svc), key=KEY, nonce=nonce)
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    assert second.headers["dpop-nonce"]  # §8.2: the nonce for the next request
    stale = await token(server, CC, auth=basic(svc), key=KEY, nonce="A" + nonce[1:])
    assert (stale.status_code, stale.json()) == (400, USE_NONCE)


async def test_a_nonce_lives_two_windows(nonce_server: Server) -> None:
    server = nonce_server
    svc = await service_client(server)
    nonce = (await token(server, CC, auth=basic(svc), key=KEY)).headers["dpop-nonce"]
    lifetime = server.settings.dpop_nonce_lifetime
    server.clock.advance(lifetime)
    assert (await token(server, CC, auth=basic(svc), key=KEY, nonce=nonce)).status_code == 200
    server.clock.advance(lifetime)
    expired = await token(server, CC, auth=basic(svc), key=KEY, nonce=nonce)
    assert (expired.status_code, expired.json()) == (400, USE_NONCE)
    assert expired.headers["dpop-nonce"] != nonce


async def test_every_instance_accepts_the_nonces_of_the_others(tmp_path: Path) -> None:
    """The nonce key is derived from the master key: shared by every worker and instance."""
    settings = oauth_settings(tmp_path, dpop_nonces=True)
    async with running(settings) as first, running(settings, clock=first.clock) as second:
        nonce = second.services.oauth.dpop.fresh_nonce()
        assert nonce is not None and nonce == first.services.oauth.dpop.fresh_nonce()
        svc = await service_client(first)
        response = await token(first, CC, auth=basic(svc), key=KEY, nonce=nonce)
        assert response.status_code == 200, response.text
    other = oauth_settings(tmp_path / "elsewhere", dpop_nonces=True)
    async with running(other, clock=first.clock) as stranger:
        assert stranger.services.oauth.dpop.fresh_nonce() != nonce


async def test_without_nonces_no_nonce_is_sent(server: Server) -> None:
    assert server.services.oauth.dpop.fresh_nonce() is None


# --- discovery, introspection, audit -----------------------------------------------------------


async def test_discovery_advertises_the_proof_algorithms(tmp_path: Path) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        async with oauth_server(tmp_path) as server:
            metadata = (await server.client.get(path)).json()
        assert metadata["dpop_signing_alg_values_supported"] == list(DEFAULT_DPOP_ALGORITHMS)
    settings = oauth_settings(tmp_path, dpop_signing_algs=["EdDSA"])
    async with running(settings) as server:
        metadata = (await server.client.get("/.well-known/openid-configuration")).json()
        assert metadata["dpop_signing_alg_values_supported"] == ["EdDSA"]
        svc = await service_client(server)
        refused = await token(server, CC, auth=basic(svc), key=KEY)  # ES256: not allowed now
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")
        allowed = await token(server, CC, auth=basic(svc), key=JWK.generate("EdDSA"))
        assert allowed.status_code == 200, allowed.text


async def test_introspection_returns_cnf_and_the_dpop_token_type(server: Server) -> None:
    """RFC 9449 §6.2."""
    svc = await service_client(server)
    access = (await token(server, CC, auth=basic(svc), key=KEY)).json()["access_token"]
    answer = await server.client.post("/oauth/introspect", data={"token": access}, auth=basic(svc))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["active"], body["token_type"], body["cnf"]) == (True, "DPoP", {"jkt": JKT})
    plain = (await token(server, CC, auth=basic(svc))).json()["access_token"]
    answer = await server.client.post("/oauth/introspect", data={"token": plain}, auth=basic(svc))
    assert answer.json()["token_type"] == "Bearer" and "cnf" not in answer.json()


async def test_the_audit_names_the_key_never_the_proof(server: Server) -> None:
    web = await web_client(server)
    sent = proof(server, KEY)
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query(web.client.id, pkce))
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": pkce.verifier,
    }
    response = await server.client.post(TOKEN_PATH, data=data, auth=basic(web), headers=dpop(sent))
    assert response.status_code == 200, response.text
    audit: AuditTrail = server.services.audit
    await audit.drain()
    events = await server.services.storage.audit.query(kind="oauth.authorization_code")
    assert [event.data.get("dpop_jkt") for event in events] == [JKT]
    everything = await server.services.storage.audit.query(limit=1000)
    assert all(sent not in repr(dataclasses.asdict(event)) for event in everything)
    assert all(sent.split(".")[2] not in repr(event) for event in everything)


async def test_the_demo_seeds_a_client_that_requires_dpop(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=f"sqlite:///{tmp_path / 'demo.db'}", demo=True)
    async with running(settings) as demo:
        client = await demo.services.storage.clients.get(DPOP_CLIENT)
        assert client is not None and client.public and client.dpop_bound_access_tokens
        refused = await demo.client.post(
            TOKEN_PATH,
            data={"grant_type": "authorization_code", "code": "x", "client_id": DPOP_CLIENT},
        )
        assert (refused.status_code, refused.json()) == (400, NEEDS_PROOF)
