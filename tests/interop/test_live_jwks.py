"""Interoperability through the live JWKS endpoint: Node's ``jose`` (``createRemoteJWKSet`` +
``jwtVerify`` with issuer, audience and ``typ: 'at+jwt'``) and PyJWT's ``PyJWKClient`` verify
access tokens that the real ``ostiary serve --demo`` issued at ``/auth/login``, fetching the
keys from its ``/.well-known/jwks.json`` over HTTP, as resource servers written by others
would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import jwt
import pytest

from tests.http._live import (
    AUDIENCE,
    JWKS_PATH,
    LiveServer,
    header_of,
    live_server,
    login_audiences,
    signature_of,
)
from tests.interop.support import NodeJose

pytestmark = [pytest.mark.interop, pytest.mark.slow]

REQUIRED: Final = ["iss", "sub", "aud", "exp", "iat", "jti"]
#: RFC 9068 §2.2 and what Ostiary adds (docs/configuration.md).
ACCESS_CLAIMS: Final = {*REQUIRED, "client_id", "scope", "roles", "sid"}


@dataclass(frozen=True)
class Issued:
    """Tokens of the live server and what it says about them."""

    alice: str
    admin: str
    alice_id: str
    jwks: dict[str, Any]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("live-jwks")) as server:
        yield server


@pytest.fixture(scope="module")
def issued(live: LiveServer) -> Issued:
    with live.client() as client:
        tokens = {
            name: client.post(
                "/auth/login", json={"username": name, "password": live.password(name)}
            ).json()["access_token"]
            for name in ("alice", "admin")
        }
        me = client.get("/auth/me", headers={"Authorization": f"Bearer {tokens['alice']}"})
        jwks = client.get(JWKS_PATH).json()
    return Issued(tokens["alice"], tokens["admin"], me.json()["id"], jwks)


def jwks_fetches(live: LiveServer) -> int:
    """The GETs of the JWKS in the server's access log so far."""
    return sum(
        1
        for line in live.access_log()
        if (line["method"], line["path"], line["status"]) == ("GET", JWKS_PATH, 200)
    )


def test_node_jose_verifies_through_the_live_jwks(
    live: LiveServer, issued: Issued, node_jose: NodeJose
) -> None:
    forged = issued.alice.rsplit(".", 1)[0] + "." + signature_of(issued.admin)
    before = jwks_fetches(live)
    job = {
        "issuer": live.issuer,
        "audience": AUDIENCE,
        "jwks_url": live.jwks_url,
        "cases": [
            {"name": "alice", "alg": "ES256", "token": issued.alice},
            {"name": "admin", "alg": "ES256", "token": issued.admin},
            {"name": "forged", "alg": "ES256", "token": forged},
            {"name": "other audience", "alg": "ES256", "token": issued.alice, "audience": "x"},
        ],
    }
    results = node_jose.run("verify.mjs", job)

    alice = results["alice"]
    assert alice["ok"], alice
    assert alice["header"] == header_of(issued.alice)
    assert alice["header"]["typ"] == "at+jwt"
    assert alice["header"]["kid"] in {key["kid"] for key in issued.jwks["keys"]}
    payload = alice["payload"]
    assert set(payload) >= ACCESS_CLAIMS
    assert (payload["iss"], payload["aud"], payload["sub"]) == (
        live.issuer,
        login_audiences(live.issuer),
        issued.alice_id,
    )
    assert (payload["roles"], payload["scope"]) == (["user"], "profile")
    admin = results["admin"]
    assert admin["ok"], admin
    assert (admin["payload"]["roles"], admin["payload"]["scope"]) == (
        ["admin"],
        "admin profile reports:read",
    )
    assert results["forged"]["code"] == "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
    assert results["other audience"]["code"] == "ERR_JWT_CLAIM_VALIDATION_FAILED"
    # The keys came from the live endpoint: one fetch, cached for every other case.
    assert jwks_fetches(live) == before + 1


def test_pyjwt_verifies_through_the_live_jwks(live: LiveServer, issued: Issued) -> None:
    before = jwks_fetches(live)
    client = jwt.PyJWKClient(live.jwks_url, cache_keys=True, timeout=10)
    for token, roles in ((issued.alice, ["user"]), (issued.admin, ["admin"])):
        key = client.get_signing_key_from_jwt(token)
        assert key.key_id == header_of(token)["kid"]
        decoded: dict[str, Any] = jwt.decode_complete(
            token,
            key,
            algorithms=["ES256"],
            audience=AUDIENCE,
            issuer=live.issuer,
            options={"require": REQUIRED},
        )
        assert decoded["header"]["typ"] == "at+jwt"
        assert set(decoded["payload"]) >= ACCESS_CLAIMS
        assert decoded["payload"]["roles"] == roles
    assert (
        jwt.decode(issued.alice, key, algorithms=["ES256"], audience=AUDIENCE, issuer=live.issuer)[
            "sub"
        ]
        == issued.alice_id
    )
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(issued.alice, key, algorithms=["ES256"], audience="x", issuer=live.issuer)
    forged = issued.alice.rsplit(".", 1)[0] + "." + signature_of(issued.admin)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["ES256"], audience=AUDIENCE, issuer=live.issuer)
    assert jwks_fetches(live) > before
