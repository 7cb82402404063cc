"""Attack: PKCE downgrade (RFC 7636, RFC 9700 §2.1.1 and §4.8.2). An attacker who steals a
code must not be able to redeem it by leaving PKCE out, by switching to ``plain`` (where the
challenge, visible in the front channel, is the verifier), or by presenting a verifier of
another request. PKCE is required, S256 only, and a failed check spends the code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.http._oauth import (
    ISSUER,
    REDIRECT,
    Pkce,
    authorization_code,
    authorize_query,
    basic,
    oauth_server,
    redeem,
    redirect_query,
    web_client,
)
from tests.http._server import Server, oauth

BAD_GRANT = oauth("invalid_grant", "The grant is invalid, expired or revoked.")
PKCE_REQUIRED = "PKCE is required: send code_challenge (S256)."
S256_ONLY = "The code_challenge_method parameter must be S256 (plain is refused)."
NOT_S256 = "The code_challenge parameter is not a base64url SHA-256 value."


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with oauth_server(tmp_path) as srv:
        await web_client(srv, first_party=True)
        yield srv


@pytest.mark.parametrize(
    ("change", "drop", "description"),
    [
        ({}, ("code_challenge", "code_challenge_method"), PKCE_REQUIRED),
        ({}, ("code_challenge",), PKCE_REQUIRED),
        ({}, ("code_challenge_method",), S256_ONLY),  # RFC 7636 §4.3: absent means plain
        ({"code_challenge_method": "plain"}, (), S256_ONLY),
        ({"code_challenge_method": "s256"}, (), S256_ONLY),
        ({"code_challenge_method": "S512"}, (), S256_ONLY),
        ({"code_challenge": "short"}, (), NOT_S256),
        ({"code_challenge": "a" * 128}, (), NOT_S256),
        ({"code_challenge": "A" * 42 + "="}, (), NOT_S256),
    ],
    ids=[
        "no pkce",
        "no challenge",
        "no method",
        "plain",
        "lower-case s256",
        "unknown method",
        "short challenge",
        "a plain verifier as challenge",
        "padded challenge",
    ],
)
async def test_the_authorization_request_must_use_s256(
    server: Server, change: dict[str, str], drop: tuple[str, ...], description: str
) -> None:
    query = authorize_query("web", Pkce.new(), **change)
    for name in drop:
        del query[name]
    response = await server.client.get("/oauth/authorize", params=query)
    assert redirect_query(response) == {
        "error": "invalid_request",
        "error_description": description,
        "state": "st-web",
        "iss": ISSUER,
    }


def _verifiers(pkce: Pkce) -> dict[str, str | None]:
    return {
        "missing": None,
        "another request's": Pkce.new().verifier,
        "the challenge itself (plain)": pkce.challenge,
        "empty": "",
        "too short": pkce.verifier[:42],
        "right one plus a character": pkce.verifier + "x",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "missing",
        "another request's",
        "the challenge itself (plain)",
        "empty",
        "too short",
        "right one plus a character",
    ],
)
async def test_a_wrong_verifier_is_refused_and_spends_the_code(server: Server, kind: str) -> None:
    web = await server.services.oauth.clients.rotate_secret("web")
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    verifier = _verifiers(pkce)[kind]
    if verifier is not None:
        data["code_verifier"] = verifier
    response = await server.client.post("/oauth/token", data=data, auth=basic(web))
    assert (response.status_code, response.json()) == (400, BAD_GRANT)
    # The thief had one try: the right verifier no longer helps anybody.
    after = await redeem(server, web, code, pkce)
    assert (after.status_code, after.json()) == (400, BAD_GRANT)


async def test_the_right_verifier_is_accepted(server: Server) -> None:
    web = await server.services.oauth.clients.rotate_secret("web")
    pkce = Pkce.new()
    code = await authorization_code(server, authorize_query("web", pkce))
    assert (await redeem(server, web, code, pkce)).status_code == 200
