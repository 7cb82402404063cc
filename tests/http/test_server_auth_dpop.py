"""DPoP (RFC 9449) at ``POST /auth/login`` and ``POST /auth/refresh``, in body mode and in
browser (cookie) mode: a login with a proof binds its access tokens (``cnf.jkt``, §6.1;
``token_type: DPoP``, §5) and its session to the key; a refresh of a bound session needs a
proof by that key, and a refused one leaves the session usable; nonces (§8); the proof's
``htu`` is the issuer's URL, whatever ``Host`` the request names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.jose import JWK

from ._dpop import LOGIN_PATH, REFRESH_PATH, dpop, proof
from ._oauth import claims_of, oauth_settings
from ._refresh_cookie import SAME_ORIGIN, cookie_login, cookie_refresh, refresh_cookie
from ._server import PASSWORD, Server, oauth, running

KEY = JWK.generate("ES256")
OTHER_KEY = JWK.generate("EdDSA")
JKT = KEY.thumbprint()
SESSION_NEEDS_KEY = oauth(
    "invalid_dpop_proof", "The session is bound to a DPoP key: send a proof signed by it."
)
SESSION_OTHER_KEY = oauth(
    "invalid_dpop_proof", "The DPoP proof is not signed by the key the session is bound to."
)
USE_NONCE = oauth("use_dpop_nonce", "Authorization server requires nonce in DPoP proof.")


async def login(server: Server, key: JWK | None, **extra: Any) -> httpx.Response:
    headers = dpop(proof(server, key, LOGIN_PATH)) if key is not None else {}
    return await server.client.post(
        LOGIN_PATH,
        json={"username": "alice", "password": PASSWORD, **extra},
        headers=headers,
    )


async def refresh(server: Server, refresh_token: str, key: JWK | None) -> httpx.Response:
    headers = dpop(proof(server, key, REFRESH_PATH)) if key is not None else {}
    return await server.client.post(
        REFRESH_PATH, json={"refresh_token": refresh_token}, headers=headers
    )


async def session_of(server: Server, access_token: str) -> Any:
    sid = claims_of(access_token)["sid"]
    return await server.services.storage.sessions.get(sid)


async def test_a_login_with_a_proof_binds_the_token_and_the_session(server: Server) -> None:
    response = await login(server, KEY)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": JKT}
    session = await session_of(server, body["access_token"])
    assert session.dpop_jkt == JKT
    assert "dpop-nonce" not in response.headers


async def test_a_login_without_a_proof_is_bearer_and_unbound(server: Server) -> None:
    body = (await login(server, None)).json()
    assert body["token_type"] == "Bearer"
    assert "cnf" not in claims_of(body["access_token"])
    assert (await session_of(server, body["access_token"])).dpop_jkt is None


async def test_a_bound_session_refreshes_only_with_a_proof_by_its_key(server: Server) -> None:
    body = (await login(server, KEY)).json()
    missing = await refresh(server, body["refresh_token"], None)
    assert (missing.status_code, missing.json()) == (400, SESSION_NEEDS_KEY)
    other = await refresh(server, body["refresh_token"], OTHER_KEY)
    assert (other.status_code, other.json()) == (400, SESSION_OTHER_KEY)
    # Refused before the rotation: the token still works, the session lives.
    renewed = await refresh(server, body["refresh_token"], KEY)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert claims_of(renewed.json()["access_token"])["cnf"] == {"jkt": JKT}
    assert (await session_of(server, renewed.json()["access_token"])).revoked_at is None


async def test_an_unbound_session_refreshed_with_a_proof_gets_a_bound_token(
    server: Server,
) -> None:
    body = (await login(server, None)).json()
    renewed = await refresh(server, body["refresh_token"], KEY)
    assert renewed.status_code == 200, renewed.text
    assert claims_of(renewed.json()["access_token"])["cnf"] == {"jkt": JKT}
    plain = await refresh(server, renewed.json()["refresh_token"], None)
    assert plain.json()["token_type"] == "Bearer"


async def test_a_bad_proof_at_login_is_refused_before_the_password_is_checked(
    server: Server,
) -> None:
    response = await server.client.post(
        LOGIN_PATH,
        json={"username": "alice", "password": "wrong password!"},
        headers=dpop("a.b.c"),
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_dpop_proof")


async def test_the_proof_names_the_issuers_url_not_the_requests_host(server: Server) -> None:
    """The server's issuer is http://127.0.0.1:8000; the test client calls http://localhost."""
    assert server.settings.issuer == "http://127.0.0.1:8000"
    as_sent = proof(server, KEY, url=f"{server.client.base_url}{LOGIN_PATH}")
    refused = await server.client.post(
        LOGIN_PATH, json={"username": "alice", "password": PASSWORD}, headers=dpop(as_sent)
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_dpop_proof")
    assert (await login(server, KEY)).status_code == 200


# --- browser (cookie) mode ---------------------------------------------------------------------


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Server]:
    """A server whose issuer is the test client's origin (browser mode's origin check)."""
    async with running(oauth_settings(tmp_path)) as srv:
        await srv.add_user("alice")
        yield srv


async def test_cookie_mode_binds_the_session_and_refreshes_with_the_key(browser: Server) -> None:
    server = browser
    body = await cookie_login(server, DPoP=proof(server, KEY, LOGIN_PATH))
    assert body["token_type"] == "DPoP"
    assert claims_of(body["access_token"])["cnf"] == {"jkt": JKT}
    cookie = refresh_cookie(server)
    missing = await cookie_refresh(server, body["csrf_token"])
    assert (missing.status_code, missing.json()) == (400, SESSION_NEEDS_KEY)
    assert refresh_cookie(server) == cookie  # kept: the session is not the refusal's fault
    renewed = await cookie_refresh(
        server,
        body["csrf_token"],
        headers={**SAME_ORIGIN, "DPoP": proof(server, KEY, REFRESH_PATH)},
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    assert refresh_cookie(server) != cookie


# --- nonces ------------------------------------------------------------------------------------


async def test_login_and_refresh_ask_for_the_servers_nonce(tmp_path: Path) -> None:
    async with running(oauth_settings(tmp_path, dpop_nonces=True)) as server:
        await server.add_user("alice")
        first = await login(server, KEY)
        assert (first.status_code, first.json()) == (400, USE_NONCE)
        nonce = first.headers["dpop-nonce"]
        headers = dpop(proof(server, KEY, LOGIN_PATH, nonce=nonce))
        logged_in = await server.client.post(
            LOGIN_PATH, json={"username": "alice", "password": PASSWORD}, headers=headers
        )
        assert logged_in.status_code == 200, logged_in.text
        nonce = logged_in.headers["dpop-nonce"]
        headers = dpop(proof(server, KEY, REFRESH_PATH, nonce=nonce))
        renewed = await server.client.post(
            REFRESH_PATH, json={"refresh_token": logged_in.json()["refresh_token"]}, headers=headers
        )
        assert renewed.status_code == 200, renewed.text
        assert renewed.headers["dpop-nonce"]


@pytest.mark.parametrize("path", [LOGIN_PATH, REFRESH_PATH, "/oauth/token"])
async def test_the_openapi_document_names_the_dpop_header(server: Server, path: str) -> None:
    """Every endpoint that takes a proof says so, for clients and for the fuzzing of the
    suite (tests/http/test_server_openapi_fuzz.py sends it what the document allows)."""
    document = (await server.client.get("/openapi.json")).json()
    parameters = document["paths"][path]["post"].get("parameters", [])
    assert {"name": "DPoP", "in": "header"}.items() <= next(
        p for p in parameters if p["name"] == "DPoP"
    ).items()
